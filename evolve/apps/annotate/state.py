"""The server-side state of evolve-annotate: opened sequences, their interactive sessions, the
interaction log, and background jobs.

Everything the page shows lives here, so a page reload finds it again. The heavy steps
(reading a sequence, the interaction network, propagation, event synthesis, export, loading
weights) run as **jobs** in a worker thread, one at a time: the page polls the job's progress
and can cancel it; a second job while one runs is refused (:class:`Busy`). Requests that change
a session while a job runs are refused the same way, so a session is only ever changed by one
thread. Reading masks during propagation is allowed (the page shows frames as they finish).

The sessions are :class:`evolve.inference.interactive.InteractiveSession` (docs/interactive.md);
this module adds what a GUI needs around them: a preview of the interaction network's result
before it is committed, the strokes of every round with their times (the DAVIS scribble log),
zero voxel grids for sequences without events when the networks read events, and swapping the
networks of open sessions when other weights are loaded.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from evolve.apps.annotate.networks import Networks
from evolve.apps.annotate.workspace import LoadedSequence, Workspace
from evolve.data.scribbles import Stroke
from evolve.inference.interactive import InteractiveSession, SessionConfig
from evolve.utils.errors import InputError

log = logging.getLogger("evolve.annotate")


class Busy(Exception):
    """A job is running; the request that would start another (or change its session) is refused."""

    def __init__(self, job: "Job") -> None:
        super().__init__(f"busy: a {job.kind} job is running ({job.done}/{job.total}); wait for it or cancel it")
        self.job = job


@dataclass
class StateConfig:
    """Settings of the state (from the command line).

    Attributes:
        size: working size, shorter side in pixels (-1 = native).
        num_bins: voxel-grid bins when no network says otherwise.
        max_strokes_per_request, max_points_per_stroke, max_pending_strokes: request bounds.
        session: the sessions' settings (``rerun_all_objects=False``: a stroke for one object
            leaves the others' masks on that frame alone, as a GUI user expects).
    """

    size: int = 480
    num_bins: int = 5
    max_strokes_per_request: int = 64
    max_points_per_stroke: int = 4096
    max_pending_strokes: int = 512
    session: SessionConfig = field(default_factory=lambda: SessionConfig(rerun_all_objects=False))


@dataclass
class Job:
    """A background job and its progress.

    Attributes:
        id: increasing number.
        kind: ``load``, ``interact``, ``propagate``, ``synthesize``, ``export`` or ``weights``.
        sequence: the sequence it works on (None for ``weights``).
        status: ``running``, ``done``, ``cancelled`` or ``error``.
        done, total: progress in frames.
        frame: the frame last finished (propagation), or None.
        message: the error message, or a one-line summary when done.
        result: what the job returned (JSON-able).
    """

    id: int
    kind: str
    sequence: Optional[str]
    status: str = "running"
    done: int = 0
    total: int = 0
    frame: Optional[int] = None
    message: str = ""
    result: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    finished: Optional[float] = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    thread: Optional[threading.Thread] = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        """True until the job has finished (any way)."""
        return self.status == "running"

    def progress(self, done: int, total: int, frame: Optional[int] = None) -> None:
        """Record progress (called from the worker thread)."""
        self.done, self.total = int(done), int(total)
        if frame is not None:
            self.frame = int(frame)

    def as_dict(self) -> dict[str, Any]:
        """The JSON view of the job."""
        return {"id": self.id, "kind": self.kind, "sequence": self.sequence, "status": self.status, "done": self.done, "total": self.total,
                "frame": self.frame, "message": self.message, "result": self.result,
                "seconds": round((self.finished or time.time()) - self.started, 3)}


@dataclass
class RoundLog:
    """One committed round, for the interaction log (DAVIS scribble JSON) and the page.

    Attributes:
        frame: the interacted frame.
        strokes: its strokes (times in milliseconds since the sequence was opened).
        direction: ``both``, ``forward``, ``backward`` or ``none`` (the frame only).
        frames_done: frames propagated; cancelled: propagation was cancelled.
        seconds_interaction, seconds_propagation: wall time.
    """

    frame: int
    strokes: list[Stroke]
    direction: str
    frames_done: int = 0
    cancelled: bool = False
    seconds_interaction: float = 0.0
    seconds_propagation: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The JSON view (stroke count, not the strokes)."""
        return {"frame": self.frame, "strokes": len(self.strokes), "direction": self.direction, "frames_done": self.frames_done,
                "cancelled": self.cancelled, "seconds": round(self.seconds_interaction + self.seconds_propagation, 3)}


class EventsOrZeros:
    """A :class:`~evolve.inference.interactive.FrameSource` over a sequence's frames that gives the
    networks a voxel grid on every frame: the sequence's own, or zeros (B, H, W) float32 when it has
    none (the frames-only convention of evolve's readers); None when the networks read no events."""

    def __init__(self, seq: LoadedSequence, events: bool, num_bins: int) -> None:
        self.seq = seq
        self.events = events
        self.num_bins = num_bins
        self.num_frames = seq.num_frames
        self.size = seq.size

    def frame(self, t: int) -> tuple[Tensor, Optional[Tensor]]:
        """float32 RGB (3, H, W) in [0, 1] and float32 (B, H, W) voxel grid or None."""
        rgb, voxel = self.seq.frames.frame(t)
        if not self.events:
            return rgb, None
        if voxel is None or voxel.shape[0] != self.num_bins:
            voxel = torch.zeros(self.num_bins, *self.size)
        return rgb, voxel


class SequenceState:
    """One opened sequence: its frames, its session (None until networks are loaded), its log.

    Attributes:
        loaded: the frames in memory.
        session: the interactive session, or None without networks.
        rounds: the committed rounds, in order (undo removes the last).
        preview: (frame, uint8 (H, W) ids) of the interaction network's last uncommitted result.
        mask_version: increases whenever any mask of the sequence changes (the page reloads masks).
    """

    def __init__(self, loaded: LoadedSequence) -> None:
        self.loaded = loaded
        self.session: Optional[InteractiveSession] = None
        self.rounds: list[RoundLog] = []
        self.preview: Optional[tuple[int, np.ndarray]] = None
        self.mask_version = 0
        self.events_version = 0
        self._opened = time.monotonic()

    def now_ms(self) -> float:
        """Milliseconds since the sequence was opened (DAVIS scribble times)."""
        return round((time.monotonic() - self._opened) * 1000.0, 1)

    def attach(self, networks: Networks, config: StateConfig) -> None:
        """Give the sequence a session on ``networks``, or move its session onto them (the rounds
        and masks stay; the propagator's cached memory is rebuilt)."""
        bins = networks.num_bins if networks.events else config.num_bins
        source = EventsOrZeros(self.loaded, networks.events, bins)
        if self.session is None:
            self.session = InteractiveSession(source, networks.interactor, networks.make_propagator(), config.session)
            return
        self.session.frames = source
        self.session.interactor = networks.interactor
        self.session.propagator = networks.make_propagator()
        self.session.propagator.reset()

    def mask(self, t: int) -> np.ndarray:
        """uint8 (H, W) object ids shown on frame ``t``: the preview on its frame, else the session's."""
        if self.preview is not None and self.preview[0] == t:
            return self.preview[1]
        if self.session is None:
            return np.zeros(self.loaded.size, np.uint8)
        return self.session.mask(t).numpy().astype(np.uint8)

    def as_dict(self) -> dict[str, Any]:
        """The JSON view for the page."""
        s = self.session
        pal = np.frombuffer(self.loaded.palette[:768], np.uint8).reshape(256, 3)
        objects = s.object_ids if s is not None else []
        pending = s.pending_strokes if s is not None else []
        return {
            "name": self.loaded.name, "num_frames": self.loaded.num_frames, "stems": self.loaded.stems,
            "size": list(self.loaded.size), "original_size": list(self.loaded.original_size),
            "has_events": self.loaded.has_events or self.loaded.events_synthetic, "events_synthetic": self.loaded.events_synthetic,
            "has_normal": bool(self.loaded.normal_frames and any(self.loaded.normal_frames)),
            "objects": [{"id": int(o), "colour": [int(c) for c in pal[o]]} for o in objects],
            "palette": {str(k): [int(c) for c in pal[k]] for k in range(0, 32)},
            "annotated_frames": s.annotated_frames if s is not None else [],
            "rounds": [r.as_dict() for r in self.rounds],
            "pending_frame": s.pending_frame if s is not None else None,
            "pending_strokes": [{"points": [list(p) for p in st.points], "object_id": st.object_id, "positive": st.positive} for st in pending],
            "preview_frame": self.preview[0] if self.preview is not None else None,
            "mask_version": self.mask_version, "events_version": self.events_version,
            "warnings": list(self.loaded.warnings), "has_session": s is not None,
        }


class AnnotateState:
    """Everything the server keeps (module docstring).

    Args:
        workspace: what ``--data`` opened.
        out_root: where exports are written.
        config: :class:`StateConfig`.
        networks: the loaded networks, or None (then ``networks_error`` says why).
        networks_error: the message shown in the page when the weights could not be loaded.
        loader: ``loader(weights, interaction_weights) -> Networks`` for weights loaded from the page.
    """

    def __init__(self, workspace: Workspace, out_root: Path, config: Optional[StateConfig] = None, networks: Optional[Networks] = None,
                 networks_error: Optional[str] = None, loader: Optional[Callable[[Path, Optional[Path]], Networks]] = None) -> None:
        self.workspace = workspace
        self.out_root = Path(out_root).resolve()
        self.config = config or StateConfig()
        self.networks = networks
        self.networks_error = networks_error
        self.loader = loader
        self.sequences: dict[str, SequenceState] = {}
        self.current: Optional[str] = None
        self.job: Optional[Job] = None
        self.messages: deque[dict[str, Any]] = deque(maxlen=30)
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        if networks_error:
            self.message("error", networks_error)

    # ------------------------------------------------------------------ messages and jobs
    def message(self, level: str, text: str) -> None:
        """Add a message for the page (``info``, ``warning`` or ``error``) and log it."""
        self.messages.append({"level": level, "text": text, "time": time.time()})
        getattr(log, "error" if level == "error" else "warning" if level == "warning" else "info")(text)

    def _check_idle(self) -> None:
        if self.job is not None and self.job.running:
            raise Busy(self.job)

    def start_job(self, kind: str, sequence: Optional[str], work: Callable[[Job], Optional[dict]]) -> Job:
        """Run ``work(job)`` in a worker thread as the one running job.

        Raises:
            Busy: another job is running.
        """
        with self._lock:
            self._check_idle()
            job = Job(next(self._ids), kind, sequence)
            job.thread = threading.Thread(target=self._run, args=(job, work), name=f"annotate-{kind}-{job.id}", daemon=True)
            self.job = job
            job.thread.start()
            return job

    def _run(self, job: Job, work: Callable[[Job], Optional[dict]]) -> None:
        try:
            job.result = work(job) or {}
            job.status = "cancelled" if job.cancel.is_set() else "done"
            job.message = job.result.pop("message", job.message)
        except InputError as exc:
            job.status, job.message = "error", str(exc)
            self.message("error", str(exc))
        except Exception as exc:  # a bug: the page gets the message, the server keeps running
            job.status, job.message = "error", f"unexpected error in {job.kind}: {type(exc).__name__}: {exc}"
            log.error("%s\n%s", job.message, traceback.format_exc())
            self.message("error", job.message)
        finally:
            job.finished = time.time()

    def wait(self, timeout: float = 60.0) -> Optional[Job]:
        """Block until the current job has finished (tests and scripts); returns it."""
        job = self.job
        if job is not None and job.thread is not None:
            job.thread.join(timeout)
        return job

    def cancel(self) -> bool:
        """Ask the running job to stop between frames; False when none runs."""
        job = self.job
        if job is None or not job.running:
            return False
        job.cancel.set()
        return True

    # ------------------------------------------------------------------ sequences
    def sequence(self, name: str) -> SequenceState:
        """The opened sequence ``name``.

        Raises:
            PathRefused: not a sequence of the workspace; InputError: not opened yet.
        """
        self.workspace.check_sequence(name)
        st = self.sequences.get(name)
        if st is None:
            raise InputError(None, f"sequence {name!r} is not open", "open it first")
        return st

    def session(self, name: str) -> InteractiveSession:
        """The session of an opened sequence.

        Raises:
            InputError: no networks are loaded (the message says why and how to load them).
        """
        st = self.sequence(name)
        if st.session is None:
            why = f" ({self.networks_error})" if self.networks_error else ""
            raise InputError(None, f"no networks are loaded{why}", "start evolve-annotate with --weights (and --interaction-weights), or load weights in the page")
        return st.session

    def open_sequence(self, name: str) -> Optional[Job]:
        """Make ``name`` the current sequence, reading it first (a ``load`` job) when needed.

        Returns:
            The load job, or None when the sequence was already open.
        Raises:
            PathRefused: not a sequence of the workspace; Busy: a job is running.
        """
        self.workspace.check_sequence(name)
        with self._lock:
            if name in self.sequences:
                self.current = name
                return None

            def work(job: Job) -> dict:
                bins = self.networks.num_bins if (self.networks is not None and self.networks.events) else self.config.num_bins
                loaded = self.workspace.load(name, self.config.size, bins, job.progress, job.cancel.is_set)
                if loaded is None:
                    return {"message": "cancelled"}
                st = SequenceState(loaded)
                if self.networks is not None:
                    st.attach(self.networks, self.config)
                for w in loaded.warnings:
                    self.message("warning", w)
                self.sequences[name] = st
                self.current = name
                return {"message": f"opened {name}: {loaded.num_frames} frames at {loaded.size[1]}x{loaded.size[0]}"}

            return self.start_job("load", name, work)

    # ------------------------------------------------------------------ interaction
    def add_object(self, name: str) -> int:
        """A new object in sequence ``name``; returns its id."""
        with self._lock:
            self._check_idle()
            return self.session(name).add_object()

    def add_strokes(self, name: str, frame: int, strokes: Sequence[Stroke], durations_ms: Optional[Sequence[float]] = None) -> int:
        """Add strokes on ``frame`` (their times are set here: end = now, start = end - duration).

        Returns:
            The number of pending strokes.
        Raises:
            InputError: invalid strokes, strokes on another frame than the pending ones, or too
                many pending strokes; Busy: a job is running.
        """
        with self._lock:
            self._check_idle()
            st = self.sequence(name)
            session = self.session(name)
            if len(session.pending_strokes) + len(strokes) > self.config.max_pending_strokes:
                raise InputError(None, f"more than {self.config.max_pending_strokes} strokes pending", "run the round (propagate) or clear the strokes")
            end = st.now_ms()
            timed = [Stroke(s.points, s.object_id, s.positive, max(end - float((durations_ms or [0.0] * len(strokes))[i]), 0.0), end)
                     for i, s in enumerate(strokes)]
            session.add_strokes(int(frame), timed)
            if st.preview is not None:
                st.preview = None
                st.mask_version += 1
            return len(session.pending_strokes)

    def clear_strokes(self, name: str) -> None:
        """Drop the pending strokes and the preview of sequence ``name``."""
        with self._lock:
            self._check_idle()
            st = self.sequence(name)
            self.session(name).clear_strokes()
            st.preview = None
            st.mask_version += 1

    def interact(self, name: str) -> Job:
        """Run the interaction network on the pending frame (an ``interact`` job; the result is a
        preview shown on that frame until the round is propagated or the strokes change)."""
        with self._lock:
            st = self.sequence(name)
            session = self.session(name)
            if session.pending_frame is None:
                raise InputError(None, "no strokes to interpret", "draw a scribble or click on a frame first")
            if not session.object_ids:
                raise InputError(None, "the sequence has no object", "add an object first")

            def work(job: Job) -> dict:
                job.progress(0, 1, session.pending_frame)
                ids = session.interact()
                st.preview = (int(session.pending_frame), ids.numpy().astype(np.uint8))
                st.mask_version += 1
                job.progress(1, 1)
                return {"frame": st.preview[0], "pixels": {str(o): int((st.preview[1] == o).sum()) for o in session.object_ids}}

            return self.start_job("interact", name, work)

    def propagate(self, name: str, direction: str = "both") -> Job:
        """Commit the pending interaction and propagate it (a ``propagate`` job).

        ``direction``: ``both`` / ``forward`` / ``backward`` (bounded by frames annotated in earlier
        rounds, docs/interactive.md), or ``none`` (commit the frame only).

        Raises:
            InputError: no pending strokes, no object, an unknown direction; Busy: a job is running.
        """
        if direction not in ("both", "forward", "backward", "none"):
            raise InputError(None, f"unknown direction {direction!r}", "use both, forward, backward or none")
        with self._lock:
            st = self.sequence(name)
            session = self.session(name)
            if session.pending_frame is None:
                raise InputError(None, "nothing to propagate", "draw a scribble or click on a frame first")
            if not session.object_ids:
                raise InputError(None, "the sequence has no object", "add an object first")
            frame, strokes = int(session.pending_frame), session.pending_strokes

            def work(job: Job) -> dict:
                rounds_before = session.num_rounds

                def progress(done: int, total: int, f: int) -> None:
                    job.progress(done, total, f)
                    st.mask_version += 1

                stop: Any = (lambda: True) if direction == "none" else job.cancel
                try:
                    result = session.propagate("both" if direction == "none" else direction, progress, stop)
                finally:
                    if session.num_rounds > rounds_before:
                        st.rounds.append(RoundLog(frame, strokes, direction))
                    st.preview = None
                    st.mask_version += 1
                log_entry = st.rounds[-1]
                log_entry.frames_done, log_entry.cancelled = result.frames_done, result.cancelled and direction != "none"
                log_entry.seconds_interaction, log_entry.seconds_propagation = result.seconds_interaction, result.seconds_propagation
                fps = result.frames_done / result.seconds_propagation if result.seconds_propagation > 0 else None
                return {"frame": frame, "frames_done": result.frames_done, "cancelled": log_entry.cancelled,
                        "seconds_interaction": round(result.seconds_interaction, 3), "seconds_propagation": round(result.seconds_propagation, 3),
                        "frames_per_second": round(fps, 3) if fps else None,
                        "message": f"round {len(st.rounds)} on frame {frame}: {result.frames_done} frames propagated"
                                   + (" (cancelled)" if log_entry.cancelled else "")}

            return self.start_job("propagate", name, work)

    def undo(self, name: str) -> bool:
        """Take the last round of ``name`` back; False when there is none.

        Raises:
            Busy: a job is running (cancel it first).
        """
        with self._lock:
            self._check_idle()
            st = self.sequence(name)
            ok = self.session(name).undo()
            if ok and len(st.rounds) > self.session(name).num_rounds:
                st.rounds.pop()
            st.preview = None
            st.mask_version += 1
            return ok

    # ------------------------------------------------------------------ output
    def export(self, name: str, overwrite: bool = False, masks: bool = True, scribbles: bool = True, video: bool = False) -> Job:
        """Write the masks, the round log and optionally the overlay video (an ``export`` job;
        layout in :mod:`evolve.apps.annotate.export`).

        Raises:
            ExistingFiles: a target exists and ``overwrite`` is False (nothing is written);
            InputError: no round yet; Busy: a job is running.
        """
        from evolve.apps.annotate.export import ExistingFiles, existing, export_masks, export_scribbles, export_video, plan_export

        with self._lock:
            self._check_idle()
            st = self.sequence(name)
            session = self.session(name)
            if not st.rounds:
                raise InputError(None, "nothing to export: no round yet", "draw a scribble and propagate first")
            rounds = list(st.rounds)
            plan = plan_export(self.out_root, st.loaded, len(rounds), masks, scribbles, video)
            there = existing(plan)
            if there and not overwrite:
                raise ExistingFiles(there)

            def work(job: Job) -> dict:
                ids = session.masks()  # (T, h, w) uint8
                written = export_masks(plan, st.loaded, ids, job.progress, job.cancel.is_set)
                if job.cancel.is_set():
                    return {"message": f"cancelled after {written} masks", "masks": written}
                n_json = export_scribbles(plan, st.loaded, rounds)
                wrote_video = plan.video is not None and export_video(plan.video, st.loaded, ids, cancel=job.cancel.is_set)
                folder = plan.masks[0].parent if plan.masks else self.out_root
                return {"masks": written, "scribbles": n_json, "video": str(plan.video) if wrote_video else None, "folder": str(folder),
                        "message": f"exported {written} masks and {n_json} scribble files to {self.out_root}"
                                   + (" and the overlay video" if wrote_video else "")}

            return self.start_job("export", name, work)

    # ------------------------------------------------------------------ events, weights
    def synthesize_events(self, name: str) -> Job:
        """Simulate events for a sequence that has none (a ``synthesize`` job).

        Raises:
            InputError: the sequence has events already (recorded or synthesised); Busy: a job is running.
        """
        from evolve.apps.annotate.events import synthesize_voxels, with_voxels

        st = self.sequence(name)
        if st.loaded.has_events or st.loaded.events_synthetic:
            what = "recorded" if st.loaded.has_events else "synthesised"
            raise InputError(None, f"sequence {name!r} has {what} events already", "nothing to synthesise")
        bins = self.networks.num_bins if (self.networks is not None and self.networks.events) else self.config.num_bins

        def work(job: Job) -> dict:
            voxels = synthesize_voxels(st.loaded, bins, progress=job.progress, cancel=job.cancel.is_set)
            if voxels is None:
                return {"message": "cancelled"}
            st.loaded.frames = with_voxels(st.loaded, voxels)
            st.loaded.events_synthetic = True
            if self.networks is not None and st.session is not None:
                st.attach(self.networks, self.config)
            st.events_version += 1
            return {"message": f"synthesised events for {st.loaded.num_frames} frames (simulator, {bins} bins)"}

        return self.start_job("synthesize", name, work)

    def load_weights(self, weights: Path, interaction_weights: Optional[Path]) -> Job:
        """Load other weights (a ``weights`` job); on success every open session moves onto them.

        Raises:
            InputError: no loader configured; Busy: a job is running.
        """
        if self.loader is None:
            raise InputError(None, "loading weights from the page is not available", "restart evolve-annotate with --weights")

        def work(job: Job) -> dict:
            nets = self.loader(weights, interaction_weights)
            with self._lock:
                self.networks, self.networks_error = nets, None
                for name, st in self.sequences.items():
                    st.attach(nets, self.config)
                    vox = st.loaded.voxel(0)
                    if nets.events and vox is not None and vox.shape[0] != nets.num_bins:
                        self.message("warning", f"{name} was read with {vox.shape[0]} voxel bins but the networks read {nets.num_bins}: "
                                                "they get zero voxel grids until evolve-annotate is restarted with these weights")
            return {"message": f"loaded {nets.description}"}

        return self.start_job("weights", None, work)

    # ------------------------------------------------------------------ the page's view
    def snapshot(self) -> dict[str, Any]:
        """Everything the page needs to draw itself (``GET /api/state``)."""
        ws = self.workspace
        cur = self.sequences.get(self.current) if self.current else None
        return {
            "workspace": {"root": str(ws.root), "kind": ws.kind, "description": ws.description, "sequences": ws.sequences(),
                          "out_root": str(self.out_root), "opened": sorted(self.sequences)},
            "networks": {"ok": self.networks is not None, "description": self.networks.description if self.networks else None,
                         "error": self.networks_error},
            "current": self.current,
            "sequence": cur.as_dict() if cur is not None else None,
            "job": self.job.as_dict() if self.job is not None else None,
            "messages": list(self.messages),
            "limits": {"max_strokes_per_request": self.config.max_strokes_per_request, "max_points_per_stroke": self.config.max_points_per_stroke},
        }
