"""Referring expressions for the procedural videos: a small grammar checked for uniqueness.

Three kinds of expression, each naming exactly one object of its video (docs/procedural.md):

- ``attribute``: ``the [size] [colour] [texture] (shape | object)`` with at least one word
  besides "object", e.g. "the large red square", "the striped circle", "the blue object";
- ``relation``: ``the (shape | object) (left of | right of | above | below) the <anchor>``,
  where ``<anchor>`` is the shortest attribute description that names another object
  uniquely, e.g. "the circle left of the blue star" (first-frame centres);
- ``motion``: ``the (shape | object) <class phrase>`` ("the triangle moving up", "the object
  bouncing") or ``the <motion word> (shape | object)`` with the words ``moving`` (any motion
  class), ``still`` (static), ``spinning`` (spin-cw, spin-ccw) and ``circling`` (orbit-cw,
  orbit-ccw), e.g. "the spinning hexagon".

Predicates are three-valued (true / false / ambiguous) so borderline cases are skipped rather
than guessed: a relation holds when the first-frame centres differ by at least
``RELATION_MARGIN * D`` in its direction and clearly fails when they differ by at most
``RELATION_SLACK * D`` (D = min(H, W)); in between it is ambiguous. A direction phrase
("moving up") is ambiguous for an object of another class whose net displacement in that
direction is at least ``DIRECTION_AMBIGUITY * D`` (a wave travelling up also "moves up").
An expression is kept only when it is true for its object, false for every other object,
and ambiguous for none.

Input objects are dicts with the record's keys (``id``, ``shape``, ``colour``, ``texture``,
``size``, ``motion``, ``centre``), so the same code runs on a freshly planned video and on a
record read back from JSON.
"""

from __future__ import annotations

from itertools import combinations
from typing import Optional

import numpy as np

from evolve.synthesis.appearance import is_held_out
from evolve.synthesis.motions import MOTION_CLASSES, MOTION_NAMES, STATIC, STATIC_PHRASE

RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
RELATION_MARGIN = 0.12
RELATION_SLACK = 0.03
DIRECTION_AMBIGUITY = 0.25
ATTRIBUTE_ORDER: tuple[str, ...] = ("size", "colour", "texture")  # adjective order before the noun

# Motion words used before the noun, and the classes each one covers.
MOTION_WORDS: dict[str, tuple[str, ...]] = {
    "moving": MOTION_NAMES,
    "still": (STATIC,),
    "spinning": ("spin-cw", "spin-ccw"),
    "circling": ("orbit-cw", "orbit-ccw"),
}
# Verb phrases used after the noun: one per class, plus the static distractors.
MOTION_PHRASES: dict[str, str] = {c.name: c.phrase for c in MOTION_CLASSES} | {STATIC: STATIC_PHRASE}
_DIRECTIONS = {"up": (0.0, -1.0), "down": (0.0, 1.0), "left": (-1.0, 0.0), "right": (1.0, 0.0)}


def relation_value(target_xy, anchor_xy, relation: str, size: float) -> Optional[bool]:
    """Whether ``target`` is ``relation`` the anchor (image coordinates, y down).

    Args:
        target_xy, anchor_xy: (x, y) first-frame centres in pixels.
        relation: one of :data:`RELATIONS`.
        size: D = min(H, W) in pixels.

    Returns:
        True (difference >= RELATION_MARGIN * D in the relation's direction), False
        (<= RELATION_SLACK * D) or None (in between: ambiguous).
    """
    dx = float(anchor_xy[0]) - float(target_xy[0])  # > 0: target is left of the anchor
    dy = float(anchor_xy[1]) - float(target_xy[1])  # > 0: target is above the anchor
    d = {"left of": dx, "right of": -dx, "above": dy, "below": -dy}[relation]
    if d >= RELATION_MARGIN * size:
        return True
    if d <= RELATION_SLACK * size:
        return False
    return None


def motion_value(obj: dict, key: str, size: float) -> Optional[bool]:
    """Whether ``obj`` does motion ``key`` (a class name, ``"static"`` or a :data:`MOTION_WORDS` word).

    Returns:
        True / False, or None when ``key`` is a direction class the object does not have
        but its net displacement goes that way by at least ``DIRECTION_AMBIGUITY * D``.
    """
    if key in MOTION_WORDS:
        return obj["motion"] in MOTION_WORDS[key]
    if obj["motion"] == key:
        return True
    if key in _DIRECTIONS:
        c = np.asarray(obj["centre"], np.float64)
        net = c[-1] - c[0]
        if float(net @ np.asarray(_DIRECTIONS[key])) >= DIRECTION_AMBIGUITY * size:
            return None
    return False


def attributes_match(obj: dict, spec: dict) -> bool:
    """True when every attribute in ``spec`` (keys size/colour/texture/shape) equals the object's."""
    return all(obj[k] == v for k, v in spec.items())


def attribute_text(spec: dict) -> str:
    """``"large red striped square"`` for a spec (no article); the noun is "object" without a shape."""
    words = [spec[k] for k in ATTRIBUTE_ORDER if k in spec]
    return " ".join(words + [spec.get("shape", "object")])


def _unique(target: dict, objects: list[dict], value) -> bool:
    """``value(obj)`` is True for the target only and False (never None) for every other object."""
    for o in objects:
        v = value(o)
        if o["id"] == target["id"]:
            if v is not True:
                return False
        elif v is not False:
            return False
    return True


def attribute_specs(obj: dict, objects: list[dict]) -> list[dict]:
    """All attribute specs naming ``obj`` uniquely, fewest words first ("the star" before "the
    small object"), ties in a fixed order."""
    keys = ATTRIBUTE_ORDER + ("shape",)
    out = []
    for n in range(1, len(keys) + 1):
        for combo in combinations(keys, n):
            spec = {k: obj[k] for k in combo}
            if _unique(obj, objects, lambda o, s=spec: attributes_match(o, s)):
                out.append(spec)
    return sorted(out, key=lambda s: len(s) + ("shape" not in s))  # stable: ties keep their order


def resolve(form: dict, objects: list[dict], size: float) -> tuple[list[int], list[int]]:
    """Evaluate a structured expression (an expression's ``form``) on ``objects``.

    Args:
        form: ``{"target": spec, "relation": str | None, "anchor_id": int | None,
            "motion": str | None}``.
        objects: record objects.
        size: D = min(H, W) in pixels.

    Returns:
        ``(matching ids, ambiguous ids)``; a valid expression gives ``([its id], [])``.
    """
    by_id = {o["id"]: o for o in objects}
    match, grey = [], []
    for o in objects:
        if not attributes_match(o, form["target"]):
            continue
        if form.get("relation"):
            if o["id"] == form["anchor_id"]:
                continue
            v = relation_value(o["centre"][0], by_id[form["anchor_id"]]["centre"][0], form["relation"], size)
        elif form.get("motion"):
            v = motion_value(o, form["motion"], size)
        else:
            v = True
        if v is True:
            match.append(o["id"])
        elif v is None:
            grey.append(o["id"])
    return match, grey


def _candidates(obj: dict, objects: list[dict], size: float) -> dict[str, list[tuple[str, dict]]]:
    """Every valid (text, form) per kind for ``obj``."""
    heads = [{"shape": obj["shape"]}, {}]
    out: dict[str, list[tuple[str, dict]]] = {"attribute": [], "relation": [], "motion": []}
    for spec in attribute_specs(obj, objects):
        out["attribute"].append((f"the {attribute_text(spec)}", {"target": spec, "relation": None, "anchor_id": None, "motion": None}))
    for anchor in objects:
        if anchor["id"] == obj["id"]:
            continue
        specs = attribute_specs(anchor, objects)
        if not specs:
            continue
        anchor_words = attribute_text(specs[0])
        for rel in RELATIONS:
            for head in heads:
                form = {"target": head, "relation": rel, "anchor_id": anchor["id"], "motion": None}
                if resolve(form, objects, size) == ([obj["id"]], []):
                    out["relation"].append((f"the {head.get('shape', 'object')} {rel} the {anchor_words}", form))
    keys = [obj["motion"]] + [w for w, cls in MOTION_WORDS.items() if obj["motion"] in cls]
    for key in keys:
        for head in heads:
            form = {"target": head, "relation": None, "anchor_id": None, "motion": key}
            if resolve(form, objects, size) != ([obj["id"]], []):
                continue
            noun = head.get("shape", "object")
            text = f"the {key} {noun}" if key in MOTION_WORDS else f"the {noun} {MOTION_PHRASES[key]}"
            out["motion"].append((text, form))
    return out


def generate_expressions(objects: list[dict], height: int, width: int, rng: np.random.Generator, per_kind: int = 2) -> list[dict]:
    """Referring expressions for every object of a video.

    Per object and kind, up to ``per_kind`` valid expressions: for attributes the shortest
    one plus random others, for relations and motions a random choice (``rng``).

    Args:
        objects: record objects (keys id, shape, colour, texture, size, motion, centre).
        height, width: frame size in pixels (D = min of the two).
        rng: generator for the choices.
        per_kind: most expressions per object and kind.

    Returns:
        A list of ``{"exp_id": str, "object_id": int, "text": str, "kind": str, "held_out": bool,
        "form": dict}`` (``held_out``: the object's (colour, shape) pair is held out;
        ``form``: the structured expression, see :func:`resolve`).
    """
    size = float(min(height, width))
    out: list[dict] = []
    for obj in objects:
        cands = _candidates(obj, objects, size)
        for kind in ("attribute", "relation", "motion"):
            lst = cands[kind]
            if not lst:
                continue
            if kind == "attribute":
                picks = [0] + sorted(rng.permutation(np.arange(1, len(lst)))[: per_kind - 1].tolist()) if len(lst) > 1 else [0]
            else:
                picks = sorted(rng.permutation(len(lst))[:per_kind].tolist())
            for i in picks[:per_kind]:
                text, form = lst[i]
                out.append(
                    {
                        "exp_id": str(len(out)),
                        "object_id": int(obj["id"]),
                        "text": text,
                        "kind": kind,
                        "held_out": is_held_out(obj["colour"], obj["shape"]),
                        "form": form,
                    }
                )
    return out
