"""Motion classes of the procedural sets: 24 trajectory families in 6 parents and 4 folds.

Each class is a deterministic family of trajectories parameterised by a few random draws
(speed, amplitude, phase, direction where the class leaves it free), so instances of a class
vary while the class stays identifiable from the trajectory alone. A trajectory gives, per
frame, the object's centre offset from an anchor point (pixels), its scale (multiplier of its
base size) and its rotation (degrees, OpenCV convention: positive = counter-clockwise on
screen). Time is ``u = t / (T - 1)`` in [0, 1], so a class covers the same motion whatever
the clip length ``T``. Lengths are fractions of ``D = min(H, W)``.

Hierarchy and folds (docs/procedural.md has the table): 6 parents of 4 siblings; every fold
holds 6 classes, two sibling pairs from each of three parents, and every parent appears in
exactly two folds. So a test fold always has sibling pairs (fine-grained episodes, MOVE's
``sample_fine_grained_episode``) and every parent is still seen in the three training folds.
"static" (the distractors) is not a class and belongs to no fold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from evolve.utils.errors import InputError

STATIC = "static"
NUM_FOLDS = 4


@dataclass(frozen=True)
class MotionClass:
    """One motion class.

    Attributes:
        name: class name (used in records and file names).
        parent: parent group (siblings share it).
        fold: the class fold, 0..3.
        phrase: the verb phrase of the referring-expression grammar ("moving up").
        description: one line saying what the trajectory does.
    """

    name: str
    parent: str
    fold: int
    phrase: str
    description: str


MOTION_CLASSES: tuple[MotionClass, ...] = (
    # translate: straight line at constant speed in a fixed direction (+-10 degrees)
    MotionClass("up", "translate", 0, "moving up", "straight up at constant speed, 0.45-0.65 D"),
    MotionClass("down", "translate", 0, "moving down", "straight down at constant speed, 0.45-0.65 D"),
    MotionClass("left", "translate", 2, "moving left", "straight left at constant speed, 0.45-0.65 D"),
    MotionClass("right", "translate", 2, "moving right", "straight right at constant speed, 0.45-0.65 D"),
    # speed: straight line in any direction with a characteristic speed profile
    MotionClass("accelerate", "speed", 3, "speeding up", "straight line from rest, position ~ u^2"),
    MotionClass("decelerate", "speed", 3, "slowing down", "straight line coming to rest, position ~ 1 - (1 - u)^2"),
    MotionClass("stop-and-go", "speed", 0, "stopping and starting", "moves, pauses for about a third of the clip, moves on"),
    MotionClass("back-and-forth", "speed", 0, "going back and forth", "out along a line and straight back (one triangle cycle)"),
    # pose: the centre stays put, the pose or size changes
    MotionClass("spin-cw", "pose", 3, "spinning clockwise", "rotates clockwise in place, 7-16 degrees per frame"),
    MotionClass("spin-ccw", "pose", 3, "spinning counterclockwise", "rotates counter-clockwise in place, 7-16 degrees per frame"),
    MotionClass("rock", "pose", 0, "rocking", "rotation swings +-25-45 degrees, 1.5-2.5 cycles"),
    MotionClass("pulse", "pose", 0, "growing and shrinking", "scale 1 +- 0.25-0.4, 1.5-2.5 cycles"),
    # oscillate: the centre oscillates about a fixed point
    MotionClass("bounce", "oscillate", 1, "bouncing", "parabolic hops up from a floor point, 1.5-2.5 bounces"),
    MotionClass("bob", "oscillate", 1, "bobbing up and down", "vertical sinusoid, amplitude 0.06-0.1 D, 1.5-2.5 cycles"),
    MotionClass("sway", "oscillate", 2, "swaying side to side", "horizontal sinusoid, amplitude 0.06-0.1 D, 1.5-2.5 cycles"),
    MotionClass("shake", "oscillate", 2, "shaking", "independent jitter every frame, 0.02-0.03 D per axis"),
    # loop: closed or winding curved paths
    MotionClass("orbit-cw", "loop", 2, "circling clockwise", "clockwise circle, radius 0.14-0.22 D, 0.8-1.1 turns"),
    MotionClass("orbit-ccw", "loop", 2, "circling counterclockwise", "counter-clockwise circle, radius 0.14-0.22 D, 0.8-1.1 turns"),
    MotionClass("figure-eight", "loop", 1, "tracing a figure eight", "Lissajous 1:2 curve, one cycle, horizontal or vertical"),
    MotionClass("spiral", "loop", 1, "spiralling", "circle whose radius grows (or shrinks) 0.03 -> 0.2-0.26 D, 1.3-1.8 turns"),
    # meander: travels across the frame with a periodic or curved side motion
    MotionClass("wave", "meander", 1, "moving in a wave", "travels 0.45-0.6 D with a sinusoidal side motion"),
    MotionClass("zigzag", "meander", 1, "zigzagging", "travels 0.45-0.6 D with a triangle-wave side motion"),
    MotionClass("arc", "meander", 3, "flying in an arc", "one parabolic arc left or right, rising 0.25-0.35 D"),
    MotionClass("hop", "meander", 3, "hopping", "travels left or right in 2-3 parabolic hops"),
)

MOTION_PARENTS: tuple[str, ...] = ("translate", "speed", "pose", "oscillate", "loop", "meander")
MOTION_NAMES: tuple[str, ...] = tuple(c.name for c in MOTION_CLASSES)
STATIC_PHRASE = "standing still"
_BY_NAME = {c.name: c for c in MOTION_CLASSES}


def motion_class(name: str) -> MotionClass:
    """The :class:`MotionClass` called ``name``.

    Raises:
        InputError: unknown class name (the message lists the classes).
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InputError(None, f"unknown motion class {name!r}", f"choose one of {', '.join(MOTION_NAMES)}") from None


def classes_in_fold(fold: int) -> list[str]:
    """Names of the classes of ``fold`` (0..3), in table order.

    Raises:
        InputError: fold outside 0..3.
    """
    if not 0 <= int(fold) < NUM_FOLDS:
        raise InputError(None, f"fold {fold} does not exist", f"use a fold in 0..{NUM_FOLDS - 1}")
    return [c.name for c in MOTION_CLASSES if c.fold == fold]


def sibling_classes(name: str) -> list[str]:
    """The other classes with the parent of ``name`` (fine-grained distractors), table order."""
    parent = motion_class(name).parent
    return [c.name for c in MOTION_CLASSES if c.parent == parent and c.name != name]


def motion_parent(name: str) -> str:
    """Parent group of a class; ``"static"`` for the static distractors."""
    return STATIC if name == STATIC else motion_class(name).parent


def motion_fold(name: str) -> int | None:
    """Fold of a class; ``None`` for ``"static"``."""
    return None if name == STATIC else motion_class(name).fold


@dataclass
class Trajectory:
    """A sampled trajectory of ``T`` frames.

    Attributes:
        offsets: float64 (T, 2) centre offsets (x, y) from the anchor, pixels.
        scale: float64 (T,) multiplier of the object's base size.
        angle: float64 (T,) rotation in degrees relative to the initial pose (positive =
            counter-clockwise on screen, OpenCV's convention).
        params: the random draws, for the record.
    """

    offsets: np.ndarray
    scale: np.ndarray
    angle: np.ndarray
    params: dict = field(default_factory=dict)


def _unit(deg: float) -> np.ndarray:
    """Image-plane unit vector for an angle measured counter-clockwise on screen from +x (y down)."""
    r = math.radians(deg)
    return np.array([math.cos(r), -math.sin(r)])


def _tri(x: np.ndarray) -> np.ndarray:
    """Triangle wave of period 1 in [-1, 1], equal to 1 at x = 0."""
    return 1.0 - 4.0 * np.abs(x - np.floor(x + 0.5))


def _hops(x: np.ndarray) -> np.ndarray:
    """Parabolic hops of period 1 in [0, 1]: 0 at integers, 1 half-way (gravity-like rebounds)."""
    f = x - np.floor(x)
    return 4.0 * f * (1.0 - f)


def sample_trajectory(name: str, t_len: int, size: float, rng: np.random.Generator) -> Trajectory:
    """Draw one trajectory of class ``name`` (or ``"static"``).

    Args:
        name: a class of :data:`MOTION_CLASSES` or ``"static"``.
        t_len: number of frames T (>= 2).
        size: D = min(H, W) in pixels; every length scales with it.
        rng: the generator to draw from (a fixed number of draws per class).

    Returns:
        :class:`Trajectory` with (T, 2) offsets in pixels, (T,) scale and (T,) angle in degrees.

    Raises:
        InputError: unknown class, or ``t_len < 2``.
    """
    if t_len < 2:
        raise InputError(None, f"a trajectory needs at least 2 frames, got {t_len}", "use clips of 2 or more frames")
    if name != STATIC:
        motion_class(name)
    u = np.linspace(0.0, 1.0, t_len)
    t = np.arange(t_len, dtype=np.float64)
    d = float(size)
    off = np.zeros((t_len, 2))
    scale = np.ones(t_len)
    angle = np.zeros(t_len)
    p: dict = {}
    cardinal = {"up": 90.0, "down": 270.0, "left": 180.0, "right": 0.0}

    def line(direction_deg: float, length: float, s: np.ndarray) -> np.ndarray:
        # position s in [0, 1] along a segment of ``length`` centred on the anchor
        return (s[:, None] - 0.5) * length * _unit(direction_deg)[None, :]

    if name == STATIC:
        pass
    elif name in cardinal:
        p["direction_deg"] = cardinal[name] + rng.uniform(-10, 10)
        p["length"] = rng.uniform(0.45, 0.65) * d
        off = line(p["direction_deg"], p["length"], u)
    elif name in ("accelerate", "decelerate", "stop-and-go", "back-and-forth"):
        p["direction_deg"] = rng.uniform(0, 360)
        p["length"] = rng.uniform(0.45, 0.6) * d if name != "back-and-forth" else rng.uniform(0.35, 0.5) * d
        if name == "accelerate":
            s = u**2
        elif name == "decelerate":
            s = 1.0 - (1.0 - u) ** 2
        elif name == "stop-and-go":
            p["pause_start"] = rng.uniform(0.28, 0.4)
            p["pause_length"] = rng.uniform(0.28, 0.36)
            a, b = p["pause_start"], p["pause_start"] + p["pause_length"]
            moving = 1.0 - p["pause_length"]  # share of the clip spent moving, at one speed
            s = np.where(u < a, u, np.where(u < b, a, u - p["pause_length"])) / moving
        else:
            s = 1.0 - np.abs(2.0 * u - 1.0)  # out and back at one speed
        off = line(p["direction_deg"], p["length"], s)
    elif name in ("spin-cw", "spin-ccw"):
        p["deg_per_frame"] = rng.uniform(7, 16)
        angle = (-1.0 if name == "spin-cw" else 1.0) * p["deg_per_frame"] * t
    elif name == "rock":
        p["amplitude_deg"] = rng.uniform(25, 45)
        p["cycles"] = rng.uniform(1.5, 2.5)
        p["phase"] = rng.uniform(0, 2 * math.pi)
        angle = p["amplitude_deg"] * np.sin(2 * math.pi * p["cycles"] * u + p["phase"])
    elif name == "pulse":
        p["amplitude"] = rng.uniform(0.25, 0.4)
        p["cycles"] = rng.uniform(1.5, 2.5)
        p["phase"] = rng.uniform(0, 2 * math.pi)
        scale = 1.0 + p["amplitude"] * np.sin(2 * math.pi * p["cycles"] * u + p["phase"])
    elif name == "bounce":
        p["height"] = rng.uniform(0.2, 0.3) * d
        p["bounces"] = rng.uniform(1.5, 2.5)
        p["phase"] = rng.uniform(0, 1)
        off[:, 1] = -p["height"] * _hops(p["bounces"] * u + p["phase"])
    elif name in ("bob", "sway"):
        p["amplitude"] = rng.uniform(0.06, 0.1) * d
        p["cycles"] = rng.uniform(1.5, 2.5)
        p["phase"] = rng.uniform(0, 2 * math.pi)
        off[:, 1 if name == "bob" else 0] = p["amplitude"] * np.sin(2 * math.pi * p["cycles"] * u + p["phase"])
    elif name == "shake":
        p["sigma"] = rng.uniform(0.02, 0.03) * d
        off = rng.normal(0.0, p["sigma"], size=(t_len, 2))
    elif name in ("orbit-cw", "orbit-ccw"):
        p["radius"] = rng.uniform(0.14, 0.22) * d
        p["turns"] = rng.uniform(0.8, 1.1)
        p["phase"] = rng.uniform(0, 2 * math.pi)
        sign = 1.0 if name == "orbit-cw" else -1.0  # y points down: increasing theta is clockwise on screen
        theta = p["phase"] + sign * 2 * math.pi * p["turns"] * u
        off = p["radius"] * np.stack([np.cos(theta), np.sin(theta)], 1)
    elif name == "figure-eight":
        p["width"] = rng.uniform(0.18, 0.25) * d
        p["height"] = rng.uniform(0.09, 0.13) * d
        p["cycles"] = rng.uniform(0.9, 1.1)
        p["phase"] = rng.uniform(0, 2 * math.pi)
        p["vertical"] = bool(rng.uniform() < 0.5)
        a = 2 * math.pi * p["cycles"] * u + p["phase"]
        xy = np.stack([p["width"] * np.sin(a), p["height"] * np.sin(2 * a)], 1)
        off = xy[:, ::-1].copy() if p["vertical"] else xy
    elif name == "spiral":
        p["r_min"] = 0.03 * d
        p["r_max"] = rng.uniform(0.2, 0.26) * d
        p["turns"] = rng.uniform(1.3, 1.8)
        p["phase"] = rng.uniform(0, 2 * math.pi)
        p["clockwise"] = bool(rng.uniform() < 0.5)
        p["outward"] = bool(rng.uniform() < 0.5)
        grow = u if p["outward"] else 1.0 - u
        r = p["r_min"] + (p["r_max"] - p["r_min"]) * grow
        theta = p["phase"] + (1.0 if p["clockwise"] else -1.0) * 2 * math.pi * p["turns"] * u
        off = r[:, None] * np.stack([np.cos(theta), np.sin(theta)], 1)
    elif name in ("wave", "zigzag"):
        p["direction_deg"] = rng.uniform(0, 360)
        p["length"] = rng.uniform(0.45, 0.6) * d
        p["amplitude"] = rng.uniform(0.07, 0.1) * d
        p["cycles"] = rng.uniform(1.5, 2.2)
        p["phase"] = rng.uniform(0, 1)
        along = _unit(p["direction_deg"])
        side = np.array([-along[1], along[0]])
        x = p["cycles"] * u + p["phase"]
        wiggle = np.sin(2 * math.pi * x) if name == "wave" else _tri(x)
        off = (u[:, None] - 0.5) * p["length"] * along[None, :] + p["amplitude"] * wiggle[:, None] * side[None, :]
    elif name in ("arc", "hop"):
        p["direction"] = "left" if rng.uniform() < 0.5 else "right"
        p["length"] = rng.uniform(0.45, 0.6) * d
        sx = -1.0 if p["direction"] == "left" else 1.0
        off[:, 0] = sx * (u - 0.5) * p["length"]
        if name == "arc":
            p["height"] = rng.uniform(0.25, 0.35) * d
            off[:, 1] = -p["height"] * 4.0 * u * (1.0 - u)  # one arc: rises and falls back
        else:
            p["height"] = rng.uniform(0.12, 0.18) * d
            p["hops"] = int(rng.integers(2, 4))
            off[:, 1] = -p["height"] * _hops(p["hops"] * u)
    return Trajectory(off.astype(np.float64), scale.astype(np.float64), angle.astype(np.float64), p)


def trajectory_features(centre: np.ndarray, scale: np.ndarray, angle: np.ndarray, size: float) -> np.ndarray:
    """Hand-made trajectory descriptors (a fixed-length vector) for separability checks and baselines.

    Args:
        centre: (T, 2) centre x, y per frame, pixels.
        scale: (T,) scale per frame.
        angle: (T,) rotation per frame, degrees (positive = counter-clockwise on screen).
        size: D = min(H, W), pixels; lengths are divided by it.

    Returns:
        float64 (27,): net displacement (x, y) and its length; path length; mean and std of the
        speed; speed in the first, middle and last third over the mean speed; share of frames
        at rest; reversals of the x and y velocity; mean signed turn of the velocity
        direction; mean |turn|; the extent of the path in x and y; mean distance from the
        path's centroid and its trend; signed area swept about the centroid; scale
        std, scale reversals; mean angular velocity and its std, angle reversals; the largest
        and mean |acceleration| (sharp reversals); the net upward extent and the
        lowest-point share (bounces rest on a floor).
    """
    c = np.asarray(centre, np.float64) / size
    t_len = len(c)
    v = np.diff(c, axis=0)  # (T-1, 2)
    speed = np.linalg.norm(v, axis=1)
    mean_speed = speed.mean() + 1e-9
    thirds = np.array_split(speed, 3)
    net = c[-1] - c[0]

    def reversals(x: np.ndarray, eps: float) -> float:
        s = np.sign(np.where(np.abs(x) > eps, x, 0.0))
        s = s[s != 0]
        return float((s[1:] != s[:-1]).sum()) / max(t_len - 2, 1)

    heading = np.arctan2(v[:, 1], v[:, 0])
    turn = np.angle(np.exp(1j * np.diff(heading))) if len(heading) > 1 else np.zeros(1)
    moving = speed[:-1] * speed[1:] > (0.003**2) if len(speed) > 1 else np.zeros(1, bool)
    turn = np.where(moving, turn, 0.0)
    rel = c - c.mean(0)
    radius = np.linalg.norm(rel, axis=1)
    # signed area swept by the path about its centroid (shoelace; > 0 clockwise on screen)
    sweep = 0.5 * float(np.sum(rel[:-1, 0] * rel[1:, 1] - rel[:-1, 1] * rel[1:, 0]))
    acc = np.linalg.norm(np.diff(v, axis=0), axis=1) if t_len > 2 else np.zeros(1)
    omega = np.diff(np.asarray(angle, np.float64))
    sc = np.asarray(scale, np.float64)
    y = c[:, 1]
    return np.array(
        [
            net[0], net[1], np.linalg.norm(net), speed.sum(), speed.mean(), speed.std(),
            thirds[0].mean() / mean_speed, thirds[1].mean() / mean_speed, thirds[2].mean() / mean_speed,
            float((speed < 0.1 * mean_speed).mean()),
            reversals(v[:, 0], 1e-3), reversals(v[:, 1], 1e-3),
            float(turn.mean()), float(np.abs(turn).mean()),
            np.ptp(c[:, 0]), np.ptp(c[:, 1]),
            radius.mean(), float(np.polyfit(np.linspace(0, 1, t_len), radius, 1)[0]),
            sweep,
            sc.std(), reversals(np.diff(sc), 1e-4),
            omega.mean() / 10.0, omega.std() / 10.0, reversals(omega, 1e-3),
            acc.max() / mean_speed, acc.mean() / mean_speed,
            float((y > y.max() - 0.01).mean()),
        ],
        np.float64,
    )
