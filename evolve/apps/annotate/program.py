"""``evolve-annotate``: serve the annotation page for a dataset, a sequence folder or a video file.

    evolve-annotate --data data/lle_davis2016 --weights evolve_small.pth --interaction-weights interaction.pth
    evolve-annotate --data clip.mp4 --weights gltm.pth --size 240 --port 8800

The server binds to 127.0.0.1 (this machine only) unless ``--host`` says otherwise and prints
the address to open. Bad weights do not stop it: the page shows why, and other weights can be
loaded from it. Docs: docs/annotate.md.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, Optional, Sequence

from evolve.apps.runner import console_entry, run_program
from evolve.utils.errors import InputError

log = logging.getLogger("evolve.annotate")

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def build_parser() -> argparse.ArgumentParser:
    """The command line (also used by the docs)."""
    p = argparse.ArgumentParser(prog="evolve-annotate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="dataset root (lle_vos / lle_davis / davis / generic), a sequence folder, or a video file")
    p.add_argument("--weights", help="EVOLVE weights (with --interaction-weights) or GLTM weights")
    p.add_argument("--interaction-weights", help="the interaction network's weights (arch: interaction), for EVOLVE propagation")
    p.add_argument("--model", help="config of --weights (small, base, gltm, a YAML; name:key=value,... adds overrides); default: detected")
    p.add_argument("--interaction-model", help="config of --interaction-weights (default: detected)")
    p.add_argument("--out", help="output folder (default: <data>/evolve_annotate, or <video>_annotate next to a video)")
    p.add_argument("--size", type=int, default=480, help="working size: shorter side in pixels, frames are only shrunk (-1 = native; 240 is quicker on a CPU)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (0 = any free port)")
    p.add_argument("--layout", default="auto", choices=["auto", "lle_vos", "lle_davis", "davis", "generic"], help="dataset layout (default: detected)")
    p.add_argument("--image-dir", help="generic layout: frame folder relative to --data")
    p.add_argument("--mask-dir", help="generic layout: mask folder relative to --data")
    p.add_argument("--event-dir", help="generic layout: event chunk folder relative to --data")
    p.add_argument("--voxel-dir", help="generic layout: voxel cache folder relative to --data")
    p.add_argument("--max-frames", type=int, default=3000, help="frames read from a video file")
    p.add_argument("--max-request-bytes", type=int, default=1 << 20, help="largest request body accepted (bytes)")
    p.add_argument("--sequence", help="sequence to open at start (default: the first one when there is only one)")
    return p


def build_state(args: argparse.Namespace) -> Any:
    """Open the data and load the networks as the command line says.

    Returns:
        The :class:`~evolve.apps.annotate.state.AnnotateState`.
    Raises:
        InputError: the data cannot be opened, or bad option values. (Weights that cannot be
            loaded are not an error here: the page shows the message.)
    """
    from evolve.apps.annotate.networks import load_networks
    from evolve.apps.annotate.state import AnnotateState, StateConfig
    from evolve.apps.annotate.workspace import open_workspace
    from evolve.utils.devices import resolve_device

    if args.size == 0 or args.size < -1:
        raise InputError(None, f"--size {args.size}", "give the shorter side in pixels (e.g. 480 or 240), or -1 for native")
    if args.max_request_bytes < 4096:
        raise InputError(None, f"--max-request-bytes {args.max_request_bytes} is too small", "use at least 4096")
    device = resolve_device(args.device)
    ws = open_workspace(args.data, args.layout, args.max_frames, image_dir=args.image_dir, mask_dir=args.mask_dir,
                        event_dir=args.event_dir, voxel_dir=args.voxel_dir)
    out = Path(args.out).expanduser() if args.out else ws.default_output()
    if out.exists() and not out.is_dir():
        raise InputError(out, "--out is a file", "give a folder")

    def loader(weights: Path, interaction_weights: Optional[Path]):
        return load_networks(weights, interaction_weights, args.model, args.interaction_model, device)

    networks, error = None, None
    if args.weights:
        try:
            networks = loader(Path(args.weights), Path(args.interaction_weights) if args.interaction_weights else None)
        except InputError as exc:
            error = f"the weights could not be loaded: {exc}"
    else:
        error = "no weights given: viewing only (start with --weights, or load weights in the page)"
    return AnnotateState(ws, out, StateConfig(size=args.size), networks, error, loader)


def annotate_program(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the command line, open the data, serve until Ctrl-C; returns the exit code."""
    import uvicorn

    from evolve.apps.annotate.server import create_app

    args = build_parser().parse_args(argv)
    state = build_state(args)
    if args.host not in LOOPBACK:
        log.warning("binding %s: anyone who can reach this machine can read and write under %s", args.host, state.workspace.root)
    first = args.sequence or (state.workspace.sequences()[0] if len(state.workspace.sequences()) == 1 else None)
    if first is not None:
        state.open_sequence(first)
    app = create_app(state, args.max_request_bytes)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    host = f"[{args.host}]" if ":" in args.host else args.host

    async def announce() -> None:  # print the address once the socket is bound (port 0 = any)
        port = args.port
        for s in getattr(server, "servers", []):
            for sock in s.sockets:
                port = sock.getsockname()[1]
        print(f"evolve-annotate: {state.workspace.description}\n  networks: {state.networks.description if state.networks else state.networks_error}"
              f"\n  outputs: {state.out_root}\n  open http://{host}:{port}/  (Ctrl-C to stop)", flush=True)

    import asyncio

    original_startup = server.startup

    async def startup(sockets: Any = None) -> None:
        await original_startup(sockets=sockets)
        await announce()

    server.startup = startup  # type: ignore[method-assign]
    try:
        asyncio.run(server.serve())
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`annotate_program` under the project's runner; returns the exit code."""
    return run_program(annotate_program, argv)


console = console_entry(annotate_program)
