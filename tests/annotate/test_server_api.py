"""The evolve-annotate server through its HTTP API (FastAPI TestClient, no browser): pictures, path
traversal, request bounds, bad weights, concurrent propagation requests, rounds, undo, export
(layout, palette, size, overwrite confirmation, scribble JSON), cancellation, state across clients."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from evolve.apps.annotate.networks import Networks
from evolve.apps.annotate.server import create_app
from evolve.apps.annotate.state import AnnotateState, StateConfig
from evolve.apps.annotate.workspace import open_workspace
from evolve.data.image_io import read_mask
from evolve.data.scribble_json import read_scribble_json
from evolve.inference.interactive import GLTMPropagator, Interactor
from tests.annotate.conftest import SEQ

STROKE = {"points": [[0.3, 0.5], [0.5, 0.5], [0.6, 0.55]], "object_id": 1, "positive": True, "duration_ms": 250}


def _client(root: Path, out: Path, networks=None, error=None, loader=None, size=-1, max_body=1 << 20):
    state = AnnotateState(open_workspace(root), out, StateConfig(size=size), networks, error, loader)
    return TestClient(create_app(state, max_body)), state


def _wait(client: TestClient, timeout: float = 120.0) -> dict:
    t0 = time.time()
    while time.time() - t0 < timeout:
        job = client.get("/api/job").json()["job"]
        if job is None or job["status"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def _open(client: TestClient, seq: str = SEQ) -> dict:
    r = client.post("/api/open", json={"sequence": seq})
    assert r.status_code == 200, r.text
    job = _wait(client)
    assert job is None or job["status"] == "done", job
    return client.get("/api/state").json()["sequence"]


def _decode(content: bytes, flags=cv2.IMREAD_UNCHANGED) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(content, np.uint8), flags)


class GatedGLTM(GLTMPropagator):
    """GLTM propagation that waits for ``gate`` before its first frame (deterministic 'still running')."""

    def __init__(self, net, gate: threading.Event, entered: threading.Event | None = None) -> None:
        super().__init__(net)
        self.gate = gate
        self.entered = entered or threading.Event()

    def propagate(self, *args, **kwargs):
        self.entered.set()
        assert self.gate.wait(60)
        return super().propagate(*args, **kwargs)


def test_page_state_and_pictures(demo_root, tmp_path, gltm_networks):
    client, state = _client(demo_root, tmp_path / "out", gltm_networks)
    page = client.get("/")
    assert page.status_code == 200 and "evolve-annotate" in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200 and client.get("/static/app.css").status_code == 200
    st = client.get("/api/state").json()
    assert st["workspace"]["sequences"] == [SEQ] and st["networks"]["ok"] and st["sequence"] is None
    seq = _open(client)
    assert seq["num_frames"] == 10 and seq["size"] == [64, 64] and seq["has_events"] and not seq["events_synthetic"] and seq["has_normal"]
    frame = _decode(client.get(f"/api/seq/{SEQ}/frame/3?view=frame").content, cv2.IMREAD_COLOR)
    bright = _decode(client.get(f"/api/seq/{SEQ}/frame/3?view=bright").content, cv2.IMREAD_COLOR)
    assert frame.shape == (64, 64, 3) and bright.mean() > 1.5 * frame.mean()  # the low-light frame brightened
    events = _decode(client.get(f"/api/seq/{SEQ}/frame/3?view=events").content, cv2.IMREAD_COLOR)
    voxel_sum = state.sequences[SEQ].loaded.voxel(3).sum(0).numpy()
    white = (events == 255).all(-1)
    assert events.shape == (64, 64, 3) and np.array_equal(white, voxel_sum == 0)  # white exactly where no net event
    normal = _decode(client.get(f"/api/seq/{SEQ}/frame/3?view=normal").content, cv2.IMREAD_COLOR)
    assert normal.mean() > 2 * frame.mean()
    mask = _decode(client.get(f"/api/seq/{SEQ}/mask/3").content)
    assert mask.shape == (64, 64, 4) and not mask[..., 3].any()  # nothing annotated: fully transparent
    assert client.get(f"/api/seq/{SEQ}/frame/10").status_code == 404
    assert client.get(f"/api/seq/{SEQ}/frame/3?view=xray").status_code == 400


def test_path_traversal_is_refused(demo_root, tmp_path, gltm_networks):
    root = tmp_path / "root"
    shutil.copytree(demo_root / "trainval_480p" / "Lowlight_Images" / SEQ, root)
    (tmp_path / "secret.pth").write_bytes(b"secret")
    (root / "link").symlink_to(tmp_path)
    client, _ = _client(root, tmp_path / "out", gltm_networks)
    for name in ("../secret", "..", "/etc", "root/../../x"):
        assert client.post("/api/open", json={"sequence": name}).status_code == 403
    for path in ("../secret.pth", str(tmp_path / "secret.pth"), "link/secret.pth", "../../../../etc/passwd"):
        r = client.post("/api/weights", json={"weights": path})
        assert r.status_code == 403 and "refused" in r.json()["error"], (path, r.text)
    r = client.post("/api/weights", json={"weights": "00000.png", "interaction_weights": "../secret.pth"})
    assert r.status_code == 403
    for url in ("/api/seq/..%2F..%2Fetc/frame/0", "/api/seq/%2E%2E/frame/0", "/static/..%2F..%2Fpyproject.toml", "/static/../server.py"):
        assert client.get(url).status_code in (403, 404), url
    assert client.post("/api/export", json={"sequence": "../root"}).status_code == 403
    assert client.get("/api/state").status_code == 200
    assert not (tmp_path / "out").exists()


def test_request_bounds(demo_root, tmp_path, gltm_networks):
    client, state = _client(demo_root, tmp_path / "out", gltm_networks, max_body=8192)
    _open(client)
    assert client.post("/api/objects", json={"sequence": SEQ}).json() == {"object_id": 1}
    big = {"sequence": SEQ, "frame": 0, "strokes": [{"points": [[0.5, 0.5]] * 2000, "object_id": 1}]}
    r = client.post("/api/strokes", json=big)
    assert r.status_code == 413 and "too large" in r.text.lower()

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        yield b'{"sequence": "' + SEQ.encode() + b'", "frame": 0, "strokes": ['
        for _ in range(400):
            yield b'{"points": [[0.5, 0.5]], "object_id": 1},'
        yield b'{"points": [[0.5, 0.5]], "object_id": 1}]}'

    r = client.post("/api/strokes", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    state.config.max_points_per_stroke = 10
    r = client.post("/api/strokes", json={"sequence": SEQ, "frame": 0, "strokes": [{"points": [[0.5, 0.5]] * 11, "object_id": 1}]})
    assert r.status_code == 400 and "limit 10" in r.json()["error"]
    state.config.max_strokes_per_request = 2
    r = client.post("/api/strokes", json={"sequence": SEQ, "frame": 0, "strokes": [STROKE] * 3})
    assert r.status_code == 400 and "3 strokes" in r.json()["error"]
    r = client.post("/api/strokes", json={"sequence": SEQ, "frame": 0, "strokes": [{"points": [[1.5, 0.5]], "object_id": 1}]})
    assert r.status_code == 400 and "outside the frame" in r.json()["error"]
    r = client.post("/api/strokes", json={"sequence": SEQ, "frame": 99, "strokes": [STROKE]})
    assert r.status_code == 400 and "outside the video" in r.json()["error"]
    r = client.post("/api/strokes", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert client.get("/api/state").json()["sequence"]["pending_strokes"] == []  # nothing half-applied


def test_bad_weights_leave_the_server_running(demo_root, tmp_path, gltm_weights):
    from evolve.apps.annotate.program import build_parser, build_state

    root = tmp_path / "root"
    shutil.copytree(demo_root / "trainval_480p" / "Lowlight_Images" / SEQ, root)
    (root / "garbage.pth").write_bytes(b"this is not a torch file")
    shutil.copy(gltm_weights, root / "gltm.pth")
    torch.save({"indicator_head.weight": torch.zeros(1)}, root / "interaction_like.pth")
    args = build_parser().parse_args(["--data", str(root), "--weights", str(root / "garbage.pth"), "--out", str(tmp_path / "out"), "--size", "-1"])
    state = build_state(args)
    assert state.networks is None and "garbage.pth" in state.networks_error
    client = TestClient(create_app(state))
    st = client.get("/api/state").json()
    assert not st["networks"]["ok"] and "garbage.pth" in st["networks"]["error"]
    assert any(m["level"] == "error" and "garbage.pth" in m["text"] for m in st["messages"])
    seq = _open(client, "root")  # viewing works without networks
    assert seq["num_frames"] == 10 and not seq["has_session"]
    r = client.post("/api/objects", json={"sequence": "root"})
    assert r.status_code == 400 and "no networks are loaded" in r.json()["error"]
    for bad, text in (("garbage.pth", "cannot load"), ("interaction_like.pth", "interaction-network weights")):
        assert client.post("/api/weights", json={"weights": bad}).status_code == 200
        job = _wait(client)
        assert job["status"] == "error" and text in job["message"], job
        assert client.get("/api/state").status_code == 200
    r = client.post("/api/weights", json={"weights": "missing.pth"})
    assert r.status_code == 400 and "does not exist" in r.json()["error"]
    assert client.post("/api/weights", json={"weights": "gltm.pth"}).status_code == 200
    job = _wait(client)
    assert job["status"] == "done", job
    st = client.get("/api/state").json()
    assert st["networks"]["ok"] and st["networks"]["description"] == "GLTM (events)" and st["sequence"]["has_session"]
    assert client.post("/api/objects", json={"sequence": "root"}).json() == {"object_id": 1}


def test_concurrent_propagation_requests(demo_root, tmp_path, gltm_net):
    gate = threading.Event()
    nets = Networks(Interactor(gltm_net.anet), lambda: GatedGLTM(gltm_net, gate), True, 5, "gated GLTM")
    client, state = _client(demo_root, tmp_path / "out", nets)
    _open(client)
    client.post("/api/objects", json={"sequence": SEQ})
    assert client.post("/api/strokes", json={"sequence": SEQ, "frame": 4, "strokes": [STROKE]}).json() == {"pending": 1}
    barrier = threading.Barrier(3)
    codes: list[int] = []

    def request() -> None:
        barrier.wait()
        codes.append(client.post("/api/propagate", json={"sequence": SEQ, "direction": "both"}).status_code)

    threads = [threading.Thread(target=request) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(codes) == [200, 409, 409]
    # while it runs, requests that would change the session are refused too
    busy = client.post("/api/strokes", json={"sequence": SEQ, "frame": 1, "strokes": [STROKE]})
    assert busy.status_code == 409 and busy.json()["job"]["kind"] == "propagate"
    assert client.post("/api/undo", json={"sequence": SEQ}).status_code == 409
    assert client.post("/api/export", json={"sequence": SEQ}).status_code == 409
    assert client.get(f"/api/seq/{SEQ}/mask/4").status_code == 200  # reading stays possible
    gate.set()
    job = _wait(client)
    assert job["status"] == "done" and job["result"]["frames_done"] == 9
    seq = client.get("/api/state").json()["sequence"]
    assert len(seq["rounds"]) == 1 and seq["annotated_frames"] == [4] and seq["pending_strokes"] == []


def test_cancel_keeps_the_frames_done(demo_root, tmp_path, gltm_net):
    gate, entered = threading.Event(), threading.Event()
    nets = Networks(Interactor(gltm_net.anet), lambda: GatedGLTM(gltm_net, gate, entered), True, 5, "gated GLTM")
    client, state = _client(demo_root, tmp_path / "out", nets)
    _open(client)
    client.post("/api/objects", json={"sequence": SEQ})
    client.post("/api/strokes", json={"sequence": SEQ, "frame": 0, "strokes": [STROKE]})
    client.post("/api/propagate", json={"sequence": SEQ, "direction": "forward"})
    assert entered.wait(60)  # the pass has started: cancelling now stops it after its current frame
    assert client.post("/api/job/cancel").json() == {"cancelled": True}
    gate.set()
    job = _wait(client)
    assert job["status"] == "cancelled" and job["result"]["cancelled"] and job["result"]["frames_done"] == 1
    seq = client.get("/api/state").json()["sequence"]
    assert seq["rounds"][0]["cancelled"] and seq["rounds"][0]["frames_done"] == 1
    assert client.post("/api/job/cancel").json() == {"cancelled": False}


def _alpha_pixels(client, t: int) -> np.ndarray:
    return _decode(client.get(f"/api/seq/{SEQ}/mask/{t}").content)[..., 3] > 0


def test_round_preview_undo_export_and_overwrite(demo_root, tmp_path, gltm_networks):
    out = tmp_path / "out"
    client, state = _client(demo_root, out, gltm_networks, size=32)  # work at 32x32, export at 64x64
    seq = _open(client)
    assert seq["size"] == [32, 32] and seq["original_size"] == [64, 64]
    assert client.post("/api/export", json={"sequence": SEQ}).status_code == 400  # no round yet
    client.post("/api/objects", json={"sequence": SEQ})
    client.post("/api/strokes", json={"sequence": SEQ, "frame": 2, "strokes": [STROKE, {**STROKE, "object_id": 0, "points": [[0.05, 0.05]]}]})
    assert client.post("/api/interact", json={"sequence": SEQ}).status_code == 200
    job = _wait(client)
    assert job["status"] == "done"
    session = state.session(SEQ)
    preview = state.sequences[SEQ].preview
    assert preview is not None and preview[0] == 2
    assert np.array_equal(_alpha_pixels(client, 2), preview[1] > 0)  # the page shows the preview
    assert session.annotated_frames == []  # not committed yet
    assert job["result"]["pixels"]["1"] == int((preview[1] == 1).sum())
    client.post("/api/propagate", json={"sequence": SEQ, "direction": "backward"})
    job = _wait(client)
    assert job["status"] == "done" and job["result"]["frames_done"] == 2  # frames 1, 0
    assert session.mask(5).eq(0).all()  # forward frames untouched
    masks = session.masks()
    client.post("/api/export", json={"sequence": SEQ, "video": True})
    job = _wait(client)
    assert job["status"] == "done" and job["result"]["masks"] == 10 and job["result"]["scribbles"] == 1
    palette = read_mask(demo_root / "trainval_480p" / "Annotations" / SEQ / "00000.png")[1]
    for t, stem in enumerate(state.sequences[SEQ].loaded.stems):
        path = out / "Annotations" / SEQ / f"{stem}.png"
        ids, pal = read_mask(path)
        expected = cv2.resize(masks[t], (64, 64), interpolation=cv2.INTER_NEAREST)
        assert Image.open(path).mode == "P" and pal == palette and np.array_equal(ids, expected)
    scribbles = read_scribble_json(out / "Scribbles" / SEQ / "001.json")
    assert scribbles.sequence == SEQ and scribbles.annotated_frame == 2 and len(scribbles.frames) == 10
    strokes = scribbles.frames[2]
    assert [s.object_id for s in strokes] == [1, 0] and strokes[0].points == tuple(tuple(p) for p in STROKE["points"])
    assert strokes[0].start_time == pytest.approx(max(strokes[0].end_time - 250, 0.0))  # ms since the sequence was opened
    video = cv2.VideoCapture(str(out / "Overlays" / f"{SEQ}.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    video.release()
    assert not list(out.rglob("*.tmp-*"))  # atomic writes leave no temporary file
    # a second export asks first and writes nothing without confirmation
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    r = client.post("/api/export", json={"sequence": SEQ})
    assert r.status_code == 409 and r.json()["need_confirmation"] and r.json()["existing"] == 11
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    # undo the round, annotate another frame, export with confirmation
    assert client.post("/api/undo", json={"sequence": SEQ}).json() == {"undone": True}
    assert session.annotated_frames == [] and session.mask(0).eq(0).all()
    assert client.post("/api/undo", json={"sequence": SEQ}).json() == {"undone": False}
    client.post("/api/strokes", json={"sequence": SEQ, "frame": 7, "strokes": [STROKE]})
    client.post("/api/propagate", json={"sequence": SEQ, "direction": "none"})
    job = _wait(client)
    assert job["result"]["frames_done"] == 0 and session.annotated_frames == [7]
    assert client.post("/api/export", json={"sequence": SEQ, "overwrite": True}).status_code == 200
    assert _wait(client)["status"] == "done"
    assert read_scribble_json(out / "Scribbles" / SEQ / "001.json").annotated_frame == 7
    ids7 = read_mask(out / "Annotations" / SEQ / f"{state.sequences[SEQ].loaded.stems[7]}.png")[0]
    assert np.array_equal(ids7, cv2.resize(session.masks()[7], (64, 64), interpolation=cv2.INTER_NEAREST))


def test_state_survives_a_new_client(demo_root, tmp_path, gltm_networks):
    client, state = _client(demo_root, tmp_path / "out", gltm_networks)
    _open(client)
    client.post("/api/objects", json={"sequence": SEQ})
    client.post("/api/strokes", json={"sequence": SEQ, "frame": 3, "strokes": [STROKE]})
    again = TestClient(create_app(state))  # a reloaded page: a new connection to the same server
    seq = again.get("/api/state").json()["sequence"]
    assert seq["pending_frame"] == 3 and seq["pending_strokes"][0]["points"] == STROKE["points"] and seq["objects"][0]["id"] == 1


def test_video_events_are_synthesised_on_request(tmp_path, gltm_networks):
    from tests.annotate.test_workspace import _video

    _video(tmp_path / "clip.mp4")
    client, state = _client(tmp_path / "clip.mp4", tmp_path / "clip_annotate", gltm_networks)
    seq = _open(client, "clip")
    assert not seq["has_events"] and client.get("/api/seq/clip/frame/2?view=events").status_code == 404
    assert client.post("/api/events/synthesize", json={"sequence": "clip"}).status_code == 200
    assert _wait(client)["status"] == "done"
    seq = client.get("/api/state").json()["sequence"]
    assert seq["has_events"] and seq["events_synthetic"]
    assert client.get("/api/seq/clip/frame/2?view=events").status_code == 200
    r = client.post("/api/events/synthesize", json={"sequence": "clip"})
    assert r.status_code == 400 and "synthesised events already" in r.json()["error"]
