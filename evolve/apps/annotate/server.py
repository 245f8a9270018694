"""The FastAPI application of evolve-annotate: a JSON API over :class:`~evolve.apps.annotate.state.AnnotateState`
and the static page.

API (every body is JSON; errors are ``{"error": message}``):

==========================================  =================================================================
``GET /``                                   the page (``static/index.html``); ``/static/...`` its files
``GET /api/state``                          everything the page draws (workspace, networks, sequence, job, messages)
``POST /api/open {sequence}``               open a sequence (a ``load`` job unless already open)
``POST /api/objects {sequence}``            add an object -> ``{object_id}``
``POST /api/strokes {sequence, frame, strokes}``  add scribbles/clicks (normalised ``[x, y]`` points)
``POST /api/strokes/clear {sequence}``      drop the pending strokes
``POST /api/interact {sequence}``           run the interaction network (job; result shown as a preview)
``POST /api/propagate {sequence, direction}``  commit the round and propagate (job)
``POST /api/undo {sequence}``               take the last round back
``POST /api/events/synthesize {sequence}``  simulate events for a sequence without any (job)
``POST /api/export {sequence, overwrite, masks, scribbles, video}``  write the outputs (job); 409 lists existing files
``POST /api/weights {weights, interaction_weights}``  load weights under the opened folder (job)
``GET /api/job``, ``POST /api/job/cancel``  progress of the running job; stop it between frames
``GET /api/seq/{name}/frame/{t}?view=``     frame ``t``: ``frame`` (as stored), ``bright``, ``events``, ``normal``
``GET /api/seq/{name}/mask/{t}``            RGBA PNG: object colours (palette), transparent background
==========================================  =================================================================

Status codes: 400 bad input (:class:`~evolve.utils.errors.InputError`, the message names the fix),
403 a path outside the opened folders, 404 unknown frame, 409 busy (a job runs) or existing
files (export without confirmation), 413 a request body over the limit, 422 a malformed body,
500 a bug (the server keeps running).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from evolve.apps.annotate.export import ExistingFiles
from evolve.apps.annotate.state import AnnotateState, Busy
from evolve.apps.annotate.workspace import PathRefused, confine
from evolve.data.scribbles import Stroke
from evolve.utils.errors import InputError
from evolve.vis.overlay import voxel_event_picture

log = logging.getLogger("evolve.annotate")

STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Default bound of a request body in bytes (strokes of a few thousand points fit easily).
DEFAULT_MAX_BODY = 1 << 20


# ---------------------------------------------------------------------- request bodies
class SequenceBody(BaseModel):
    sequence: str = Field(max_length=256)


class StrokeBody(BaseModel):
    points: list[tuple[float, float]] = Field(min_length=1)
    object_id: int = Field(ge=0, le=255)
    positive: bool = True
    duration_ms: float = Field(default=0.0, ge=0.0, le=3.6e6)


class StrokesBody(SequenceBody):
    frame: int = Field(ge=0)
    strokes: list[StrokeBody] = Field(min_length=1)


class PropagateBody(SequenceBody):
    direction: str = "both"


class ExportBody(SequenceBody):
    overwrite: bool = False
    masks: bool = True
    scribbles: bool = True
    video: bool = False


class WeightsBody(BaseModel):
    weights: str = Field(min_length=1, max_length=1024)
    interaction_weights: Optional[str] = Field(default=None, max_length=1024)


def _error(status: int, text: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": text, **extra}, status_code=status)


def _png(image: np.ndarray) -> Response:
    """RGB (H, W, 3) or RGBA (H, W, 4) uint8 -> PNG response."""
    code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, code))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return Response(buf.tobytes(), media_type="image/png", headers={"Cache-Control": "no-store"})


def _jpeg(image: np.ndarray, quality: int = 92) -> Response:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return Response(buf.tobytes(), media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def mask_layer(ids: np.ndarray, palette: bytes) -> np.ndarray:
    """The page's mask layer: uint8 (H, W) ids -> RGBA (H, W, 4), object pixels in their palette
    colour (opaque; the page sets the opacity), each object's boundary pixels lightened halfway
    to white so dark palette colours stay visible on dark frames, background transparent."""
    pal = np.frombuffer(palette[:768], np.uint8).reshape(256, 3)
    rgba = np.zeros((*ids.shape, 4), np.uint8)
    rgba[..., :3] = pal[ids]
    rgba[..., 3] = np.where(ids > 0, 255, 0)
    edge = (cv2.morphologyEx(ids, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0) & (ids > 0)  # (H, W) inner boundaries
    rgba[edge, :3] = (rgba[edge, :3].astype(np.uint16) + 255) // 2
    return rgba


def event_layer(voxel: Any, percentile: float = 99.0) -> np.ndarray:
    """The events blended over a frame: RGBA (H, W, 4) from the net polarity of a (B, H, W) voxel
    grid, ON red and OFF blue (:mod:`evolve.vis.events` colours), opacity |net| / scale (scale =
    the ``percentile`` of |net| over pixels with events, as :func:`evolve.vis.overlay.voxel_event_picture`),
    transparent where there is no event."""
    from evolve.vis.events import OFF_COLOUR, ON_COLOUR, voxel_scale

    net = voxel.float().sum(0).numpy() if hasattr(voxel, "numpy") else np.asarray(voxel, np.float32).sum(0)  # (H, W)
    v = np.clip(net / voxel_scale(net[None], percentile), -1.0, 1.0)
    rgba = np.zeros((*net.shape, 4), np.uint8)
    rgba[v > 0, :3] = ON_COLOUR
    rgba[v < 0, :3] = OFF_COLOUR
    rgba[..., 3] = (np.abs(v) * 255.0 + 0.5).astype(np.uint8)
    return rgba


def create_app(state: AnnotateState, max_body_bytes: int = DEFAULT_MAX_BODY) -> FastAPI:
    """The FastAPI application serving ``state`` (module docstring).

    Args:
        state: the server state.
        max_body_bytes: the request-body bound (413 above it, FastAPI's ``max_body_size``).
    """
    # FastAPI's own request-body limit: 413 by Content-Length, or while a chunked body streams in
    app = FastAPI(title="evolve-annotate", docs_url=None, redoc_url=None, openapi_url=None, max_body_size=int(max_body_bytes))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        text = "request body too large" if exc.status_code == 413 else str(exc.detail)
        return _error(exc.status_code, text)

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(PathRefused)
    async def _refused(request: Request, exc: PathRefused) -> JSONResponse:
        return _error(403, f"refused: {exc}")

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy) -> JSONResponse:
        return _error(409, str(exc), job=exc.job.as_dict())

    @app.exception_handler(ExistingFiles)
    async def _exists(request: Request, exc: ExistingFiles) -> JSONResponse:
        return _error(409, str(exc), existing=len(exc.paths), examples=[str(p) for p in exc.paths[:5]], need_confirmation=True)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        state.message("error", f"unexpected error: {type(exc).__name__}: {exc}")
        return _error(500, f"unexpected error: {type(exc).__name__}: {exc}")

    def job_reply(job) -> dict:
        return {"job": job.as_dict() if job is not None else None}

    # -------------------------------------------------------------- page and state
    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/state")
    def get_state() -> dict:
        return state.snapshot()

    @app.get("/api/job")
    def get_job() -> dict:
        return job_reply(state.job)

    @app.post("/api/job/cancel")
    def cancel_job() -> dict:
        return {"cancelled": state.cancel()}

    # -------------------------------------------------------------- actions
    @app.post("/api/open")
    def open_sequence(body: SequenceBody) -> dict:
        return job_reply(state.open_sequence(body.sequence))

    @app.post("/api/objects")
    def add_object(body: SequenceBody) -> dict:
        return {"object_id": state.add_object(body.sequence)}

    @app.post("/api/strokes")
    def add_strokes(body: StrokesBody) -> dict:
        lim = state.config
        if len(body.strokes) > lim.max_strokes_per_request:
            raise InputError(None, f"{len(body.strokes)} strokes in one request (limit {lim.max_strokes_per_request})", "send fewer strokes per request")
        for s in body.strokes:
            if len(s.points) > lim.max_points_per_stroke:
                raise InputError(None, f"a stroke has {len(s.points)} points (limit {lim.max_points_per_stroke})", "simplify the stroke")
        strokes = [Stroke(tuple((float(x), float(y)) for x, y in s.points), s.object_id, s.positive) for s in body.strokes]
        n = state.add_strokes(body.sequence, body.frame, strokes, [s.duration_ms for s in body.strokes])
        return {"pending": n}

    @app.post("/api/strokes/clear")
    def clear_strokes(body: SequenceBody) -> dict:
        state.clear_strokes(body.sequence)
        return {"pending": 0}

    @app.post("/api/interact")
    def interact(body: SequenceBody) -> dict:
        return job_reply(state.interact(body.sequence))

    @app.post("/api/propagate")
    def propagate(body: PropagateBody) -> dict:
        return job_reply(state.propagate(body.sequence, body.direction))

    @app.post("/api/undo")
    def undo(body: SequenceBody) -> dict:
        return {"undone": state.undo(body.sequence)}

    @app.post("/api/events/synthesize")
    def synthesize(body: SequenceBody) -> dict:
        return job_reply(state.synthesize_events(body.sequence))

    @app.post("/api/export")
    def export(body: ExportBody) -> dict:
        return job_reply(state.export(body.sequence, body.overwrite, body.masks, body.scribbles, body.video))

    @app.post("/api/weights")
    def load_weights(body: WeightsBody) -> dict:
        root = state.workspace.root
        w = confine(root, body.weights)
        iw = confine(root, body.interaction_weights) if body.interaction_weights else None
        for p in (w, iw):
            if p is not None and not p.is_file():
                raise InputError(p, "weights file does not exist", "give a .pth path relative to the opened folder")
        return job_reply(state.load_weights(w, iw))

    # -------------------------------------------------------------- pictures
    def frame_index(name: str, t: int):
        st = state.sequence(name)
        if not 0 <= t < st.loaded.num_frames:
            raise IndexError(t)
        return st

    @app.get("/api/seq/{name}/frame/{t}")
    def frame_image(name: str, t: int, view: str = "frame") -> Response:
        try:
            st = frame_index(name, t)
        except IndexError:
            return _error(404, f"no frame {t}")
        seq = st.loaded
        if view == "frame":
            return _jpeg(seq.rgb_u8(t))
        if view == "bright":
            return _jpeg(np.clip(seq.rgb_u8(t).astype(np.float32) * seq.gain + 0.5, 0, 255).astype(np.uint8))
        if view in ("events", "events_layer"):
            voxel = seq.voxel(t)
            if voxel is None:
                return _error(404, "this sequence has no events; synthesise them from the frames (button 'Synthesise events')")
            return _png(voxel_event_picture(voxel) if view == "events" else event_layer(voxel))
        if view == "normal":
            path = seq.normal_frames[t] if seq.normal_frames else None
            if path is None:
                return _error(404, "no normal-light frame for this frame")
            from evolve.data.image_io import read_frame

            rgb = read_frame(path)
            return _jpeg(cv2.resize(rgb, (seq.size[1], seq.size[0]), interpolation=cv2.INTER_AREA) if rgb.shape[:2] != seq.size else rgb)
        raise InputError(None, f"unknown view {view!r}", "use frame, bright, events, events_layer or normal")

    @app.get("/api/seq/{name}/mask/{t}")
    def mask_image(name: str, t: int) -> Response:
        try:
            st = frame_index(name, t)
        except IndexError:
            return _error(404, f"no frame {t}")
        return _png(mask_layer(st.mask(t), st.loaded.palette))

    return app
