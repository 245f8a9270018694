"""One error type for bad user input, with a message that names the file and the fix."""

from __future__ import annotations

import os


class InputError(ValueError):
    """Raised when a file or folder given by the user cannot be used.

    The message always has the form ``"<path>: <what is wrong>. Fix: <what to do>"`` so a
    user sees which file to look at and how to repair it.

    Args:
        path: the offending file or folder (str or PathLike); ``None`` when no file is involved.
        problem: what is wrong, e.g. ``"timestamps decrease at index 17"``.
        fix: what the user should do, e.g. ``"sort the events by t before saving"``.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str | None = None, fix: str | None = None) -> None:
        if problem is None and fix is None:
            # Rebuilt from its message alone (torch's DataLoader re-raises worker errors as
            # ``type(msg)``): keep the whole message.
            self.path, self.problem, self.fix = None, None, None
            super().__init__(str(path))
            return
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}. Fix: {fix}")

    def __reduce__(self):
        if self.problem is None and self.fix is None:
            return (InputError, (str(self),))
        return (InputError, (self.path, self.problem, self.fix))
