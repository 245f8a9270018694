"""Writing what was annotated: palette PNGs in DAVIS layout, the DAVIS scribble JSON of every round,
and an overlay MP4.

Layout under the output folder (``--out``, default ``<opened folder>/evolve_annotate``)::

    Annotations/<seq>/<frame stem>.png   palette PNG of object ids at the frames' original size
                                         (the input masks' palette kept, else DAVIS's)
    Scribbles/<seq>/001.json ...         one DAVIS scribble file per round (its strokes on its frame)
    Overlays/<seq>.mp4                   brightened frames with the masks drawn over them

Every file is written atomically (temporary name, then rename; :mod:`evolve.utils.atomic`), and
nothing is written when any target exists unless the caller confirmed overwriting
(:class:`ExistingFiles` lists them first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from evolve.apps.annotate.state import RoundLog
from evolve.apps.annotate.workspace import LoadedSequence, confine
from evolve.data.image_io import write_mask
from evolve.data.scribble_json import ScribbleSet, write_scribble_json
from evolve.vis.overlay import overlay_mask

_ROUND_FILE = re.compile(r"^\d{3}\.json$")


class ExistingFiles(Exception):
    """Targets of an export exist and overwriting was not confirmed (the server answers 409).

    Attributes:
        paths: the existing files.
    """

    def __init__(self, paths: list[Path]) -> None:
        super().__init__(f"{len(paths)} file(s) exist already (e.g. {paths[0]}); confirm to overwrite them")
        self.paths = paths


@dataclass
class ExportPlan:
    """The files one export writes (every path inside the output folder).

    Attributes:
        masks: one PNG per frame, in frame order (empty when masks are not exported).
        scribbles: one JSON per round.
        stale_scribbles: round files of an earlier export beyond the current rounds (removed on overwrite).
        video: the overlay MP4, or None.
    """

    masks: list[Path]
    scribbles: list[Path]
    stale_scribbles: list[Path]
    video: Optional[Path]

    @property
    def targets(self) -> list[Path]:
        """Every file the export writes."""
        return self.masks + self.scribbles + ([self.video] if self.video is not None else [])


def plan_export(out_root: Path, seq: LoadedSequence, num_rounds: int, masks: bool = True, scribbles: bool = True, video: bool = False) -> ExportPlan:
    """The target files of an export (see the module docstring for the layout).

    Raises:
        PathRefused: a target outside ``out_root`` (a sequence or frame name with path parts).
    """
    mask_files = [confine(out_root, f"Annotations/{seq.name}/{stem}.png") for stem in seq.stems] if masks else []
    scr_dir = confine(out_root, f"Scribbles/{seq.name}")
    scr_files = [scr_dir / f"{i + 1:03d}.json" for i in range(num_rounds)] if scribbles else []
    stale = []
    if scribbles and scr_dir.is_dir():
        keep = {p.name for p in scr_files}
        stale = sorted(p for p in scr_dir.iterdir() if _ROUND_FILE.match(p.name) and p.name not in keep)
    vid = confine(out_root, f"Overlays/{seq.name}.mp4") if video else None
    return ExportPlan(mask_files, scr_files, stale, vid)


def existing(plan: ExportPlan) -> list[Path]:
    """The targets of ``plan`` that exist (and the stale round files, which overwriting removes)."""
    return [p for p in plan.targets if p.exists()] + plan.stale_scribbles


def export_masks(plan: ExportPlan, seq: LoadedSequence, masks: np.ndarray, progress: Optional[Callable[[int, int], None]] = None,
                 cancel: Optional[Callable[[], bool]] = None) -> int:
    """Write every frame's mask as a palette PNG at the original frame size.

    Args:
        plan: the targets (:func:`plan_export`).
        seq: the sequence (original size, palette).
        masks: uint8 (T, h, w) object ids at the working size (upsampled nearest-neighbour).
        progress: ``progress(done, total)`` after each file; cancel: returns True to stop.
    Returns:
        The number of files written.
    """
    h, w = seq.original_size
    n = 0
    for t, path in enumerate(plan.masks):
        if cancel is not None and cancel():
            break
        ids = masks[t]
        if ids.shape != (h, w):
            ids = cv2.resize(ids, (w, h), interpolation=cv2.INTER_NEAREST)  # (H, W) uint8
        write_mask(path, ids, seq.palette)
        n += 1
        if progress is not None:
            progress(t + 1, len(plan.masks))
    return n


def export_scribbles(plan: ExportPlan, seq: LoadedSequence, rounds: list[RoundLog]) -> int:
    """Write one DAVIS scribble file per round (its strokes on its frame, ``annotated_frame`` set;
    times in milliseconds since the sequence was opened) and remove stale round files.

    Returns:
        The number of files written.
    """
    for path, r in zip(plan.scribbles, rounds):
        write_scribble_json(path, ScribbleSet.single_frame(seq.name, seq.num_frames, r.frame, list(r.strokes)))
    for p in plan.stale_scribbles:
        p.unlink(missing_ok=True)
    return len(plan.scribbles)


def export_video(path: Path, seq: LoadedSequence, masks: np.ndarray, fps: Optional[float] = None,
                 cancel: Optional[Callable[[], bool]] = None) -> bool:
    """Write the overlay MP4: each frame brightened with the sequence's gain and its mask drawn over
    it (:func:`evolve.vis.overlay.overlay_mask`, the sequence's palette), at the working size.

    Returns:
        False when cancelled (nothing written).
    Raises:
        RuntimeError: OpenCV has no MP4 encoder.
    """
    from evolve.vis.synthesis_pictures import write_mp4

    rows = []
    for t in range(seq.num_frames):
        if cancel is not None and cancel():
            return False
        bright = np.clip(seq.rgb_u8(t).astype(np.float32) * seq.gain + 0.5, 0, 255).astype(np.uint8)
        rows.append(overlay_mask(bright, masks[t], seq.palette))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mp4(path, rows, fps=fps or seq.fps)
    return True
