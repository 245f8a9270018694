"""The one runner behind every command-line program: logging, and errors mapped to exit codes.

Exit codes (every ``evolve-*`` command and ``evolve/train.py`` / ``evolve/eval_vos.py``):

==========  ===============================================================================
0           success
1           an unexpected error (a bug): the traceback is printed
2           bad input or configuration: one line ``error: <file>: <problem>. Fix: <fix>``
3           training stopped on a non-finite loss (the last checkpoint is intact)
128 + N     stopped by signal N after saving a checkpoint (130 Ctrl-C, 143 SIGTERM)
==========  ===============================================================================

The dataset checker also exits 1 when it found problems in the data (its report lists them).
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Callable, Optional, Sequence

from evolve.utils.errors import InputError
from evolve.utils.logs import setup_logging

EXIT_OK = 0
EXIT_BUG = 1
EXIT_BAD_INPUT = 2
EXIT_NON_FINITE = 3

log = logging.getLogger("evolve")

Program = Callable[[Optional[Sequence[str]]], Optional[int]]


def interrupted_exit_code(signum: Optional[int]) -> int:
    """``128 + signum`` (SIGTERM when the signal is unknown), the shell's convention."""
    return 128 + int(signum if signum is not None else signal.SIGTERM)


def run_program(program: Program, argv: Optional[Sequence[str]] = None) -> int:
    """Run ``program(argv)`` under the project's logging and exit-code rule (module docstring).

    Args:
        program: returns an exit code (None = 0) or raises.
        argv: arguments without the program name (None = ``sys.argv[1:]``).
    Returns:
        The exit code.
    """
    from evolve.training.trainer import NonFiniteLossError

    setup_logging()
    try:
        code = program(list(sys.argv[1:] if argv is None else argv))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_NON_FINITE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return interrupted_exit_code(signal.SIGINT)
    return EXIT_OK if code is None else int(code)


def console_entry(program: Program) -> Callable[[], None]:
    """A ``[project.scripts]`` entry point: ``sys.exit(run_program(program))``."""

    def entry() -> None:
        sys.exit(run_program(program))

    entry.__doc__ = program.__doc__
    return entry
