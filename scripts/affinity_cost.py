"""Analytic cost of the pixel-memory affinity normalisations (``model.affinity_norm``,
``model.equalized_scores``) and of EMVOS's matching, per frame (docs/emvos.md).

Counts are what :mod:`evolve.model.memory_ops` computes, per keying (EVOLVE with events reads the
memory twice: image keys and event keys), with L memory tokens, M query pixels, Ck key channels,
C = N * Cv value channels (N objects), k the inference top-k and K the bijective K. A
multiply-add is 2 FLOPs; an exp, compare or divide 1. Memory is the float32 (B = 1) working
tensors of the read, in MiB (indices int64, masks 1 byte).

    python scripts/affinity_cost.py            # the table of docs/emvos.md
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

MIB = 2**20


@dataclass(frozen=True)
class Size:
    """One setting: label, memory tokens L, query pixels M, key channels, value channels per
    object, objects, top-k (None = training, full affinity) and bijective K."""

    label: str
    mem: int
    query: int
    key_dim: int = 256
    value_dim: int = 256
    objects: int = 1
    top_k: int | None = None
    bijective_k: int = 4


def similarity_flops(s: Size) -> float:
    """Anisotropic L2 with query selection: two (L x Ck) @ (Ck x M) products."""
    return 4.0 * s.mem * s.query * s.key_dim


def read_cost(s: Size, norm: str) -> tuple[float, float]:
    """(FLOPs, bytes) of one pixel-memory read under ``norm`` (similarity included)."""
    lm = s.mem * s.query
    c = s.objects * s.value_dim
    flops = similarity_flops(s)
    mem = 4.0 * lm  # S
    if s.top_k is None or s.top_k >= s.mem:  # training: dense weights, dense product
        flops += 2.0 * c * lm
        mem += 4.0 * lm  # W
        if norm == "memory_softmax":
            flops += 4.0 * lm
        elif norm == "query_softmax":
            flops += 5.0 * lm  # softmax + the M / L scale
        elif norm == "topk_bijective":
            flops += 3.0 * lm + 4.0 * lm  # row top-K, mask, fill; masked softmax
            mem += 1.0 * lm + 4.0 * lm  # bool mask, masked S
        else:
            raise ValueError(norm)
        return flops, mem
    k = s.top_k
    km = k * s.query
    flops += 2.0 * c * km  # weighted gather
    mem += 12.0 * km  # weights + int64 indices
    if norm == "memory_softmax":
        flops += lm + 4.0 * km  # top-k over L, softmax of k
    elif norm == "query_softmax":
        flops += 4.0 * lm + lm + km  # dense softmax over M, top-k over L, scale
        mem += 4.0 * lm  # the dense equalized affinity
    elif norm == "topk_bijective":
        flops += 3.0 * lm + lm + 4.0 * km  # row top-K, mask, fill; top-k over L; softmax of k
        mem += 1.0 * lm + 4.0 * lm
    else:
        raise ValueError(norm)
    return flops, mem


def equalized_scores_cost(s: Size) -> tuple[float, float]:
    """(FLOPs, bytes) of EMVOS's equalized fg/bg scores on top of a read (the similarity is shared)."""
    lm = s.mem * s.query
    return 5.0 * lm + 4.0 * s.objects * lm, 8.0 * lm  # softmax over M and scale; 2 x (product, max) per object


def emvos_matching_cost(query: int, key_dim: int, objects: int) -> tuple[float, float]:
    """(FLOPs, bytes) of EMVOS's 8 score channels for one frame: global and local references of
    one frame each (L = M), cosine and raw-dot affinities, two query softmaxes, 8 masked maxima
    per object."""
    mm = query * query
    flops = 4 * 2.0 * mm * key_dim + 2 * 2.0 * mm + 2 * 4.0 * mm + objects * 8 * 2.0 * mm
    return flops, 4 * 4.0 * mm + 4.0 * mm


SIZES = (
    Size("training, 192x192 crop, 3 memory frames (L=432, M=144)", mem=3 * 144, query=144),
    Size("inference, 854x480 (864x480 padded), 5 memory frames, top-k 30 (L=8100, M=1620)", mem=5 * 1620, query=1620, top_k=30),
)


def table() -> str:
    """Markdown: MFLOPs and MiB per read (one keying, one object) for each norm and size."""
    lines = ["| setting | affinity_norm | MFLOPs per read | working memory (MiB) |", "|---|---|---:|---:|"]
    for s in SIZES:
        for norm in ("memory_softmax", "query_softmax", "topk_bijective"):
            f, m = read_cost(s, norm)
            lines.append(f"| {s.label} | `{norm}` | {f / 1e6:,.1f} | {m / MIB:.2f} |")
        f, m = equalized_scores_cost(s)
        lines.append(f"| {s.label} | + `equalized_scores` | +{f / 1e6:,.1f} | +{m / MIB:.2f} |")
    for label, q in (("EMVOS matching, 192x192 (M=144)", 144), ("EMVOS matching, 864x480 (M=1620)", 1620)):
        for key_dim in (512, 128):
            f, m = emvos_matching_cost(q, key_dim, 1)
            lines.append(f"| {label}, key_dim {key_dim} | 8 score channels | {f / 1e6:,.1f} | {m / MIB:.2f} |")
    return "\n".join(lines)


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    print(table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
