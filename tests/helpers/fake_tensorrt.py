"""A stand-in for the ``tensorrt`` module that records every call and refuses what TensorRT lacks.

Every module name, class member and method signature is checked against NVIDIA's type stubs of
TensorRT 10.13 (helpers.tensorrt_stubs): reading or calling a member the stubs do not declare raises
AttributeError, writing one that is not a writable field raises AttributeError, and a call whose
arguments no stub signature of that method takes raises TypeError. On 11.x the members TensorRT 11
removed are gone too (BuilderFlag.FP16/INT8 …), so code that still uses them fails as it would there.

The engine runs "depth = 10 * mean over channels" on the host buffers behind the tensor addresses,
and fails (returns False, as TensorRT does) unless every I/O tensor it declares has an address.
"""
from __future__ import annotations

import ctypes
import functools
import inspect
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, Callable

import numpy as np

from helpers.tensorrt_stubs import load_api

API = load_api()
# Removed in TensorRT 11 (NVIDIA, "Removed Python APIs and Replacements", migration guide 10.x -> 11.x;
# EXPLICIT_BATCH and platform_has_* are absent from the 11.0 Python API's Builder page).
REMOVED_IN_11 = {
    "BuilderFlag": {"FP16", "BF16", "INT8", "FP8", "INT4", "FP4", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS", "DIRECT_IO"},
    "IBuilderConfig": {"int8_calibrator", "set_calibration_profile", "get_calibration_profile", "set_quantization_flag",
                       "get_quantization_flag", "clear_quantization_flag", "quantization_flags"},
    "Builder": {"platform_has_fast_fp16", "platform_has_fast_int8", "platform_has_tf32"},
    "NetworkDefinitionCreationFlag": {"EXPLICIT_BATCH"},
    "ICudaEngine": {"device_memory_size"},
}
# The fake's own API for tests, outside TensorRT's names (test_fake_tensorrt checks they do not collide).
RECORDING = ("calls", "called", "flags")
ITEMSIZE = {"FLOAT": 4, "HALF": 2, "BF16": 2, "INT8": 1, "UINT8": 1, "BOOL": 1, "INT32": 4, "INT64": 8}
IMAGE, DEPTH = "image", "depth"


def _signature(params: list[str]) -> inspect.Signature:
    kind, out = inspect.Parameter.POSITIONAL_OR_KEYWORD, [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for param in params:
        if param.startswith("**"):
            out.append(inspect.Parameter(param[2:], inspect.Parameter.VAR_KEYWORD))
        elif param.startswith("*"):
            out.append(inspect.Parameter(param[1:], inspect.Parameter.VAR_POSITIONAL))
            kind = inspect.Parameter.KEYWORD_ONLY
        else:
            default = None if param.endswith("=") else inspect.Parameter.empty
            out.append(inspect.Parameter(param.rstrip("="), kind, default=default))
    return inspect.Signature(out)


@functools.lru_cache(maxsize=None)
def _spec(name: str, major: int) -> "Spec":
    return Spec(name, major)


class Spec:
    """What the stubs declare for one class, less what TensorRT ``major`` removed."""

    def __init__(self, name: str, major: int):
        api, removed = API["classes"][name], REMOVED_IN_11.get(name, set()) if major >= 11 else set()
        self.name, self.major = name, major
        self.fields = set(api["fields"]) - removed
        self.readonly = set(api["readonly"]) - removed
        self.constants = {k: v for k, v in api["constants"].items() if k not in removed}
        self.methods = {k: [_signature(p) for p in sigs] for k, sigs in api["methods"].items() if k not in removed}

    def check_call(self, method: str, args: tuple, kwargs: dict) -> None:
        for signature in self.methods[method]:
            try:
                signature.bind(None, *args, **kwargs)
                return
            except TypeError:
                continue
        declared = " | ".join(str(s).replace("(self, ", "(").replace("(self)", "()") for s in self.methods[method])
        raise TypeError(f"tensorrt {self.major}.x {self.name}.{method}() takes {declared}, not args={args!r} kwargs={kwargs!r}")


class Member(str):
    """An enum member: compares and prints as its name (what the tests record), int() is its stub value."""

    def __new__(cls, name: str, value: int | None):
        member = super().__new__(cls, name)
        member.value = value
        member.itemsize = ITEMSIZE.get(name)
        return member

    def __int__(self) -> int:
        return self.value


class Strict:
    """A fake TensorRT object with only the members its stub class declares; writes of fields are recorded."""

    _spec: Spec
    _calls: list

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_"):
            return object.__getattribute__(self, name)
        spec = object.__getattribute__(self, "_spec")
        if name not in spec.methods and name not in spec.fields | spec.readonly and name not in spec.constants:
            raise AttributeError(f"tensorrt {spec.major}.x {spec.name} has no attribute '{name}' (not in the TensorRT stubs)")
        try:
            value = object.__getattribute__(self, name)
        except AttributeError:
            raise NotImplementedError(f"the fake does not model {spec.name}.{name}; add it to helpers/fake_tensorrt.py") from None
        return _checked(spec, name, value) if name in spec.methods else value

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):
            spec = self._spec
            if name not in spec.fields:
                what = "is read-only" if name in spec.readonly | set(spec.methods) else "does not exist (not in the TensorRT stubs)"
                raise AttributeError(f"tensorrt {spec.major}.x {spec.name}.{name} {what}")
            self._calls.append((f"{spec.name}.{name}=", value))
        object.__setattr__(self, name, value)


def _checked(spec: Spec, name: str, method: Callable) -> Callable:
    def call(*args, **kwargs):
        spec.check_call(name, args, kwargs)
        return method(*args, **kwargs)

    return call


class StrictClass:
    """A TensorRT class as the module exposes it: its constants (enum members, Logger.WARNING), and a
    constructor whose arguments are checked against the stubs' ``__init__``."""

    def __init__(self, spec: Spec, make: Callable[..., Strict] | None = None):
        self._spec, self._make = spec, make
        self._members = {name: Member(name, value) for name, value in spec.constants.items()}

    def __getattr__(self, name: str) -> Any:
        if name in self._members:
            return self._members[name]
        raise AttributeError(f"tensorrt {self._spec.major}.x {self._spec.name} has no attribute '{name}' (not in the TensorRT stubs)")

    def __call__(self, *args, **kwargs) -> Any:
        self._spec.check_call("__init__", args, kwargs)
        if self._make is None:
            raise NotImplementedError(f"the fake does not construct {self._spec.name}")
        return self._make(*args, **kwargs)


class FakeTensorRT:
    """The ``tensorrt`` module of version ``version``. ``io`` lists the engine's tensors as
    (name, "INPUT"|"OUTPUT", data type name, shape with -1 for the dynamic batch); ``static_shape`` is the
    input shape of a fixed-batch engine. ``plan``, ``parse_ok``, ``engine_ok``, ``execute_ok`` make the
    build, parse, deserialisation or execution fail."""

    def __init__(self, version: str = "10.3.0", *, plan: bytes | None = b"FAKE-PLAN", parse_ok: bool = True, engine_ok: bool = True,
                 execute_ok: bool = True, static_shape: tuple | None = None, io: list | None = None):
        self.__version__ = version
        self.calls: list = []
        self._major = int(version.split(".")[0])
        self._plan, self._parse_ok, self._engine_ok, self._execute_ok = plan, parse_ok, engine_ok, execute_ok
        self._io = io or [(IMAGE, "INPUT", "FLOAT", (-1, 3, 32, 64)), (DEPTH, "OUTPUT", "FLOAT", (-1, 1, 32, 64))]
        self._static_shape = static_shape
        for enum in ("BuilderFlag", "DataType", "DeviceType", "MemoryPoolType", "NetworkDefinitionCreationFlag", "TensorIOMode"):
            setattr(self, enum, StrictClass(self._spec(enum)))
        makers = {"Logger": _make_logger, "Builder": _make_builder, "OnnxParser": _make_parser, "Runtime": _make_runtime}
        for name, make in makers.items():
            setattr(self, name, StrictClass(self._spec(name), lambda *args, _make=make, **kwargs: _make(self, *args, **kwargs)))
        self.Dims = StrictClass(self._spec("Dims"), lambda shape=(): tuple(shape))

    def _spec(self, name: str) -> Spec:
        return _spec(name, self._major)

    def _new(self, cls: type, name: str, **state) -> Strict:
        obj = object.__new__(cls)
        object.__setattr__(obj, "_spec", self._spec(name))
        object.__setattr__(obj, "_calls", self.calls)
        object.__setattr__(obj, "_fake", self)
        for key, value in state.items():
            object.__setattr__(obj, key, value)
        return obj

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_") or name in RECORDING:
            return object.__getattribute__(self, name)
        if name not in API["module"]:
            raise AttributeError(f"module 'tensorrt' has no attribute '{name}' (not in the TensorRT stubs)")
        try:
            return object.__getattribute__(self, name)
        except AttributeError:
            raise NotImplementedError(f"the fake does not model tensorrt.{name}; add it to helpers/fake_tensorrt.py") from None

    def called(self, name: str) -> list:
        return [c for c in self.calls if c[0] == name]

    def flags(self) -> list:
        return [c[1] for c in self.called("set_flag")]


def _make_logger(fake: FakeTensorRT, min_severity=None) -> Strict:
    fake.calls.append(("Logger", min_severity))
    return fake._new(_Object, "Logger", min_severity=min_severity)


def _make_builder(fake: FakeTensorRT, logger) -> Strict:
    fake.calls.append(("Builder",))
    return fake._new(_BuilderObject, "Builder")


def _make_parser(fake: FakeTensorRT, network, logger) -> Strict:
    return fake._new(_Parser, "OnnxParser", _network=network)


def _make_runtime(fake: FakeTensorRT, logger) -> Strict:
    return fake._new(_RuntimeObject, "Runtime")


class _Object(Strict):
    _fake: FakeTensorRT


class _BuilderObject(_Object):
    def create_network(self, flags=0):
        self._fake.calls.append(("create_network", flags))
        return self._fake._new(_Object, "INetworkDefinition", _parsed=None)

    def create_builder_config(self):
        return self._fake._new(_Config, "IBuilderConfig", _cache=None)

    def create_optimization_profile(self):
        return self._fake._new(_Profile, "IOptimizationProfile", _shapes={})

    def build_serialized_network(self, network, config):
        self._fake.calls.append(("build_serialized_network", network._parsed))
        return self._fake._plan


class _Parser(_Object):
    @property
    def num_errors(self):
        return 0 if self._fake._parse_ok else 1

    def parse_from_file(self, model):
        assert Path(model).is_file(), model
        object.__setattr__(self._network, "_parsed", str(model))
        self._fake.calls.append(("parse_from_file", str(model)))
        return self._fake._parse_ok

    def get_error(self, index):
        return "In node 3 (Conv): unsupported"


class _Config(_Object):
    def set_flag(self, flag):
        self._fake.calls.append(("set_flag", flag))

    def set_memory_pool_limit(self, pool, pool_size):
        self._fake.calls.append(("set_memory_pool_limit", pool, pool_size))

    def add_optimization_profile(self, profile):
        self._fake.calls.append(("add_optimization_profile", profile._shapes))
        return 0

    def create_timing_cache(self, serialized_timing_cache):
        self._fake.calls.append(("create_timing_cache", bytes(serialized_timing_cache)))
        return self._fake._new(_Cache, "ITimingCache", _data=bytes(serialized_timing_cache))

    def set_timing_cache(self, cache, ignore_mismatch):
        self._fake.calls.append(("set_timing_cache", cache._data, ignore_mismatch))
        object.__setattr__(self, "_cache", cache)
        return True

    def get_timing_cache(self):
        return self._cache


class _Cache(_Object):
    def serialize(self):
        return self._data + b"|timed"


class _Profile(_Object):
    def set_shape(self, input, min, opt, max):
        self._shapes[input] = (tuple(min), tuple(opt), tuple(max))


class _RuntimeObject(_Object):
    def deserialize_cuda_engine(self, serialized_engine):
        self._fake.calls.append(("deserialize_cuda_engine", bytes(serialized_engine)))
        return self._fake._new(_Engine, "ICudaEngine") if self._fake._engine_ok else None


class _Engine(_Object):
    def _tensor(self, name: str) -> tuple:
        return next(t for t in self._fake._io if t[0] == name)

    def _static_batch(self) -> int:
        return self._fake._static_shape[0] if self._fake._static_shape else -1

    @property
    def num_io_tensors(self):
        return len(self._fake._io)

    def get_tensor_name(self, index):
        return self._fake._io[index][0]

    def get_tensor_mode(self, name):
        return getattr(self._fake.TensorIOMode, self._tensor(name)[1])

    def get_tensor_dtype(self, name):
        return getattr(self._fake.DataType, self._tensor(name)[2])

    def get_tensor_shape(self, name):
        return tuple(self._static_batch() if d == -1 else d for d in self._tensor(name)[3])

    def create_execution_context(self, strategy=None):
        batch = self._static_batch()
        return self._fake._new(_Context, "IExecutionContext", _engine=self, _batch=batch, _addresses={})


class _Context(_Object):
    """Runs "depth = 10 * mean over channels" on the buffers behind the tensor addresses."""

    def set_tensor_address(self, name, memory):
        self._addresses[name] = memory
        return True

    def set_input_shape(self, name, shape):
        self._fake.calls.append(("set_input_shape", name, tuple(shape)))
        object.__setattr__(self, "_batch", tuple(shape)[0])
        return True

    def get_tensor_shape(self, name):
        return tuple(self._batch if d == -1 else d for d in self._engine._tensor(name)[3])

    def _array(self, name: str) -> np.ndarray:
        pointer = ctypes.cast(self._addresses[name], ctypes.POINTER(ctypes.c_float))
        return np.ctypeslib.as_array(pointer, self.get_tensor_shape(name))

    def execute_async_v3(self, stream_handle):
        self._fake.calls.append(("execute_async_v3", stream_handle))
        if not self._fake._execute_ok or any(t[0] not in self._addresses for t in self._fake._io):
            return False  # TensorRT logs the unset address and returns False
        self._array(DEPTH)[:] = 10 * self._array(IMAGE).mean(axis=1, keepdims=True)
        return True


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
