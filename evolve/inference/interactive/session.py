"""An interactive VOS session over one video: the API a GUI or the DAVIS protocol calls.

A *round* (GLTM, Heo et al. ECCV 2020, section 3.4; docs/interactive.md):

1. strokes (scribbles or clicks) are given on one frame t (:meth:`InteractiveSession.add_strokes`);
2. the interaction network turns them into a mask of every object on t
   (:meth:`InteractiveSession.interact`; previous mask 0.5 in the first interaction on t);
3. t becomes an annotated frame and propagation runs backward then forward
   (:meth:`InteractiveSession.propagate`), each pass stopping at the nearest frame annotated
   in an earlier round on that side;
4. each propagated frame f is blended with the previous round's result,
   ``P = alpha P_new + (1 - alpha) P_old`` with GLTM's ramp (:func:`blend_weight`)
   ``alpha = 0.5 + 0.5 * d(f, a) / d(t, a)``, a = that nearest earlier annotated frame
   (alpha = 1 when none lies on that side, or when f has no previous result).

Everything works at the frame source's working size; masks are (H, W) int64 object ids.
:meth:`InteractiveSession.undo` takes the last round back. Progress callbacks and cancellation
are checked between frames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from evolve.data.scribbles import Click, Stroke, as_strokes, validate_strokes
from evolve.inference.interactive.frames import FrameSource
from evolve.inference.interactive.interactor import Interactor, to_distribution
from evolve.inference.interactive.propagation import Annotation, Propagator
from evolve.utils.errors import InputError

#: ``progress(done, total, frame)`` after each propagated frame.
ProgressCallback = Callable[[int, int, int], None]


def blend_weight(frame: int, annotated: int, previous: Optional[int]) -> float:
    """GLTM's round-blending weight of the new result on ``frame`` (Heo et al. 2020, Eq. 7).

    Args:
        frame: the propagated frame f.
        annotated: the frame t annotated in this round.
        previous: the nearest frame annotated in an earlier round on f's side of t (None: none).
    Returns:
        ``0.5 + 0.5 * |f - a| / |t - a|`` (1 at t, 0.5 at a), or 1.0 when ``previous`` is None.
    """
    if previous is None or previous == annotated:
        return 1.0
    return 0.5 + 0.5 * abs(frame - previous) / abs(annotated - previous)


@dataclass
class SessionConfig:
    """Session settings.

    Attributes:
        rerun_all_objects: run the interaction network for every object on the interacted frame
            (GLTM: all objects each round, the others' strokes being negatives); False = only the
            objects that have a stroke on it (a GUI touching one object leaves the others alone).
        blend: GLTM's round blending (False = the new round replaces the old results).
        keep_on_cancel: a cancelled propagation keeps the frames it finished (False: the round
            is taken back entirely).
    """

    rerun_all_objects: bool = True
    blend: bool = True
    keep_on_cancel: bool = True


@dataclass
class RoundResult:
    """What one round did.

    Attributes:
        frame: the annotated frame.
        frames_done: frames propagated (the annotated frame not counted).
        cancelled: propagation was stopped by the cancel signal.
        seconds_interaction, seconds_propagation: wall time of the two steps.
    """

    frame: int
    frames_done: int = 0
    cancelled: bool = False
    seconds_interaction: float = 0.0
    seconds_propagation: float = 0.0

    @property
    def seconds(self) -> float:
        """Total wall time of the round."""
        return self.seconds_interaction + self.seconds_propagation


@dataclass
class _Record:
    """Undo information of one round."""

    frame: int
    before: dict[int, Optional[Tensor]] = field(default_factory=dict)
    replaced: Optional[Annotation] = None


class InteractiveSession:
    """Interactive segmentation of one video (module docstring).

    Args:
        frames: the video (:class:`~evolve.inference.interactive.frames.FrameSource`).
        interactor: runs the interaction network (:class:`~evolve.inference.interactive.interactor.Interactor`).
        propagator: :class:`~evolve.inference.interactive.propagation.EvolvePropagator` or
            :class:`~evolve.inference.interactive.propagation.GLTMPropagator`.
        config: :class:`SessionConfig`.
        object_ids: objects known from the start (more with :meth:`add_object`).
    """

    def __init__(self, frames: FrameSource, interactor: Interactor, propagator: Propagator, config: Optional[SessionConfig] = None,
                 object_ids: Iterable[int] = ()) -> None:
        self.frames = frames
        self.interactor = interactor
        self.propagator = propagator
        self.config = config or SessionConfig()
        self.object_ids: list[int] = []
        for obj in object_ids:
            self.add_object(obj)
        self._probs: dict[int, Tensor] = {}  # frame -> (1+N_then, H, W) float16
        self.annotations: dict[int, Annotation] = {}
        self._history: list[_Record] = []
        self._pending_frame: Optional[int] = None
        self._pending: list[Stroke] = []
        self._preview: Optional[Annotation] = None
        self.propagator.reset()

    # ------------------------------------------------------------------ objects and strokes
    @property
    def num_frames(self) -> int:
        """T."""
        return self.frames.num_frames

    def add_object(self, object_id: Optional[int] = None) -> int:
        """Register an object (default id: one more than the largest); returns its id.

        Raises:
            InputError: an id < 1 or one already known.
        """
        obj = (max(self.object_ids) + 1 if self.object_ids else 1) if object_id is None else int(object_id)
        if obj < 1 or obj in self.object_ids:
            raise InputError(None, f"object id {obj} is {'< 1' if obj < 1 else 'already known'}", "use a new id >= 1 (0 is background)")
        self.object_ids.append(obj)
        return obj

    @property
    def pending_frame(self) -> Optional[int]:
        """The frame strokes were given on since the last round (None: none)."""
        return self._pending_frame

    @property
    def pending_strokes(self) -> list[Stroke]:
        """The strokes given since the last round."""
        return list(self._pending)

    def add_strokes(self, frame: int, strokes: Sequence[Stroke | Click]) -> None:
        """Add strokes (or clicks) on ``frame`` for the next round.

        Raises:
            InputError: invalid strokes (:func:`evolve.data.scribbles.validate_strokes`), or strokes
                on another frame than the pending ones (finish or clear that round first).
        """
        items = as_strokes(strokes)
        validate_strokes(items, frame, self.num_frames, self.object_ids)
        if self._pending_frame is not None and frame != self._pending_frame:
            raise InputError(None, f"strokes are pending on frame {self._pending_frame}, not {frame}",
                             "propagate (or clear_strokes()) before drawing on another frame")
        self._pending_frame = int(frame)
        self._pending.extend(items)
        self._preview = None

    def clear_strokes(self) -> None:
        """Drop the pending strokes and preview."""
        self._pending_frame, self._pending, self._preview = None, [], None

    # ------------------------------------------------------------------ results
    def probabilities(self, t: int) -> Optional[Tensor]:
        """float32 (1+N, H, W) distribution of frame ``t`` (None before any result on it)."""
        p = self._probs.get(t)
        if p is None:
            return None
        p = p.float()
        if p.shape[0] < 1 + len(self.object_ids):  # objects added since
            p = torch.cat([p, torch.zeros(1 + len(self.object_ids) - p.shape[0], *p.shape[1:])])
        return p

    def mask(self, t: int) -> Tensor:
        """(H, W) int64 object ids of frame ``t`` (all background before any result)."""
        p = self.probabilities(t)
        if p is None:
            return torch.zeros(self.frames.size, dtype=torch.int64)
        lut = torch.tensor([0] + self.object_ids, dtype=torch.int64)
        return lut[p.argmax(0)]

    def masks(self) -> np.ndarray:
        """(T, H, W) uint8 object ids of every frame."""
        return np.stack([self.mask(t).numpy().astype(np.uint8) for t in range(self.num_frames)])

    @property
    def annotated_frames(self) -> list[int]:
        """Frames annotated so far, sorted."""
        return sorted(self.annotations)

    @property
    def num_rounds(self) -> int:
        """Rounds done (and not undone)."""
        return len(self._history)

    # ------------------------------------------------------------------ a round
    def interact(self) -> Tensor:
        """Run the interaction network on the pending frame; returns its (H, W) int64 mask
        (a preview: nothing is committed until :meth:`propagate`).

        Raises:
            InputError: no pending strokes, or no object.
        """
        if self._pending_frame is None:
            raise InputError(None, "no strokes to interpret", "add_strokes(frame, strokes) first")
        if not self.object_ids:
            raise InputError(None, "the session has no object", "add_object() first")
        t = self._pending_frame
        rgb, voxel = self.frames.frame(t)
        current = self.probabilities(t)
        prev_ids = None if current is None else self.mask(t).numpy()
        touched = {s.object_id for s in self._pending if s.object_id > 0}
        objs = list(self.object_ids) if self.config.rerun_all_objects or current is None else [o for o in self.object_ids if o in touched]
        probs, indicators = self.interactor.run(rgb, voxel, self._pending, objs, prev_ids)
        obj_probs = torch.zeros(len(self.object_ids), *self.frames.size)
        if current is not None:
            obj_probs[:] = current[1:]
        old = self.annotations.get(t)
        inds = dict(old.indicators) if old is not None else {}
        for k, obj in enumerate(objs):
            obj_probs[self.object_ids.index(obj)] = probs[k]
            inds[int(obj)] = indicators[k]
        dist = to_distribution(obj_probs)
        self._preview = Annotation(t, dist, list(self._pending), inds)
        return self._ids(dist)

    def _ids(self, dist: Tensor) -> Tensor:
        lut = torch.tensor([0] + self.object_ids, dtype=torch.int64)
        return lut[dist.argmax(0)]

    def propagate(self, direction: str = "both", progress: Optional[ProgressCallback] = None, cancel: Any = None) -> RoundResult:
        """Commit the pending interaction and propagate it.

        Args:
            direction: ``"both"`` (backward, then forward), ``"forward"`` or ``"backward"``.
            progress: ``progress(done, total, frame)`` after each frame.
            cancel: a ``threading.Event`` (or any object with ``is_set()``) or a callable returning
                True to stop between frames.
        Returns:
            :class:`RoundResult`.
        Raises:
            InputError: no pending strokes, or an unknown direction.
        """
        if direction not in ("both", "forward", "backward"):
            raise InputError(None, f"unknown direction {direction!r}", "use 'both', 'forward' or 'backward'")
        t0 = time.perf_counter()
        if self._preview is None:
            self.interact()
        assert self._preview is not None
        ann = self._preview
        t = ann.frame
        result = RoundResult(frame=t, seconds_interaction=time.perf_counter() - t0)
        t1 = time.perf_counter()
        earlier = [a for a in self.annotations if a != t]
        prev_left = max([a for a in earlier if a < t], default=None)
        prev_right = min([a for a in earlier if a > t], default=None)
        record = _Record(frame=t, replaced=self.annotations.get(t))
        record.before[t] = self._probs.get(t)
        self.annotations[t] = ann
        self._probs[t] = ann.probs.half()
        self._history.append(record)
        self.clear_strokes()
        passes = []
        if direction in ("both", "backward"):
            passes.append((-1 if prev_left is None else prev_left, prev_left))
        if direction in ("both", "forward"):
            passes.append((self.num_frames if prev_right is None else prev_right, prev_right))
        total = sum(abs(stop - t) - 1 for stop, _ in passes)
        stop_flag = _cancel_check(cancel)
        annotations = [self.annotations[a] for a in sorted(self.annotations)]
        for stop, prev in passes:
            def on_frame(f: int, dist: Tensor, prev=prev) -> bool:
                old = self.probabilities(f)
                alpha = 1.0 if (old is None or not self.config.blend) else blend_weight(f, t, prev)
                new = dist if alpha >= 1.0 else alpha * dist + (1 - alpha) * old
                if f not in record.before:
                    record.before[f] = self._probs.get(f)
                self._probs[f] = new.half()
                result.frames_done += 1
                if progress is not None:
                    progress(result.frames_done, total, f)
                if stop_flag():
                    result.cancelled = True
                    return False
                return True

            if stop_flag():
                result.cancelled = True
            if result.cancelled:
                break
            self.propagator.propagate(self.frames, annotations, self.object_ids, t, stop, on_frame)
        result.seconds_propagation = time.perf_counter() - t1
        if result.cancelled and not self.config.keep_on_cancel:
            self.undo()
        return result

    def run_round(self, frame: int, strokes: Sequence[Stroke | Click], direction: str = "both",
                  progress: Optional[ProgressCallback] = None, cancel: Any = None) -> RoundResult:
        """:meth:`add_strokes` + :meth:`interact` + :meth:`propagate` (one protocol round); the
        interaction time is included in the result."""
        self.clear_strokes()
        self.add_strokes(frame, strokes)
        t0 = time.perf_counter()
        self.interact()
        seconds = time.perf_counter() - t0
        result = self.propagate(direction, progress, cancel)
        result.seconds_interaction += seconds
        return result

    def undo(self) -> bool:
        """Take the last round back (its annotation and every frame it changed); False when
        there is no round to undo. Pending strokes are dropped."""
        self.clear_strokes()
        if not self._history:
            return False
        record = self._history.pop()
        for f, before in record.before.items():
            if before is None:
                self._probs.pop(f, None)
            else:
                self._probs[f] = before
        if record.replaced is None:
            self.annotations.pop(record.frame, None)
        else:
            self.annotations[record.frame] = record.replaced
        self.propagator.reset()
        return True


def _cancel_check(cancel: Any) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if hasattr(cancel, "is_set"):
        return lambda: bool(cancel.is_set())
    if callable(cancel):
        return lambda: bool(cancel())
    raise InputError(None, f"cancel is a {type(cancel).__name__}", "pass a threading.Event or a callable returning True to stop")
