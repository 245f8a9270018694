"""CI gate: the CUDA extension must compile wherever nvcc and a CUDA build of torch exist.

No GPU is needed. Skipped only when torch is a CPU-only build or no CUDA toolkit (nvcc) is found;
any compiler error fails the test (the message holds the compiler output). The build is cached
(evolve.ops.build.cache_root()), so reruns take seconds. Without a GPU the architectures are
evolve.ops.build.COMPILE_ONLY_ARCHS (sm_80 and sm_90: both atomic paths of the kernels).
"""

from __future__ import annotations

import pytest

from evolve.ops import build


def test_cuda_extension_compiles():
    reason = build.cuda_build_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    ext = build.load_cuda_extension()
    for fn in ("forward", "backward", "default_team_size", "cuda_runtime_version"):
        assert callable(getattr(ext, fn)), fn
    assert ext.device == "cuda"
    # host-side code of the module runs without a GPU
    assert ext.default_team_size(32) == 32 and ext.default_team_size(3) == 4
