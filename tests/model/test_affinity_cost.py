"""scripts/affinity_cost.py: the cost table of docs/emvos.md against counts done by hand."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "affinity_cost.py"


def _load():
    spec = importlib.util.spec_from_file_location("affinity_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_training_read_by_hand():
    cost = _load()
    s = cost.Size("t", mem=432, query=144)
    lm = 432 * 144
    flops, mem = cost.read_cost(s, "memory_softmax")
    # similarity 2 products of 2*L*M*Ck, softmax 4 per entry, readout 2*Cv*L*M
    assert flops == 4 * lm * 256 + 4 * lm + 2 * 256 * lm == 95_800_320
    assert mem == 8 * lm  # S and the weights, float32
    q_flops, q_mem = cost.read_cost(s, "query_softmax")
    assert q_flops - flops == lm and q_mem == mem  # only the M / L scale
    b_flops, b_mem = cost.read_cost(s, "topk_bijective")
    assert b_mem == mem + 5 * lm  # the bool mask and the masked similarity


def test_inference_query_softmax_needs_the_dense_affinity():
    cost = _load()
    s = cost.Size("i", mem=8100, query=1620, top_k=30)
    _, surj = cost.read_cost(s, "memory_softmax")
    _, eq = cost.read_cost(s, "query_softmax")
    assert eq - surj == 4 * 8100 * 1620  # one dense (L, M) float32 buffer more than the gather path
    assert "| `query_softmax` |" in cost.table()
    with pytest.raises(ValueError):
        cost.read_cost(s, "sinkhorn")
