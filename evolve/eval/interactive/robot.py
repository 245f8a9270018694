"""The DAVIS interactive scribble robot, re-implemented from the protocol description.

Source: the DAVIS interactive benchmark (Caelles et al., "The 2018 DAVIS Challenge on Video
Object Segmentation", arXiv 1803.00557, section on the interactive track) and its robot as
described in docs/interactive.md. For a prediction and the ground truth of a sequence:

1. the **worst frame** is the one with the lowest object-mean J&F (or J, ``RobotConfig.metric``);
   ties go to the frame with the largest error area (pixels labelled wrongly), then to the
   earliest frame (so an empty first prediction is scribbled on the frame with the most object
   pixels, not arbitrarily on frame 0);
2. for every object id of the frame **including the background (0)**, the error mask
   ``(gt == id) & (pred != id)`` is opened (erosion then dilation) with a disk of radius
   ``min(kernel_size * sqrt(area) / 2, max_kernel_radius)`` pixels, the radius shrunk by 0.9
   until the opening is non-empty (at a radius <= 1 the error mask is used as it is);
3. the opened mask's medial axis (``skimage.morphology.medial_axis``) is turned into a graph
   joining skeleton pixels at distance <= sqrt(2), edge weight = that distance;
4. cycles are broken by removing the heaviest edge of each cycle (done as a minimum spanning
   forest, ``scipy.sparse.csgraph.minimum_spanning_tree``: repeatedly deleting the heaviest
   edge of a cycle, the reverse-delete algorithm, yields a minimum spanning forest);
   components with fewer than ``min_nb_nodes`` nodes are dropped;
5. the longest path of each remaining tree (two Dijkstra sweeps on the tree, Euclidean
   length) is a scribble: a polyline in normalised coordinates (x / W, y / H) for that id.

A background scribble (id 0) is negative for every object; an object's scribble is positive for
it and negative for the others (:mod:`evolve.data.scribbles`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra, minimum_spanning_tree

from evolve.data.scribbles import Stroke
from evolve.eval.metrics import boundary_tolerance, frame_scores


@dataclass
class RobotConfig:
    """Robot parameters (DAVIS interactive defaults as the protocol states them).

    Attributes:
        kernel_size: fraction of sqrt(error area) giving the opening disk's diameter (0.15).
        max_kernel_radius: largest opening radius in pixels (16).
        min_nb_nodes: smallest skeleton component (in pixels) that becomes a scribble (DAVIS
            default 4; GLTM evaluated with 2).
        metric: ``"J_AND_F"`` or ``"J"``: what "worst frame" minimises.
        shrink: factor applied to the radius while the opening is empty (0.9).
    """

    kernel_size: float = 0.15
    max_kernel_radius: float = 16.0
    min_nb_nodes: int = 4
    metric: str = "J_AND_F"
    shrink: float = 0.9

    def __post_init__(self) -> None:
        if not 0.0 <= self.kernel_size < 1.0:
            raise ValueError(f"kernel_size must be in [0, 1), got {self.kernel_size}")
        if self.metric not in ("J", "J_AND_F"):
            raise ValueError(f"metric must be 'J' or 'J_AND_F', got {self.metric!r}")
        if self.min_nb_nodes < 1 or not 0.0 < self.shrink < 1.0:
            raise ValueError("min_nb_nodes must be >= 1 and shrink in (0, 1)")


def _disk(radius: float) -> np.ndarray:
    """uint8 disk of real radius ``radius`` (pixels with dy^2 + dx^2 <= r^2; ``skimage.morphology.disk``)."""
    r = int(math.floor(radius))
    off = np.arange(-r, r + 1)
    return (off[:, None] ** 2 + off[None, :] ** 2 <= radius * radius).astype(np.uint8)


def open_error_mask(error: np.ndarray, config: RobotConfig) -> np.ndarray:
    """Step 2: the morphological opening of a bool (H, W) error mask (see the module docstring).

    Pixels outside the image count as background for both the erosion and the dilation.

    Returns:
        bool (H, W); the error mask itself when the radius is <= 1 before anything survives.
    """
    mask = np.ascontiguousarray(error, dtype=np.uint8)
    area = int(mask.sum())
    if area == 0:
        return mask.astype(bool)
    radius = min(config.kernel_size * math.sqrt(area) * 0.5, config.max_kernel_radius)
    while radius > 1.0:
        kernel = _disk(radius)
        eroded = cv2.erode(mask, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        if eroded.any():
            opened = cv2.dilate(eroded, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            return opened.astype(bool)
        radius *= config.shrink
    return mask.astype(bool)


def skeleton(mask: np.ndarray) -> np.ndarray:
    """Step 3a: medial axis of a bool (H, W) mask, padded by one background pixel so regions
    touching the image border get a proper axis. Returns bool (H, W)."""
    from skimage.morphology import medial_axis

    padded = np.pad(np.asarray(mask, dtype=bool), 1)
    return medial_axis(padded)[1:-1, 1:-1]


def skeleton_paths(skel: np.ndarray, min_nb_nodes: int) -> list[np.ndarray]:
    """Steps 3b-5: longest paths of the skeleton's trees.

    Args:
        skel: bool (H, W) skeleton.
        min_nb_nodes: components with fewer pixels are dropped.
    Returns:
        one (K, 2) float64 array of (x, y) pixel coordinates (column, row) per kept component,
        ordered along the path, components in order of their first pixel (row-major).
    """
    rows, cols = np.nonzero(skel)
    n = len(rows)
    if n == 0:
        return []
    index = -np.ones(skel.shape, dtype=np.int64)
    index[rows, cols] = np.arange(n)
    src, dst, w = [], [], []
    h, wd = skel.shape
    for dr, dc in ((0, 1), (1, -1), (1, 0), (1, 1)):  # each undirected 8-neighbour pair once
        r2, c2 = rows + dr, cols + dc
        ok = (r2 >= 0) & (r2 < h) & (c2 >= 0) & (c2 < wd)
        ok[ok] &= skel[r2[ok], c2[ok]]
        src.append(index[rows[ok], cols[ok]])
        dst.append(index[r2[ok], c2[ok]])
        w.append(np.full(int(ok.sum()), math.hypot(dr, dc)))
    graph = coo_matrix((np.concatenate(w), (np.concatenate(src), np.concatenate(dst))), shape=(n, n)).tocsr()
    forest = minimum_spanning_tree(graph)
    forest = forest + forest.T  # undirected tree edges
    n_comp, labels = connected_components(forest, directed=False)
    paths = []
    for comp in range(n_comp):
        nodes = np.flatnonzero(labels == comp)
        if len(nodes) < min_nb_nodes:
            continue
        if len(nodes) == 1:
            path = nodes
        else:
            d0 = dijkstra(forest, directed=False, indices=int(nodes[0]))
            a = int(nodes[np.argmax(d0[nodes])])
            da, pred = dijkstra(forest, directed=False, indices=a, return_predecessors=True)
            b = int(nodes[np.argmax(da[nodes])])
            path_list = [b]
            while path_list[-1] != a:
                path_list.append(int(pred[path_list[-1]]))
            path = np.asarray(path_list[::-1])
        paths.append(np.stack([cols[path], rows[path]], axis=1).astype(np.float64))
    return paths


def frame_scribbles(pred: np.ndarray, gt: np.ndarray, object_ids: Sequence[int], config: Optional[RobotConfig] = None) -> list[Stroke]:
    """Steps 2-5 on one frame: the robot's strokes for every id in ``[0] + object_ids``.

    Args:
        pred, gt: int (H, W) object-id masks of the frame.
        object_ids: the sequence's objects (>= 1).
    Returns:
        strokes (object by object, background first); empty for a perfect prediction.
    """
    config = config or RobotConfig()
    h, w = gt.shape
    strokes: list[Stroke] = []
    for obj in [0] + [int(o) for o in object_ids if int(o) != 0]:
        error = (gt == obj) & (pred != obj)
        if not error.any():
            continue
        skel = skeleton(open_error_mask(error, config))
        for path in skeleton_paths(skel, config.min_nb_nodes):
            strokes.append(Stroke.from_pixels(path, h, w, obj))
    return strokes


def per_frame_metric(pred: np.ndarray, gt: np.ndarray, object_ids: Sequence[int], metric: str = "J_AND_F") -> np.ndarray:
    """Object-mean J&F (or J) of every frame.

    Args:
        pred, gt: int (T, H, W) object-id masks.
        object_ids: the objects scored.
        metric: ``"J_AND_F"`` or ``"J"``.
    Returns:
        float64 (T,).
    """
    radius = boundary_tolerance(*gt.shape[1:])
    out = np.empty(len(gt))
    for t in range(len(gt)):
        j, f = frame_scores(gt[t], pred[t], list(object_ids), radius)
        out[t] = j.mean() if metric == "J" else 0.5 * (j.mean() + f.mean())
    return out


def worst_frame(pred: np.ndarray, gt: np.ndarray, object_ids: Sequence[int], metric: str = "J_AND_F", scores: Optional[np.ndarray] = None) -> int:
    """Step 1: the frame with the lowest object-mean metric; ties -> largest error area -> earliest.

    Args:
        pred, gt: int (T, H, W) object-id masks.
        scores: the (T,) per-frame metric when already computed.
    """
    if scores is None:
        scores = per_frame_metric(pred, gt, object_ids, metric)
    lowest = np.flatnonzero(scores <= scores.min() + 1e-12)
    if len(lowest) == 1:
        return int(lowest[0])
    errors = np.array([int(np.count_nonzero(pred[t] != gt[t])) for t in lowest])
    return int(lowest[int(np.argmax(errors))])


class ScribbleRobot:
    """The robot user of the DAVIS interactive protocol (module docstring).

    Args:
        config: :class:`RobotConfig`.
    """

    def __init__(self, config: Optional[RobotConfig] = None) -> None:
        self.config = config or RobotConfig()

    def interact(self, pred: np.ndarray, gt: np.ndarray, object_ids: Sequence[int], scores: Optional[np.ndarray] = None) -> tuple[int, list[Stroke]]:
        """The next interaction for a prediction of a whole sequence.

        Args:
            pred, gt: int (T, H, W) object-id masks (same shape).
            object_ids: the sequence's objects (>= 1).
            scores: (T,) per-frame metric of ``pred`` when already computed.
        Returns:
            ``(frame, strokes)``: the worst frame and the strokes on it (empty when the
            prediction of that frame is perfect).
        Raises:
            ValueError: shapes differ or are not (T, H, W).
        """
        pred = np.asarray(pred)
        gt = np.asarray(gt)
        if pred.shape != gt.shape or gt.ndim != 3:
            raise ValueError(f"pred and gt must both be (T, H, W), got {pred.shape} and {gt.shape}")
        frame = worst_frame(pred, gt, object_ids, self.config.metric, scores)
        return frame, frame_scribbles(pred[frame], gt[frame], object_ids, self.config)
