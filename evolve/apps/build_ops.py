"""``evolve-build-ops [--host] [--archs 8.0;9.0] [--verbose]``: compile the deformable-convolution
extension ahead of time (:mod:`evolve.ops.build`) and report where it is cached.

Exit status: 0 built, 2 no toolchain (the message says what is missing).
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from evolve.apps.runner import console_entry, run_program
from evolve.utils.errors import InputError


def build_ops_program(argv: Optional[Sequence[str]] = None) -> int:
    """Build the extension; returns the exit code."""
    from evolve.ops.build import ExtensionUnavailable, load_cuda_extension, load_host_extension, parse_arch_list

    parser = argparse.ArgumentParser(prog="evolve-build-ops", description="Compile the deformable-convolution CUDA extension (JIT cache).")
    parser.add_argument("--host", action="store_true", help="build the host test build instead of the CUDA one")
    parser.add_argument("--archs", default=None, help="CUDA architectures, e.g. '8.0;9.0' (default: visible GPUs)")
    parser.add_argument("--verbose", action="store_true", help="show compiler commands and output")
    args = parser.parse_args(argv)
    try:
        if args.host:
            module = load_host_extension(verbose=args.verbose)
        else:
            module = load_cuda_extension(verbose=args.verbose, archs=parse_arch_list(args.archs) if args.archs else None)
    except ExtensionUnavailable as e:
        raise InputError(None, f"cannot build the extension ({e})", "install ninja (pip install evolve[cuda]) and a CUDA toolkit matching torch") from e
    print(f"built {module.__name__} ({module.__file__})")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`build_ops_program` under the project's runner; returns the exit code."""
    return run_program(build_ops_program, argv)


console = console_entry(build_ops_program)

if __name__ == "__main__":
    raise SystemExit(main())
