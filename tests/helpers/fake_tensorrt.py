"""A stand-in for the ``tensorrt`` module that records every call, for testing build decisions.

Only the API surface edgedepth uses exists, per major version: on 11 the removed precision
flags (BuilderFlag.FP16/INT8) are absent, so code that still sets them fails as on TensorRT 11.
"""
from __future__ import annotations

import ctypes
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np


class _Recorder:
    def __init__(self, calls: list, kind: str):
        object.__setattr__(self, "_calls", calls)
        object.__setattr__(self, "_kind", kind)

    def __setattr__(self, name, value):
        self._calls.append((f"{self._kind}.{name}=", value))
        object.__setattr__(self, name, value)


class FakeTensorRT:
    def __init__(self, version: str = "10.3.0", *, plan: bytes | None = b"FAKE-PLAN", parse_ok: bool = True, engine_ok: bool = True,
                 static_shape: tuple | None = None):
        self.__version__ = version
        self.static_shape = static_shape
        self.calls: list = []
        self.plan, self.parse_ok, self.engine_ok = plan, parse_ok, engine_ok
        major = int(version.split(".")[0])
        flags = ["GPU_FALLBACK", "REFIT", "VERSION_COMPATIBLE"] + (["FP16", "INT8", "BF16"] if major < 11 else [])
        self.BuilderFlag = SimpleNamespace(**{f: f for f in flags})
        self.MemoryPoolType = SimpleNamespace(WORKSPACE="WORKSPACE")
        self.DeviceType = SimpleNamespace(GPU="GPU", DLA="DLA")
        self.DataType = SimpleNamespace(FLOAT="FLOAT", HALF="HALF")
        fake = self

        class Logger:
            WARNING = "WARNING"

            def __init__(self, severity):
                fake.calls.append(("Logger", severity))

        class Cache:
            def __init__(self, data: bytes):
                self.data = bytes(data)

            def serialize(self):
                return self.data + b"|timed"

        class Config(_Recorder):
            def set_flag(self, flag):
                fake.calls.append(("set_flag", flag))

            def set_memory_pool_limit(self, pool, size):
                fake.calls.append(("set_memory_pool_limit", pool, size))

            def add_optimization_profile(self, profile):
                fake.calls.append(("add_optimization_profile", profile.shapes))

            def create_timing_cache(self, data):
                fake.calls.append(("create_timing_cache", bytes(data)))
                return Cache(data)

            def set_timing_cache(self, cache, ignore_mismatch):
                fake.calls.append(("set_timing_cache", cache.data, ignore_mismatch))
                object.__setattr__(self, "_cache", cache)

            def get_timing_cache(self):
                return self._cache

        class Profile:
            def __init__(self):
                self.shapes = {}

            def set_shape(self, name, low, opt, high):
                self.shapes[name] = (tuple(low), tuple(opt), tuple(high))

        class Builder:
            def __init__(self, logger):
                fake.calls.append(("Builder",))

            def create_network(self, *flags):
                fake.calls.append(("create_network", flags))
                return SimpleNamespace(parsed=None)

            def create_builder_config(self):
                return Config(fake.calls, "config")

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                fake.calls.append(("build_serialized_network", network.parsed))
                return fake.plan

        class OnnxParser:
            def __init__(self, network, logger):
                self.network = network
                self.num_errors = 0 if fake.parse_ok else 1

            def parse_from_file(self, path):
                assert Path(path).is_file(), path
                self.network.parsed = str(path)
                fake.calls.append(("parse_from_file", str(path)))
                return fake.parse_ok

            def get_error(self, i):
                return "In node 3 (Conv): unsupported"

        class Context:
            """Runs "depth = 10 * mean over channels" on the buffers behind the tensor addresses."""

            def __init__(self, static_shape):
                self.addresses, self.shape = {}, static_shape

            def set_tensor_address(self, name, pointer):
                self.addresses[name] = pointer

            def set_input_shape(self, name, shape):
                fake.calls.append(("set_input_shape", name, tuple(shape)))
                self.shape = tuple(shape)

            def execute_async_v3(self, stream):
                fake.calls.append(("execute_async_v3", stream))
                n, c, h, w = self.shape
                image = np.ctypeslib.as_array(ctypes.cast(self.addresses["image"], ctypes.POINTER(ctypes.c_float)), (n, c, h, w))
                depth = np.ctypeslib.as_array(ctypes.cast(self.addresses["depth"], ctypes.POINTER(ctypes.c_float)), (n, 1, h, w))
                depth[:] = 10 * image.mean(axis=1, keepdims=True)
                return True

        class Engine:
            def get_tensor_dtype(self, name):
                return "FLOAT"

            def create_execution_context(self):
                return Context(fake.static_shape)

        class Runtime:
            def __init__(self, logger):
                pass

            def deserialize_cuda_engine(self, data):
                fake.calls.append(("deserialize_cuda_engine", bytes(data)))
                return Engine() if fake.engine_ok else None

        self.Logger, self.Builder, self.OnnxParser, self.Runtime = Logger, Builder, OnnxParser, Runtime

    def called(self, name: str) -> list:
        return [c for c in self.calls if c[0] == name]

    def flags(self) -> list:
        return [c[1] for c in self.called("set_flag")]


def fake_cudart() -> ModuleType:
    """``cuda.bindings.runtime`` with host memory standing in for device memory (pointers are real
    host addresses, so copies are ctypes.memmove); returns (err, value) tuples like cuda-python."""
    ok = SimpleNamespace(value=0)
    cudart = ModuleType("cuda.bindings.runtime")
    cudart.allocations, cudart.freed, cudart.copies = {}, [], []
    cudart.cudaMemcpyKind = SimpleNamespace(cudaMemcpyHostToDevice="H2D", cudaMemcpyDeviceToHost="D2H")

    def malloc(nbytes):
        buffer = np.zeros(nbytes, np.uint8)
        cudart.allocations[buffer.ctypes.data] = buffer
        return ok, buffer.ctypes.data

    def memcpy(dst, src, nbytes, kind, stream):
        cudart.copies.append((kind, nbytes))
        ctypes.memmove(dst, src, nbytes)
        return (ok,)

    cudart.cudaMalloc = malloc
    cudart.cudaMemcpyAsync = memcpy
    cudart.cudaStreamCreate = lambda: (ok, 7)
    cudart.cudaStreamSynchronize = lambda stream: (ok,)
    cudart.cudaStreamDestroy = lambda stream: (ok,)
    cudart.cudaFree = lambda pointer: (cudart.freed.append(pointer), ok)[1:]
    return cudart
