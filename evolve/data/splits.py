"""Split files and sequence folders: the one reader and the one lister every part uses.

A split file lists one sequence per line (DAVIS ``ImageSets`` style). Blank lines and ``#``
comments are skipped; lines of the original DAVIS 2016 form
``/JPEGImages/480p/<seq>/00000.jpg /Annotations/480p/<seq>/00000.png`` give ``<seq>`` (once per
sequence, however many frame lines it has).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

from evolve.utils.errors import InputError

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders ``"2" < "10"`` and ``"00002" < "00010"`` (digit runs compared as numbers)."""
    return tuple((0, int(s), s) if s.isdigit() else (1, 0, s) for s in _DIGITS.split(name) if s != "")


def read_split_file(path: str | os.PathLike) -> list[str]:
    """Sequence names of a split file, in file order (see the module docstring for the format).

    Raises:
        InputError: the file is missing, unreadable, lists no sequence (the fix says how to fill
            it), or names one sequence on two plain lines.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "split file does not exist", "create it with one sequence name per line, or pick another split")
    try:
        lines = p.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(p, f"cannot read split file ({e})", "save it as a UTF-8 text file") from e
    out: list[str] = []
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        token = line.split()[0]
        if "/" in token:  # DAVIS 2016 style: one line per frame, /JPEGImages/480p/<seq>/<frame>.jpg
            parts = [s for s in token.split("/") if s]
            token = parts[-2] if len(parts) >= 2 else parts[-1]
            if token not in out:
                out.append(token)
            continue
        if token in out:
            raise InputError(p, f"line {number} names sequence {token!r} a second time", "list every sequence once")
        out.append(token)
    if not out:
        raise InputError(
            p,
            "split file lists no sequence",
            "write one sequence name per line into it (for converted data: rerun `evolve-synthesize` with --val-fraction, "
            "or list the sequences to use), or choose another split",
        )
    return out


def write_split_file_text(names: Iterable[str]) -> str:
    """The text of a split file listing ``names`` (one per line)."""
    return "".join(f"{n}\n" for n in names)


def find_split_file(root: str | os.PathLike, split: str | os.PathLike, folders: Iterable[str] = ("", "ImageSets/2017", "ImageSets/480p")) -> Path:
    """The file of a split: ``split`` itself when it is a file, else ``<root>/<folder>/<split>.txt``
    for the first of ``folders`` that has it.

    Raises:
        InputError: no such file (the message lists where it looked).
    """
    direct = Path(split)
    if direct.is_file():
        return direct
    root = Path(root)
    candidates = [root / folder / f"{split}.txt" for folder in folders]
    for c in candidates:
        if c.is_file():
            return c
    raise InputError(root, f"no split file for split {os.fspath(split)!r} (looked for {', '.join(str(c) for c in candidates)})",
                     "give a split name that exists, a path to a list file, or no split (every sequence)")


def list_sequence_folders(folder: str | os.PathLike, what: str = "dataset folder") -> list[str]:
    """Names of the sub-folders of ``folder`` (one per sequence), naturally sorted.

    Args:
        folder: e.g. ``Annotations/480p`` or ``Lowlight_Images``.
        what: how to call the folder in messages.

    Raises:
        InputError: the folder is missing or has no sub-folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(root, f"{what} does not exist", "check the dataset root (and the layout choice)")
    names = sorted((p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=natural_key)
    if not names:
        raise InputError(root, f"{what} has no sequence sub-folders", "put one folder per sequence in it (<folder>/<sequence>/<frame>)")
    return names
