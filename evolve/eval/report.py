"""Writing and printing J&F results in the official DAVIS 2017 layout.

``global_results.csv``: one row with the columns :data:`GLOBAL_COLUMNS`.
``per-sequence_results.csv``: columns :data:`PER_SEQUENCE_COLUMNS`, one row per object
named ``<sequence>_<object id>``. Numbers are written with three decimals (``%.3f``), as the
official ``evaluation_method.py`` does.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from evolve.eval.results import GLOBAL_COLUMNS, PER_SEQUENCE_COLUMNS, EvaluationResult
from evolve.utils.atomic import atomic_path

GLOBAL_CSV = "global_results.csv"
PER_SEQUENCE_CSV = "per-sequence_results.csv"
FLOAT_FORMAT = "%.3f"


def global_csv_text(result: EvaluationResult, float_format: str = FLOAT_FORMAT) -> str:
    """The content of ``global_results.csv``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(GLOBAL_COLUMNS)
    w.writerow([float_format % v for v in result.global_row().values()])
    return buf.getvalue()


def per_sequence_csv_text(result: EvaluationResult, float_format: str = FLOAT_FORMAT) -> str:
    """The content of ``per-sequence_results.csv``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(PER_SEQUENCE_COLUMNS)
    for name, j_mean, f_mean in result.per_sequence_rows():
        w.writerow([name, float_format % j_mean, float_format % f_mean])
    return buf.getvalue()


def write_csvs(result: EvaluationResult, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write both CSVs into ``out_dir``; both appear together or neither does.

    Both are written to temporary names first and renamed only when both were written
    (``evolve.utils.atomic``).

    Returns:
        ``(global_csv_path, per_sequence_csv_path)``.
    """
    out = Path(out_dir)
    g_path, s_path = out / GLOBAL_CSV, out / PER_SEQUENCE_CSV
    with atomic_path(g_path) as g_tmp, atomic_path(s_path) as s_tmp:
        g_tmp.write_text(global_csv_text(result))
        s_tmp.write_text(per_sequence_csv_text(result))
    return g_path, s_path


def _table(header: tuple[str, ...], rows: list[list[str]], left_columns: tuple[int, ...] = ()) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(cells) -> str:
        return "  ".join(c.ljust(w) if i in left_columns else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(header)] + [line(r) for r in rows])


def format_global_table(result: EvaluationResult) -> str:
    """The global statistics as an aligned text table (official column names)."""
    return _table(GLOBAL_COLUMNS, [[f"{v:.3f}" for v in result.global_row().values()]])


def format_per_sequence_table(result: EvaluationResult) -> str:
    """Per-object J-Mean and F-Mean as an aligned text table, rows ``<sequence>_<object id>``."""
    rows = [[name, f"{j:.3f}", f"{f:.3f}"] for name, j, f in result.per_sequence_rows()]
    return _table(PER_SEQUENCE_COLUMNS, rows, left_columns=(0,))
