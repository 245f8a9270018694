"""Summary table of a converted dataset, from its ``Synthesis/<seq>/stats.json`` files.

    evolve-dataset-table <lle-davis root>

Prints a Markdown table: per sequence the split, frames, size, events/pixel/interval
(mean/min/max), total events, mean low-light and normal intensity and (alpha, beta, gamma);
then the pixel-weighted dataset density and the C_mean recorded in ``synthesis.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from evolve.utils.errors import InputError


def dataset_table(lle_root: str | os.PathLike) -> str:
    """Markdown table of a converted dataset's per-sequence statistics.

    Raises:
        InputError: no ``trainval_480p/Synthesis`` folder with stats.
    """
    base = Path(lle_root) / "trainval_480p"
    info = base / "Synthesis"
    files = sorted(info.glob("*/stats.json"))
    if not files:
        raise InputError(info, "no stats.json files", "convert a dataset first with evolve-synthesize")
    split_of = {}
    for split in ("train", "val"):
        f = base / "ImageSets" / "2017" / f"{split}.txt"
        if f.is_file():
            split_of.update({n: split for n in f.read_text().split()})
    rows = [
        "| sequence | split | frames | size | events/px/interval mean | min | max | total events | mean low-light intensity | mean normal intensity | alpha | beta | gamma |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    events = pixel_intervals = 0
    for f in files:
        s = json.loads(f.read_text())
        d = s["events_per_pixel_per_interval"]
        ll = s["lowlight"]
        rows.append(
            f"| {s['sequence']} | {split_of.get(s['sequence'], '-')} | {s['num_frames']} | {s['width']}x{s['height']} | "
            f"{d['mean']:.3f} | {d['min']:.3f} | {d['max']:.3f} | {s['total_events']:,} | {s['mean_lowlight_intensity']:.4f} | "
            f"{s['mean_normal_intensity']:.3f} | {ll['alpha']:.3f} | {ll['beta']:.3f} | {ll['gamma']:.2f} |"
        )
        events += s["total_events"]
        pixel_intervals += s["num_intervals"] * s["height"] * s["width"]
    rec_path = info / "synthesis.json"
    c_mean = json.loads(rec_path.read_text()).get("contrast_threshold") if rec_path.is_file() else None
    rows.append("")
    rows.append(
        f"Dataset: {len(files)} sequences, {events:,} events, {events / max(pixel_intervals, 1):.3f} events/pixel/interval "
        f"(pixel-weighted over all intervals)" + (f"; C_mean {c_mean:.4f}" if c_mean is not None else "") + "."
    )
    return "\n".join(rows)
