"""Screenshots of evolve-annotate for docs/annotate.md, taken in headless Chromium (Selenium).

Starts the app on ``--data`` (a converted DAVIS 2016 sequence by default), draws a positive
scribbles across the object (rows from the ground truth of ``--frame``) exactly as a user would
with the mouse, lets the interaction network run, propagates forward and takes the pictures:

- ``annotate_frame.jpg``: the low-light frame as stored, the scribble and the interaction preview;
- ``annotate_bright.jpg``: the same frame brightened, after the round;
- ``annotate_events.jpg``: the event view (net ON red, OFF blue) with the mask over it;
- ``annotate_overlay.jpg``: a later frame while propagation is still running (progress in the
  header, masks appearing frame by frame), brightened frame with events blended in; the
  propagation is then cancelled (the frames done stay).

    python scripts/annotate_screenshots.py --data /work/data/lle_davis2016 --sequence blackswan \
        --weights gltm.pth --out docs/images
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evolve.apps.annotate.program import build_parser, build_state  # noqa: E402
from evolve.apps.annotate.server import create_app  # noqa: E402
from evolve.data.image_io import read_mask  # noqa: E402


def save_jpeg(driver, path: Path, quality: int = 85) -> None:
    """The page as a JPEG (screenshots of video frames are large as PNG)."""
    import io

    from PIL import Image

    Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB").save(path, quality=quality)


def wait(cond, timeout=600.0, what="condition"):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/work/data/lle_davis2016")
    ap.add_argument("--sequence", default="blackswan")
    ap.add_argument("--frame", type=int, default=10)
    ap.add_argument("--overlay-after", type=int, default=2, help="screenshot the overlay once this many frames are propagated")
    ap.add_argument("--strokes", type=int, default=3, help="positive scribbles across the object (rows between its 30th and 70th percentile)")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--interaction-weights")
    ap.add_argument("--size", type=int, default=480)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = ap.parse_args()

    import uvicorn
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    out_tmp = Path(tempfile.mkdtemp(prefix="annotate_shots_"))
    argv = ["--data", args.data, "--weights", args.weights, "--size", str(args.size), "--out", str(out_tmp / "out"), "--device", "cpu"]
    if args.interaction_weights:
        argv += ["--interaction-weights", args.interaction_weights]
    state = build_state(build_parser().parse_args(argv))
    if state.networks is None:
        raise SystemExit(state.networks_error)
    state.open_sequence(args.sequence)
    state.wait(3600)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    wait(lambda: srv.started, 60, "the server")

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--window-size=1440,900", f"--user-data-dir={out_tmp / 'chromium'}"):
        opts.add_argument(flag)
    d = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    args.out.mkdir(parents=True, exist_ok=True)
    ready = lambda t: d.execute_script("return document.body.dataset.ready === '1' && document.body.dataset.frame === arguments[0];", str(t))  # noqa: E731
    status = lambda: d.find_element("id", "job-status")  # noqa: E731
    try:
        d.get(f"http://127.0.0.1:{port}/")
        wait(lambda: ready(0), what="frame 0")
        d.find_element("id", "obj-add").click()
        wait(lambda: d.find_elements("css selector", ".obj-btn.active[data-id='1']"), what="object 1")
        for _ in range(args.frame):
            ActionChains(d).send_keys(Keys.ARROW_RIGHT).perform()
        wait(lambda: ready(args.frame), what=f"frame {args.frame}")
        stem = state.sequences[args.sequence].loaded.stems[args.frame]
        gt = read_mask(Path(args.data) / "trainval_480p" / "Annotations" / args.sequence / f"{stem}.png")[0]
        ys, xs = np.nonzero(gt > 0)
        h, w = gt.shape
        canvas = d.find_element("id", "canvas")
        rw, rh = d.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", canvas)
        top, bottom = np.percentile(ys, 30), np.percentile(ys, 70)
        for row in np.linspace(top, bottom, args.strokes).round().astype(int):  # strokes across the object
            cols = xs[ys == row]
            if cols.size < 10:
                continue
            pts = [(int((c + 0.5) * rw / w - rw / 2), int((row + 0.5) * rh / h - rh / 2)) for c in np.linspace(cols.min() + 4, cols.max() - 4, 10)]
            before = status().get_attribute("data-id")
            chain = ActionChains(d).move_to_element_with_offset(canvas, *pts[0]).click_and_hold()
            for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
                chain = chain.move_by_offset(x1 - x0, y1 - y0)
            chain.release().perform()
            wait(lambda: status().get_attribute("data-id") != before and status().get_attribute("data-kind") == "interact"
                 and status().get_attribute("data-status") == "done", what="interaction")
        wait(lambda: ready(args.frame) and int(d.find_element("id", "mask-pixels").text) > 0, what="the preview")
        save_jpeg(d, args.out / "annotate_frame.jpg")
        d.find_element("id", "prop-fwd").click()
        wait(lambda: state.job is not None and state.job.kind == "propagate" and state.job.done >= args.overlay_after, what="propagation")
        ActionChains(d).send_keys("2").perform()  # brightened
        d.execute_script("const e = document.getElementById('events-blend'); e.value = 35; e.dispatchEvent(new Event('input'));")
        for _ in range(args.overlay_after):
            ActionChains(d).send_keys(Keys.ARROW_RIGHT).perform()
        wait(lambda: ready(args.frame + args.overlay_after), what="a propagated frame")
        save_jpeg(d, args.out / "annotate_overlay.jpg")
        d.find_element("id", "cancel-btn").click()  # stop between frames; the frames done stay
        wait(lambda: status().get_attribute("data-kind") == "propagate" and status().get_attribute("data-status") in ("done", "cancelled"), 3600,
             "the end of propagation")
        d.execute_script("const e = document.getElementById('events-blend'); e.value = 0; e.dispatchEvent(new Event('input'));")
        for _ in range(args.overlay_after):
            ActionChains(d).send_keys(Keys.ARROW_LEFT).perform()
        wait(lambda: ready(args.frame), what="the annotated frame")
        save_jpeg(d, args.out / "annotate_bright.jpg")
        ActionChains(d).send_keys("3").perform()  # events
        wait(lambda: ready(args.frame), what="the event view")
        time.sleep(0.5)
        save_jpeg(d, args.out / "annotate_events.jpg")
    finally:
        d.quit()
        srv.should_exit = True
    print("screenshots in", args.out)


if __name__ == "__main__":
    main()
