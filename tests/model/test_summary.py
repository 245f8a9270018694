"""Parameter counts: module-by-module agreement with the authors' code and Cutie, and the CLI."""

from __future__ import annotations

import pytest

from evolve.apps.model_summary import summary_program
from evolve.model import summary
from evolve.model.summary import Variant, count_parameters


def test_counts_match_a_real_network(small_net):
    counts = count_parameters(Variant("small", "small"))
    assert counts["total"] == sum(p.numel() for p in small_net.parameters())
    for name, module in small_net.named_children():
        assert counts[name] == sum(p.numel() for p in module.parameters())


def test_base_modules_match_the_reference_counts():
    # module counts of the authors' EVOLVE-base and of Cutie-base (reference notes,
    # evolve_authors_code.md 1.9 and cutie.md 2.1, in millions, rounded to 2 decimals)
    evolve = count_parameters(Variant("base", "base"))
    m = {k: v / 1e6 for k, v in evolve.items()}
    for name, ref in [("pixel_encoder", 8.54), ("event_encoder", 8.55), ("mask_encoder", 8.82), ("mask_decoder", 4.61), ("pixel_fuser", 2.56), ("event_fuser", 2.56), ("event_key_proj", 1.44), ("object_transformer", 18.86)]:
        assert m[name] == pytest.approx(ref, abs=0.006), name
    # the authors' key_proj holds the image 1x1 projection, the offset branch and the feature
    # DCN; their regular_conv is the value DCN: together our key_proj + edft
    assert m["key_proj"] + m["edft"] == pytest.approx(2.34 + 0.59, abs=0.01)
    assert m["total"] == pytest.approx(59.999, abs=0.01)
    cutie_like = {k: v / 1e6 for k, v in count_parameters(Variant("cutie", "base", ("events=false", "key_dim=64"))).items()}
    for name, ref in [("pixel_encoder", 8.54), ("key_proj", 0.56), ("pix_feat_proj", 0.26), ("mask_encoder", 8.82), ("pixel_fuser", 2.56), ("object_summarizer", 0.27), ("mask_decoder", 4.61), ("aux_head", 0.07)]:
        assert cutie_like[name] == pytest.approx(ref, abs=0.006), name


def test_cli_writes_the_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(summary, "VARIANTS", (Variant("small, events on", "small"), Variant("small, events off", "small", ("events=false",))))
    out = tmp_path / "docs" / "params.md"
    assert summary_program(["--out", str(out)]) == 0
    text = out.read_text()
    assert "| module | small, events on | small, events off |" in text
    assert "| `event_encoder` | 2.789 | - |" in text
    on = count_parameters(Variant("on", "small"))["total"] / 1e6
    off = count_parameters(Variant("off", "small", ("events=false",)))["total"] / 1e6
    assert f"| **total** | {on:.3f} | {off:.3f} |" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["params.md"]  # no temp file left
