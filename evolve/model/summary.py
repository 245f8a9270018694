"""Parameter counts per top-level module of the model variants (``evolve-model-summary``).

Networks are built through :mod:`evolve.model.registry` on the ``meta`` device (no memory, no
initialisation cost; the counts are the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from evolve.model.registry import build_model, get_spec, load_model_config


@dataclass(frozen=True)
class Variant:
    """A model variant to count: a config name (``configs/model/<name>.yaml``) plus overrides, and a column label."""

    label: str
    name: str
    overrides: tuple[str, ...] = ()


VARIANTS: tuple[Variant, ...] = (
    Variant("small, events on", "small"),
    Variant("small, events off", "small", ("events=false",)),
    Variant("base, events on", "base"),
    Variant("base, events off", "base", ("events=false",)),
    Variant("base, events off, key_dim 64", "base", ("events=false", "key_dim=64")),
    Variant("base, events off, EDFT on image offsets", "base", ("events=false", "offset_source=image")),
    Variant("small, events on, equalized scores", "small", ("equalized_scores=true",)),
    Variant("tiny (make demo), events on", "tiny"),
    Variant("EMVOS, events off (the paper)", "emvos", ("events=false",)),
    Variant("EMVOS, events on", "emvos"),
    Variant("EMVOS small, events off", "emvos_small", ("events=false",)),
    Variant("EMVOS small, events on", "emvos_small"),
)


def count_parameters(variant: Variant) -> dict[str, int]:
    """Parameters per top-level module of ``variant`` (plus ``"total"``), multi-object network."""
    cfg = load_model_config(variant.name, list(variant.overrides))
    with torch.device("meta"):
        net = build_model(cfg)
    counts = {name: sum(p.numel() for p in module.parameters()) for name, module in net.named_children()}
    counts["total"] = sum(p.numel() for p in net.parameters())
    return counts


def _table(variants: Sequence[Variant]) -> str:
    columns = [count_parameters(v) for v in variants]
    modules: list[str] = []
    for col in columns:
        for name in col:
            if name != "total" and name not in modules:
                modules.append(name)
    header = "| module | " + " | ".join(v.label for v in variants) + " |"
    rule = "|---|" + "---:|" * len(variants)
    rows = [header, rule]
    for name in modules + ["total"]:
        cells = [f"{col[name] / 1e6:.3f}" if name in col else "-" for col in columns]
        label = f"**{name}**" if name == "total" else f"`{name}`"
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def parameter_table(variants: Sequence[Variant] | None = None) -> str:
    """Markdown: one table per network (``arch``) with one row per top-level module and one
    column per variant (default :data:`VARIANTS`), millions of parameters. With several networks
    each table is preceded by the network's name."""
    variants = VARIANTS if variants is None else variants
    groups: dict[str, list[Variant]] = {}
    for v in variants:
        groups.setdefault(load_model_config(v.name, list(v.overrides)).arch, []).append(v)
    if len(groups) == 1:
        return _table(variants)
    return "\n\n".join(f"**{get_spec(arch).title}** (`arch: {arch}`)\n\n" + _table(group) for arch, group in groups.items())
