"""Backend selection of evolve.ops.deform_conv2d: what "auto" picks, the one-line fallback when
the CUDA extension cannot be built, reduced precision and autocast handling."""

from __future__ import annotations

import logging

import pytest
import torch

from evolve.ops import build, deform, deform_conv2d, deform_conv2d_reference, resolve_backend
from tests.ops.helpers import Case, compare, detached_copy, make_inputs, run


def backend_fn(backend):
    def fn(input, offset, weight, bias, stride, padding, dilation, mask):
        return deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask, backend=backend)

    return fn


def test_auto_on_cpu_uses_the_reference():
    # the reference's CPU forward+backward is several times faster than torchvision's (bench_deform.py --device cpu)
    assert resolve_backend("auto", torch.device("cpu")) == "reference"
    assert resolve_backend("reference", torch.device("cpu")) == "reference"


def torchvision_direct(input, offset, weight, bias, stride, padding, dilation, mask):
    """torchvision's kernel called directly, bypassing evolve's dispatcher."""
    import torchvision

    return torchvision.ops.deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask)


@pytest.mark.parametrize("backend, oracle", [("auto", torchvision_direct), ("reference", torchvision_direct),
                                             ("torchvision", deform_conv2d_reference)])
def test_cpu_backends_agree_with_an_independent_implementation(backend, oracle, monkeypatch):
    # Each entry point is checked against the OTHER implementation (output and every gradient),
    # and the dispatcher is checked to have run the backend it names.
    case = Case(n=2, c=6, h=6, w=7, cout=4, groups=2, offset_groups=3, mask=True, stride=(2, 1))
    used = []
    real = deform.resolve_backend
    monkeypatch.setattr(deform, "resolve_backend", lambda b, d: used.append(real(b, d)) or used[-1])
    got = run(backend_fn(backend), case, make_inputs(case, torch.float64, seed=21))
    want = run(oracle, case, make_inputs(case, torch.float64, seed=21))
    compare(got, want, 1e-10)
    assert used and set(used) == {"reference" if backend == "auto" else backend}


@pytest.fixture
def fresh_cuda_state(monkeypatch):
    monkeypatch.setattr(deform, "_cuda_state", {})
    return deform._cuda_state


def test_auto_falls_back_with_one_log_line(monkeypatch, caplog, fresh_cuda_state):
    calls = []

    def no_toolkit(*a, **k):
        calls.append(1)
        raise build.ExtensionUnavailable("no CUDA toolkit found (set CUDA_HOME)")

    monkeypatch.setattr(build, "load_cuda_extension", no_toolkit)
    with caplog.at_level(logging.WARNING, logger="evolve.ops.deform"):
        first = resolve_backend("auto", torch.device("cuda"))
        second = resolve_backend("auto", torch.device("cuda"))
    assert first == second == "torchvision"
    assert len(calls) == 1  # the failure is remembered, not retried per call
    records = [r for r in caplog.records if r.name == "evolve.ops.deform"]
    assert len(records) == 1
    assert "no CUDA toolkit found" in records[0].getMessage() and "using torchvision" in records[0].getMessage()
    assert deform.cuda_extension_error() == "no CUDA toolkit found (set CUDA_HOME)"


def test_auto_falls_back_to_reference_without_torchvision(monkeypatch, fresh_cuda_state):
    monkeypatch.setattr(build, "load_cuda_extension",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("Error building extension")))
    monkeypatch.setattr(deform, "_torchvision_available", lambda: False)
    assert resolve_backend("auto", torch.device("cuda")) == "reference"
    assert resolve_backend("auto", torch.device("cpu")) == "reference"


def test_explicit_cuda_backend_reports_the_build_problem(monkeypatch, fresh_cuda_state):
    def no_toolkit(*a, **k):
        raise build.ExtensionUnavailable("torch is a CPU-only build")

    monkeypatch.setattr(build, "load_cuda_extension", no_toolkit)
    with pytest.raises(build.ExtensionUnavailable, match="CPU-only"):
        resolve_backend("cuda", torch.device("cuda"))


@pytest.mark.parametrize("backend", ["torchvision", "reference", "auto"])
def test_bfloat16_on_cpu_computes_in_float32(backend):
    case = Case(n=1, c=4, h=5, w=5, cout=3, mask=True)
    low = make_inputs(case, torch.bfloat16, seed=22, quantize_offsets=True)
    got = run(backend_fn(backend), case, low)
    assert got["output"].dtype == torch.bfloat16 and got["offset"].dtype == torch.bfloat16
    want = run(deform_conv2d_reference, case, detached_copy(low, dtype=torch.float64))
    compare(got, want, 2e-2)


def test_reference_under_cpu_autocast_returns_float32():
    case = Case(n=1, c=4, h=5, w=5, cout=3)
    inp = make_inputs(case, torch.float32, seed=23)
    x = inp["input"].detach().to(torch.bfloat16)  # mixed dtypes are fine under autocast
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = deform_conv2d(x, inp["offset"], inp["weight"], inp["bias"], padding=1, backend="reference")
    assert out.dtype == torch.float32
    want = deform_conv2d_reference(x.float(), inp["offset"], inp["weight"], inp["bias"], padding=1)
    torch.testing.assert_close(out, want, rtol=1e-6, atol=1e-6)
