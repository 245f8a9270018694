"""The layering of DESIGN section 10, read from the source: an import goes only downward.

Every module of the package is parsed (``ast``, nothing is imported) and each ``import evolve.X``
/ ``from evolve.X import ...`` (also inside functions) is checked against the layer order below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "evolve"

# Lowest first. ``configs`` holds only YAML files and their folder's path.
LAYERS = ["utils", "configs", "data", "synthesis", "ops", "model", "inference", "vis", "eval", "training", "apps"]
ENTRY_POINTS = {"train", "eval_vos"}  # evolve/train.py, evolve/eval_vos.py: thin calls into apps


def layer_of(module: str) -> int | None:
    """Layer index of a dotted module name under ``evolve`` (None for ``evolve`` itself)."""
    parts = module.split(".")
    if parts[0] != "evolve" or len(parts) == 1:
        return None
    top = parts[1]
    if top in ENTRY_POINTS:
        return len(LAYERS)
    return LAYERS.index(top)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``evolve`` import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("evolve")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("evolve"):
            out.append((node.lineno, node.module))
    return out


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def all_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_top_level_package_has_a_layer():
    tops = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert tops <= set(LAYERS), f"packages without a layer: {sorted(tops - set(LAYERS))}"
    scripts = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert scripts == ENTRY_POINTS


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_downward(path):
    here = layer_of(module_name(path))
    if here is None:
        return
    upward = [(line, m) for line, m in imports_of(path) if (layer_of(m) or 0) > here]
    assert not upward, f"{path.relative_to(PACKAGE.parent)} (layer {LAYERS[here] if here < len(LAYERS) else 'entry'}) imports higher layers: {upward}"


def test_the_checker_sees_an_upward_import(tmp_path):
    # The rule is enforced, not vacuous: a module of inference/ importing training/ is caught.
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from evolve.training.checkpoint import read_checkpoint\n")
    assert imports_of(bad) == [(2, "evolve.training.checkpoint")]
    assert layer_of("evolve.training.checkpoint") > layer_of("evolve.inference.inference_core")


def test_core_layers_never_import_training_or_apps():
    low = ("inference", "model", "data", "synthesis", "ops", "eval")
    for path in all_modules():
        name = module_name(path)
        if name.split(".")[1:2] and name.split(".")[1] in low:
            bad = [m for _, m in imports_of(path) if m.split(".")[1:2] and m.split(".")[1] in ("training", "apps")]
            assert not bad, f"{name} imports {bad}"
