"""Build plumbing: CUDA toolkit discovery (incl. nvcc wrapper scripts), arch flags, cache keys."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from evolve.ops import build


def fake_toolkit(root: Path, version: str = "13.0") -> Path:
    """A folder that looks like a CUDA toolkit: bin/nvcc (prints a release), include, lib64/libcudart."""
    (root / "bin").mkdir(parents=True)
    (root / "include").mkdir()
    (root / "include" / "cuda_runtime.h").write_text("// fake\n")
    (root / "lib64").mkdir()
    (root / "lib64" / "libcudart.so").write_text("")
    nvcc = root / "bin" / "nvcc"
    nvcc.write_text(f"#!/bin/sh\necho 'Cuda compilation tools, release {version}, V{version}.1'\n")
    nvcc.chmod(nvcc.stat().st_mode | stat.S_IXUSR)
    return root


def wrapper(path: Path, target: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\nexec {target} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_cuda_home_wins(tmp_path):
    root = fake_toolkit(tmp_path / "cuda-12.8", "12.8")
    tk = build.find_cuda_toolkit({"CUDA_HOME": str(root), "PATH": ""}, search_roots=[])
    assert tk == build.CudaToolkit(root, root / "bin" / "nvcc", "12.8")


def test_cuda_path_is_read_too(tmp_path):
    root = fake_toolkit(tmp_path / "tk")
    assert build.find_cuda_toolkit({"CUDA_PATH": str(root), "PATH": ""}, search_roots=[]).root == root


def test_wrong_cuda_home_is_an_error_not_ignored(tmp_path):
    with pytest.raises(build.ExtensionUnavailable, match="is not a CUDA toolkit root"):
        build.find_cuda_toolkit({"CUDA_HOME": str(tmp_path), "PATH": ""}, search_roots=[])


def test_nvcc_wrapper_script_is_followed(tmp_path):
    # like this machine: /usr/local/bin/nvcc is `exec /usr/local/cuda-13.0/bin/nvcc "$@"`,
    # so the grandparent of `which nvcc` (/usr/local) is not the toolkit root
    root = fake_toolkit(tmp_path / "cuda-13.0")
    local_bin = tmp_path / "local" / "bin"
    wrapper(local_bin / "nvcc", root / "bin" / "nvcc")
    tk = build.find_cuda_toolkit({"PATH": str(local_bin)}, search_roots=[])
    assert tk is not None and tk.root == root and tk.version == "13.0"


def test_symlinked_nvcc_is_resolved(tmp_path):
    root = fake_toolkit(tmp_path / "cuda-12.4", "12.4")
    bin_dir = tmp_path / "usr" / "bin"
    bin_dir.mkdir(parents=True)
    os.symlink(root / "bin" / "nvcc", bin_dir / "nvcc")
    tk = build.find_cuda_toolkit({"PATH": str(bin_dir)}, search_roots=[])
    assert tk is not None and tk.root == root


def test_search_roots_and_none(tmp_path):
    assert build.find_cuda_toolkit({"PATH": ""}, search_roots=[tmp_path / "nothing"]) is None
    root = fake_toolkit(tmp_path / "opt" / "cuda")
    assert build.find_cuda_toolkit({"PATH": ""}, search_roots=[tmp_path / "nothing", root]).root == root


def test_toolkit_without_cudart_is_rejected(tmp_path):
    root = fake_toolkit(tmp_path / "tk")
    (root / "lib64" / "libcudart.so").unlink()
    assert build.find_cuda_toolkit({"PATH": ""}, search_roots=[root]) is None


def test_targets_layout_is_a_toolkit(tmp_path):
    # conda-style: headers and libcudart only under targets/x86_64-linux/
    root = fake_toolkit(tmp_path / "env")
    (root / "include" / "cuda_runtime.h").unlink()
    (root / "lib64" / "libcudart.so").unlink()
    triple = root / "targets" / "x86_64-linux"
    (triple / "include").mkdir(parents=True)
    (triple / "include" / "cuda_runtime.h").write_text("")
    (triple / "lib").mkdir()
    (triple / "lib" / "libcudart.so.12").write_text("")
    assert build.find_cuda_toolkit({"PATH": ""}, search_roots=[root]).root == root


def test_arch_list_and_gencode_flags():
    assert build.cuda_arch_list({"TORCH_CUDA_ARCH_LIST": "8.0;9.0+PTX"}) == ["8.0", "9.0+PTX"]
    assert build.gencode_flags(["8.0", "9.0+PTX"]) == [
        "-gencode=arch=compute_80,code=sm_80",
        "-gencode=arch=compute_90,code=sm_90",
        "-gencode=arch=compute_90,code=compute_90",
    ]
    assert build.gencode_flags(["9.0a"]) == ["-gencode=arch=compute_90a,code=sm_90a"]
    with pytest.raises(build.ExtensionUnavailable, match="TORCH_CUDA_ARCH_LIST entry 'sm_90'"):
        build.parse_arch_list("sm_90")


def test_cache_root_precedence(tmp_path):
    assert build.cache_root({"EVOLVE_TORCH_EXTENSIONS_DIR": str(tmp_path / "x"), "XDG_CACHE_HOME": "/y"}) == tmp_path / "x"
    assert build.cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "evolve" / "torch_extensions"
    assert build.cache_root({}) == Path.home() / ".cache" / "evolve" / "torch_extensions"


def test_build_key_tracks_contents_and_parts(tmp_path):
    a = tmp_path / "a.cu"
    a.write_text("kernel v1")
    k1 = build.build_key(["torch 2.14", "9.0"], [a])
    assert k1 == build.build_key(["torch 2.14", "9.0"], [a])
    assert k1 != build.build_key(["torch 2.14", "8.0"], [a])
    a.write_text("kernel v2")
    assert k1 != build.build_key(["torch 2.14", "9.0"], [a])


def test_all_sources_exist():
    for name in (*build.CUDA_SOURCES, *build.HOST_SOURCES, *build.HEADERS):
        assert (build.CSRC / name).is_file(), name
