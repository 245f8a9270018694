"""Counts of a procedural dataset (docs/procedural.md): videos per group and split, frames,
objects, expressions per kind, held-out expressions, event density of the conversion.

    python scripts/procedural_stats.py <root made by evolve-procedural-data>

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from evolve.data.procedural import open_procedural


def procedural_stats(root: Path) -> dict:
    """The counts above for the dataset under ``root`` (its LLE-DAVIS records and Synthesis stats)."""
    index = open_procedural(root)
    recs = list(index.records.values())
    groups = {n: g for g, names in index.classes["groups"].items() for n in names}
    splits = {n: s for s, names in index.classes["splits"].items() for n in names}
    density = []
    for n in index.records:
        stats = index.base / "Synthesis" / n / "stats.json"
        if stats.is_file():
            density.append(json.loads(stats.read_text())["events_per_pixel_per_interval"]["mean"])
    d = np.asarray(density) if density else np.zeros(1)
    return {
        "base": str(index.base),
        "videos": len(recs),
        "videos_per_group_split": {f"{g}/{s}": c for (g, s), c in sorted(Counter((groups[n], splits[n]) for n in index.records).items())},
        "frames": int(sum(r["num_frames"] for r in recs)),
        "objects": int(sum(len(r["objects"]) for r in recs)),
        "moving_objects": int(sum(o["moving"] for r in recs for o in r["objects"])),
        "expressions": dict(Counter(e["kind"] for r in recs for e in r["expressions"])),
        "held_out_expressions": int(sum(e["held_out"] for r in recs for e in r["expressions"])),
        "objects_without_expression": int(sum(1 for r in recs for o in r["objects"] if all(e["object_id"] != o["id"] for e in r["expressions"]))),
        "events_per_pixel_per_interval": {"mean": float(d.mean()), "min": float(d.min()), "max": float(d.max()), "sequences": len(density)},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", type=Path)
    print(json.dumps(procedural_stats(p.parse_args().root), indent=2))


if __name__ == "__main__":
    main()
