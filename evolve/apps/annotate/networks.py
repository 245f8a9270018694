"""The networks behind an annotation session, loaded from weights files.

Two combinations (docs/interactive.md):

- the **interaction network** (``arch: interaction``, ``--interaction-weights``) + **EVOLVE**
  propagation with its memory (``--weights``, model ``small`` or ``base``, events on or off);
- **GLTM** (``--weights`` alone): its A-Net interprets the strokes, its transfer network propagates.

The architecture is read from the weights file (:func:`evolve.model.registry.arch_of_state_dict`);
the variant (model size, events on/off) is the first candidate config the tensors fit exactly
(no missing, no unexpected tensor), unless ``--model`` / ``--interaction-model`` names it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch

from evolve.inference.config import InferenceConfig
from evolve.inference.interactive import EvolvePropagator, GLTMPropagator, Interactor, Propagator
from evolve.model import registry
from evolve.model.weights import load_weights_from, read_weights_file
from evolve.utils.errors import InputError

#: Candidate configs tried in order when no model name is given (events on first: a frames-only
#: config would accept events-on weights with the event tensors left over as "unexpected").
EVOLVE_CANDIDATES = (("small", ()), ("small", ("events=false",)), ("base", ()), ("base", ("events=false",)))
INTERACTION_CANDIDATES = (("interaction", ()), ("interaction", ("events=false",)))
GLTM_CANDIDATES = (("gltm", ()), ("gltm", ("events=false",)))


@dataclass
class Networks:
    """What a session needs from the networks.

    Attributes:
        interactor: runs the interaction network (GLTM's A-Net for GLTM).
        make_propagator: a fresh propagation back-end (one per sequence).
        events: the networks read voxel grids (sequences without events get zero grids).
        num_bins: B of the voxel grids they read (5 when they read none).
        description: one line for the page ("interaction (events) + EVOLVE small (events)").
    """

    interactor: Interactor
    make_propagator: Callable[[], Propagator]
    events: bool
    num_bins: int
    description: str


def _fit(state: dict, path: Path, candidates: Sequence[tuple[str, tuple[str, ...]]], device: torch.device) -> tuple[Any, Any]:
    """The first candidate config whose network the tensors fit exactly, and that network (eval mode).

    Raises:
        InputError: no candidate fits (the message lists what was tried and the first one's mismatch).
    """
    reasons: list[str] = []
    for name, overrides in candidates:
        cfg = registry.load_model_config(name, list(overrides))
        with torch.device("meta"):  # shapes and names only: cheap to try
            probe = registry.build_model(cfg)
        try:
            report = load_weights_from(probe, state, path, check_only=True)
        except InputError as exc:
            reasons.append(exc.problem or str(exc))
            continue
        if report.missing or report.unexpected:
            reasons.append(str(report))
            continue
        net = registry.build_model(cfg).to(device).eval()
        load_weights_from(net, state, path)
        return cfg, net
    tried = ", ".join(f"{n}{' ' + ' '.join(o) if o else ''}" for n, o in candidates)
    raise InputError(path, f"the weights fit none of the configs tried ({tried}); with the first: {reasons[0]}",
                     "pass --model / --interaction-model with the config the weights were trained with, or weights of this "
                     "version of the network (weights trained before a change of its layers do not load)")


def _load(path: str | os.PathLike, arch: str, model: Optional[str], candidates, device: torch.device) -> tuple[Any, Any]:
    """Read ``path``, check its architecture is ``arch``, and build the network it fits."""
    p = Path(path)
    state = read_weights_file(p)
    found = registry.arch_of_state_dict(state)
    if found is not None and found != arch:
        raise InputError(p, f"these are weights of the {registry.get_spec(found).title} network (arch {found!r}), "
                            f"expected {registry.get_spec(arch).title}", _hint(found))
    if model:
        name, _, rest = model.partition(":")
        candidates = ((name, tuple(o for o in rest.split(",") if o)),)
    return _fit(state, p, candidates, device)


def _hint(arch: str) -> str:
    return {
        "interaction": "pass the interaction network with --interaction-weights and EVOLVE weights with --weights",
        "evolve": "pass EVOLVE weights with --weights (and the interaction network with --interaction-weights)",
        "gltm": "pass GLTM weights with --weights alone (GLTM has its own interaction network)",
    }.get(arch, "pass the weights of the right network")


def load_networks(
    weights: str | os.PathLike, interaction_weights: Optional[str | os.PathLike] = None, model: Optional[str] = None,
    interaction_model: Optional[str] = None, device: torch.device | str = "cpu", memory: Optional[InferenceConfig] = None,
) -> Networks:
    """Load the networks of an annotation session.

    Args:
        weights: EVOLVE (with ``interaction_weights``) or GLTM weights.
        interaction_weights: the interaction network's weights (EVOLVE propagation only).
        model: config of ``weights`` (``small``, ``base``, ``gltm`` or a YAML path; ``name:key=v,key=v``
            adds overrides, e.g. ``small:events=false``); None = detected.
        interaction_model: config of ``interaction_weights`` (same form); None = detected.
        device: where the networks run.
        memory: EVOLVE's memory policy (defaults of :class:`~evolve.inference.config.InferenceConfig`).
    Returns:
        :class:`Networks`.
    Raises:
        InputError: unreadable files, weights of another network than expected, weights that fit
            no config, interaction weights given with GLTM, or EVOLVE without interaction weights.
    """
    dev = torch.device(device)
    p = Path(weights)
    state = read_weights_file(p)
    arch = registry.arch_of_state_dict(state)
    del state
    if arch == "gltm":
        if interaction_weights:
            raise InputError(interaction_weights, "interaction weights given with GLTM weights", "GLTM uses its own A-Net: drop --interaction-weights")
        cfg, net = _load(p, "gltm", model, GLTM_CANDIDATES, dev)
        return Networks(Interactor(net.anet, dev), lambda: GLTMPropagator(net, dev), bool(cfg.events), cfg.event_bins,
                        f"GLTM ({'events' if cfg.events else 'frames only'})")
    if arch == "interaction":
        raise InputError(p, "these are interaction-network weights, not propagation weights", _hint("interaction"))
    if arch != "evolve":
        raise InputError(p, "the file holds no EVOLVE or GLTM weights", "pass --weights <EVOLVE .pth> --interaction-weights <.pth>, or GLTM weights")
    if not interaction_weights:
        raise InputError(p, "EVOLVE weights need an interaction network", "add --interaction-weights <arch: interaction .pth> (task=interactive)")
    ecfg, enet = _load(p, "evolve", model, EVOLVE_CANDIDATES, dev)
    icfg, inet = _load(interaction_weights, "interaction", interaction_model, INTERACTION_CANDIDATES, dev)
    if ecfg.events and icfg.events and ecfg.event_bins != icfg.event_bins:
        raise InputError(interaction_weights, f"the interaction network reads {icfg.event_bins} voxel bins, EVOLVE {ecfg.event_bins}",
                         "use networks trained with the same event_bins")
    mem = memory or InferenceConfig()
    events = bool(ecfg.events or icfg.events)
    bins = ecfg.event_bins if ecfg.events else icfg.event_bins
    on = lambda e: "events" if e else "frames only"  # noqa: E731
    return Networks(Interactor(inet, dev), lambda: EvolvePropagator(enet, mem, dev), events, bins,
                    f"interaction network ({on(icfg.events)}) + EVOLVE {ecfg.name} ({on(ecfg.events)})")
