"""Build and load the deformable-convolution extensions (torch.utils.cpp_extension JIT, cached).

Two extensions are built from ``evolve/ops/csrc``:

* the CUDA extension (``deform_cuda.cpp`` + ``deform_kernels.cu``): the production kernels;
* the host test build (``deform_host.cpp``): the same per-element kernel code compiled for the
  CPU, used by the tests to check the kernels' index math without a GPU.

Builds are cached in ``$EVOLVE_TORCH_EXTENSIONS_DIR`` or ``$XDG_CACHE_HOME/evolve/torch_extensions``
(default ``~/.cache/evolve/torch_extensions``), one folder per hash of the sources, flags, torch
version, CUDA toolkit and architecture list, so a rebuild happens only when one of those changes
and different checkouts never overwrite each other's binaries. Concurrent processes (torchrun
ranks) share one build through torch's file lock.

The CUDA toolkit root is found from ``CUDA_HOME`` / ``CUDA_PATH``, then from ``nvcc`` on ``PATH``
(following symlinks and one-line wrapper scripts such as ``exec /usr/local/cuda-13.0/bin/nvcc``),
then from the usual install folders; a root must contain ``bin/nvcc``, ``include/cuda_runtime.h``
and ``libcudart`` under ``lib64``/``lib``. Architectures: ``TORCH_CUDA_ARCH_LIST`` when set, else
those of the visible GPUs, else (compile-only machines) :data:`COMPILE_ONLY_ARCHS`.

Command line (prebuild, e.g. at install time on a GPU machine)::

    evolve-build-ops            # CUDA extension for the visible GPUs
    evolve-build-ops --host     # host test build
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Iterator, Mapping, Sequence

import torch

logger = logging.getLogger(__name__)

CSRC = Path(__file__).resolve().parent / "csrc"
HEADERS = ("deform_common.h", "deform_driver.h", "deform_kernels.h")
CUDA_SOURCES = ("deform_cuda.cpp", "deform_kernels.cu")
HOST_SOURCES = ("deform_host.cpp",)
# Architectures compiled when no GPU is visible and TORCH_CUDA_ARCH_LIST is unset (CI compile
# check): Ampere (the sm_80 scalar-atomic path) and Hopper (the sm_90 float4-atomic path).
COMPILE_ONLY_ARCHS = ("8.0", "9.0")
CXX_FLAGS = ("-O3",)  # torch adds its own -std (C++20 for torch 2.14)
NVCC_FLAGS = ("-O3", "--expt-relaxed-constexpr", "-lineinfo")


class ExtensionUnavailable(RuntimeError):
    """The extension cannot be built here; ``str(error)`` says why and what to do."""


@dataclass(frozen=True)
class CudaToolkit:
    """A CUDA toolkit install.

    Attributes:
        root: the folder holding ``bin/nvcc``, ``include/`` and ``lib64``/``lib``.
        nvcc: path of the real nvcc binary.
        version: ``"13.0"`` style release from ``nvcc --version`` (None if unparsable).
    """

    root: Path
    nvcc: Path
    version: str | None


def _is_toolkit_root(root: Path) -> bool:
    """True if ``root`` has bin/nvcc, include/cuda_runtime.h and a libcudart under lib64/lib
    (or both under targets/<triple>/)."""
    nvcc = root / "bin" / "nvcc"
    if not (nvcc.is_file() and os.access(nvcc, os.X_OK)):
        return False
    # headers and libraries sit in include/ and lib64|lib, or (conda, cross layouts) in targets/<triple>/
    targets = sorted((root / "targets").glob("*")) if (root / "targets").is_dir() else []
    if not any((d / "include" / "cuda_runtime.h").is_file() for d in [root, *targets]):
        return False
    lib_dirs = [root / "lib64", root / "lib", *(t / "lib" for t in targets)]
    return any(d.is_dir() and any(d.glob("libcudart*")) for d in lib_dirs)


def _wrapper_target(script: Path) -> Path | None:
    """The absolute ``.../bin/nvcc`` a small shell wrapper script executes, if any."""
    try:
        if script.stat().st_size > 64 * 1024:
            return None
        with open(script, "rb") as f:
            head = f.read(2)
            if head != b"#!":
                return None
            text = (head + f.read()).decode("utf-8", errors="replace")
    except OSError:
        return None
    for match in re.finditer(r"(/[^\s\"';]*?/bin/nvcc)(?=[\s\"';]|$)", text):
        target = Path(match.group(1))
        if target.resolve() != script.resolve() and target.is_file():
            return target
    return None


def _version_key(path: Path) -> tuple[int, ...]:
    nums = re.findall(r"\d+", path.name)
    return tuple(int(v) for v in nums) if nums else (-1,)


def nvcc_version(nvcc: Path) -> str | None:
    """Release (``"13.0"``) reported by ``nvcc --version``; None when it cannot be run or parsed."""
    try:
        text = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"release (\d+\.\d+)", text)
    return match.group(1) if match else None


def find_cuda_toolkit(
    environ: Mapping[str, str] | None = None,
    search_roots: Sequence[Path] | None = None,
) -> CudaToolkit | None:
    """Locate the CUDA toolkit root.

    Order: ``CUDA_HOME``, ``CUDA_PATH``; ``nvcc`` on ``PATH`` (symlinks resolved, wrapper scripts
    followed: ``which nvcc``'s parent is not always the root); then ``search_roots`` (default
    ``/usr/local/cuda``, ``/usr/local/cuda-*`` newest first, ``/opt/cuda``).

    Args:
        environ: environment to read (default ``os.environ``).
        search_roots: fallback folders to try, in order.

    Returns:
        The toolkit, or None when none is found.

    Raises:
        ExtensionUnavailable: ``CUDA_HOME``/``CUDA_PATH`` is set but is not a toolkit root
            (an explicit setting that is wrong should not be silently ignored).
    """
    env = os.environ if environ is None else environ
    for var in ("CUDA_HOME", "CUDA_PATH"):
        value = env.get(var)
        if value:
            root = Path(value)
            if _is_toolkit_root(root):
                return CudaToolkit(root, root / "bin" / "nvcc", nvcc_version(root / "bin" / "nvcc"))
            raise ExtensionUnavailable(
                f"{var}={value} is not a CUDA toolkit root (needs bin/nvcc, include/cuda_runtime.h and "
                f"lib64/libcudart.so); point {var} at the folder that contains bin/nvcc, or unset it")
    candidates: list[Path] = []
    on_path = shutil.which("nvcc", path=env.get("PATH", os.defpath))
    if on_path:
        found = Path(on_path)
        real = found.resolve()
        candidates.append(real.parent.parent)
        target = _wrapper_target(real)
        if target is not None:
            candidates.append(target.resolve().parent.parent)
            candidates.append(target.parent.parent)
        candidates.append(found.parent.parent)
    if search_roots is None:
        local = sorted(Path("/usr/local").glob("cuda-*"), key=_version_key, reverse=True)
        search_roots = [Path("/usr/local/cuda"), *local, Path("/opt/cuda")]
    candidates.extend(search_roots)
    seen: set[Path] = set()
    for root in candidates:
        if root in seen:
            continue
        seen.add(root)
        if _is_toolkit_root(root):
            return CudaToolkit(root, root / "bin" / "nvcc", nvcc_version(root / "bin" / "nvcc"))
    return None


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """Folder holding the cached builds (see the module docstring for the variables read)."""
    env = os.environ if environ is None else environ
    if env.get("EVOLVE_TORCH_EXTENSIONS_DIR"):
        return Path(env["EVOLVE_TORCH_EXTENSIONS_DIR"]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "evolve" / "torch_extensions"


def parse_arch_list(text: str) -> list[str]:
    """``"8.0;9.0+PTX"`` or ``"8.0 9.0"`` -> ``["8.0", "9.0+PTX"]``.

    Raises:
        ExtensionUnavailable: an entry is not ``major.minor[a][+PTX]``.
    """
    archs = [a for a in re.split(r"[;\s,]+", text.strip()) if a]
    for a in archs:
        if not re.fullmatch(r"\d+\.\d+a?(\+PTX)?", a):
            raise ExtensionUnavailable(
                f"TORCH_CUDA_ARCH_LIST entry {a!r} is not like '9.0' or '8.0+PTX'; fix TORCH_CUDA_ARCH_LIST")
    return archs


def cuda_arch_list(environ: Mapping[str, str] | None = None) -> list[str]:
    """Architectures to compile: ``TORCH_CUDA_ARCH_LIST``, else the visible GPUs', else
    :data:`COMPILE_ONLY_ARCHS` (machines without a GPU only compile-check the kernels)."""
    env = os.environ if environ is None else environ
    text = env.get("TORCH_CUDA_ARCH_LIST", "")
    if text and text.strip() != "native":
        return parse_arch_list(text)
    if torch.cuda.is_available():
        caps = {torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())}
        return [f"{major}.{minor}" for major, minor in sorted(caps)]
    return list(COMPILE_ONLY_ARCHS)


def gencode_flags(archs: Sequence[str]) -> list[str]:
    """nvcc ``-gencode`` flags: ``"9.0"`` -> sm_90 SASS; ``"9.0+PTX"`` adds compute_90 PTX."""
    flags = []
    for arch in archs:
        num = arch.replace("+PTX", "").replace(".", "")
        flags.append(f"-gencode=arch=compute_{num},code=sm_{num}")
        if arch.endswith("+PTX"):
            flags.append(f"-gencode=arch=compute_{num},code=compute_{num}")
    return flags


def source_paths(names: Sequence[str]) -> list[Path]:
    """Absolute paths of csrc files."""
    return [CSRC / n for n in names]


def build_key(parts: Sequence[str], files: Sequence[Path]) -> str:
    """Hex hash of the build inputs: file names and contents plus the given strings."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    for path in sorted(files, key=lambda p: p.name):
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _base_parts() -> list[str]:
    return [torch.__version__, str(torch.version.cuda), sys.implementation.cache_tag or "", platform.machine(),
            str(torch._C._GLIBCXX_USE_CXX11_ABI)]


@contextlib.contextmanager
def _cuda_home(root: Path) -> Iterator[None]:
    """Point torch.utils.cpp_extension at ``root`` for the duration of a build.

    torch resolves its CUDA_HOME once at import, from ``which nvcc``'s grandparent, which is
    wrong when nvcc on PATH is a wrapper script; the build functions read the module global.
    """
    from torch.utils import cpp_extension

    old = cpp_extension.CUDA_HOME
    cpp_extension.CUDA_HOME = str(root)
    try:
        yield
    finally:
        cpp_extension.CUDA_HOME = old


def cuda_build_skip_reason(environ: Mapping[str, str] | None = None) -> str | None:
    """Why the CUDA extension cannot even be attempted here: torch is a CPU-only build or no nvcc
    is found. None when both are present (a build may still fail: that is a real error)."""
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build (torch.version.cuda is None)"
    try:
        toolkit = find_cuda_toolkit(environ)
    except ExtensionUnavailable as e:
        return str(e)
    if toolkit is None:
        return ("no CUDA toolkit found (no usable nvcc: set CUDA_HOME to the folder containing bin/nvcc, "
                "include/ and lib64/)")
    return None


_LOADED: dict[str, ModuleType] = {}


def _check_compilers(cuda: bool) -> None:
    from torch.utils import cpp_extension

    if not cpp_extension.is_ninja_available():
        raise ExtensionUnavailable("ninja is not installed; `pip install ninja` (the [cuda] extra)")
    cxx = os.environ.get("CXX", "c++")
    if shutil.which(cxx) is None:
        raise ExtensionUnavailable(f"no C++ compiler ({cxx!r} not on PATH); install g++ or set CXX")


def _toolkit_include_dirs(toolkit: CudaToolkit) -> list[str]:
    """targets/<triple>/include folders (conda layouts): torch only adds <root>/include."""
    targets = toolkit.root / "targets"
    return [str(d) for d in sorted(targets.glob("*/include")) if d.is_dir()] if targets.is_dir() else []


def _load(name_prefix: str, sources: Sequence[str], parts: list[str], verbose: bool, *, cuda: bool,
          toolkit: CudaToolkit | None, extra_cuda_cflags: Sequence[str] = ()) -> ModuleType:
    from torch.utils import cpp_extension

    files = source_paths([*sources, *HEADERS])
    key = build_key([name_prefix, *parts, *CXX_FLAGS, *extra_cuda_cflags], files)
    name = f"{name_prefix}_{key}"
    if name in _LOADED:
        return _LOADED[name]
    _check_compilers(cuda)
    build_dir = cache_root() / name
    build_dir.mkdir(parents=True, exist_ok=True)
    if not (build_dir / f"{name}.so").exists():
        logger.info("evolve.ops: compiling %s (one time, about a minute; cached in %s)", name_prefix, build_dir)
    ctx = _cuda_home(toolkit.root) if (cuda and toolkit is not None) else contextlib.nullcontext()
    with ctx:
        module = cpp_extension.load(
            name=name,
            sources=[str(p) for p in source_paths(sources)],
            extra_cflags=list(CXX_FLAGS),
            extra_cuda_cflags=list(extra_cuda_cflags),
            extra_include_paths=[str(CSRC), *(_toolkit_include_dirs(toolkit) if (cuda and toolkit) else [])],
            build_directory=str(build_dir),
            verbose=verbose,
            with_cuda=cuda,
        )
    _LOADED[name] = module
    return module


def load_cuda_extension(verbose: bool = False, archs: Sequence[str] | None = None) -> ModuleType:
    """Compile (first use) and import the CUDA extension.

    Args:
        verbose: print the compiler commands and output.
        archs: architectures to compile (default :func:`cuda_arch_list`).

    Returns:
        The module (``forward``, ``backward``, ``default_team_size``, ``cuda_runtime_version``).

    Raises:
        ExtensionUnavailable: CPU-only torch, no CUDA toolkit, a toolkit whose major version
            differs from torch's, no ninja or no C++ compiler -- with the fix in the message.
        RuntimeError: the compiler failed (the message holds its output).
    """
    skip = cuda_build_skip_reason()
    if skip is not None:
        raise ExtensionUnavailable(skip)
    toolkit = find_cuda_toolkit()
    assert toolkit is not None
    if toolkit.version and torch.version.cuda and toolkit.version.split(".")[0] != torch.version.cuda.split(".")[0]:
        raise ExtensionUnavailable(
            f"CUDA toolkit {toolkit.version} at {toolkit.root} does not match torch's CUDA {torch.version.cuda} "
            f"(major versions must agree); set CUDA_HOME to a CUDA {torch.version.cuda.split('.')[0]}.x toolkit")
    arch_list = list(archs) if archs is not None else cuda_arch_list()
    flags = [*NVCC_FLAGS, *gencode_flags(arch_list)]
    parts = [*_base_parts(), str(toolkit.root), str(toolkit.version)]
    return _load("evolve_deform_cuda", CUDA_SOURCES, parts, verbose, cuda=True, toolkit=toolkit,
                 extra_cuda_cflags=flags)


def load_host_extension(verbose: bool = False) -> ModuleType:
    """Compile (first use) and import the host test build of the kernel code.

    Raises:
        ExtensionUnavailable: no ninja or no C++ compiler.
        RuntimeError: the compiler failed.
    """
    return _load("evolve_deform_host", HOST_SOURCES, _base_parts(), verbose, cuda=False, toolkit=None)
