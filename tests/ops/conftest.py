"""Fixtures of the deformable-convolution tests: the compiled extensions (built once, cached)."""

from __future__ import annotations

import pytest

from evolve.ops import build


@pytest.fixture(scope="session")
def host_ext():
    """Host (CPU) build of the CUDA kernels' element code; skipped only without a C++ toolchain."""
    try:
        return build.load_host_extension()
    except build.ExtensionUnavailable as e:
        pytest.skip(f"host kernel build unavailable: {e}")


@pytest.fixture(scope="session")
def cuda_ext():
    """The CUDA extension on a machine with a GPU (GPU tests only)."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    return build.load_cuda_extension()


@pytest.fixture(autouse=True)
def _single_thread():
    """The ops tests use tiny tensors: one intra-op thread is faster and, on a shared 2-core CI
    machine, avoids OpenMP threads spinning against other jobs (gradcheck varied 0.5-13 s)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
