"""--backend auto and the openvino row: what it ranks where (the numbers behind the scores are in
benchmarks/results/openvino_bench.md)."""
import pytest

from edgedepth.backends import BACKENDS, choose_backend, load_backend, rank_backends

openvino_backend = load_backend("openvino")
AVX2_EPYC = {"gpu": None, "cpu": "AMD EPYC", "cpu_vendor": "amd", "cpu_features": ["avx2"]}
VNNI_XEON = {"gpu": None, "cpu": "Intel Xeon Gold 6248", "cpu_vendor": "intel", "cpu_features": ["avx2", "avx512f", "avx512_vnni"]}
AMX_XEON = {"gpu": None, "cpu": "Intel Xeon", "cpu_vendor": "intel",
            "cpu_features": ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"]}
ARM = {"gpu": None, "cpu": "Cortex-A78AE", "cpu_vendor": "arm", "cpu_features": []}
H100 = {**AMX_XEON, "gpu": {"name": "H100", "compute_capability": "9.0"}}


@pytest.fixture
def installed(monkeypatch):
    monkeypatch.setattr(openvino_backend, "_installed", lambda: object())


def test_row_opens_onnx_after_onnxruntime_and_builds_bf16():
    row = BACKENDS["openvino"]
    assert row.opens == (".onnx",) and row.precisions == ("fp32", "int8", "bf16") and row.options == ()
    assert list(BACKENDS).index("onnxruntime") < list(BACKENDS).index("openvino")  # a plain .onnx still opens in ONNX Runtime


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_ahead_of_onnxruntime_with_vnni_or_amx_behind_it_elsewhere(installed, precision):
    for machine, ahead in ((VNNI_XEON, True), (AMX_XEON, True), (AVX2_EPYC, False), (ARM, False)):
        scores = rank_backends(precision, machine=machine, candidates=("onnxruntime", "openvino"))
        assert (scores["openvino"] > scores["onnxruntime"]) is ahead, machine["cpu"]


def test_bf16_only_with_bf16_instructions(installed):
    assert openvino_backend.suitability(AVX2_EPYC, "bf16") is None
    assert choose_backend("bf16", machine=AMX_XEON) == "openvino"
    assert rank_backends("bf16", machine=AMX_XEON) == {"openvino": openvino_backend.suitability(AMX_XEON, "bf16")}


def test_never_ahead_of_gpu_backends(installed, monkeypatch):
    monkeypatch.setattr(load_backend("torch"), "_cuda_torch", lambda: True)
    scores = rank_backends("fp32", machine=H100, candidates=("openvino", "torch"))
    assert scores["torch"] > scores["openvino"]


def test_not_installed_is_not_ranked(monkeypatch):
    monkeypatch.setattr(openvino_backend, "_installed", lambda: None)
    assert openvino_backend.suitability(AMX_XEON, "int8") is None
    assert "openvino" not in rank_backends("int8", machine=AMX_XEON)
