"""Result containers of the J&F evaluator: per-frame scores, per-object and global statistics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evolve.eval.statistics import Statistics, statistics

#: Columns of ``global_results.csv``, in the official order (davis2017-evaluation).
GLOBAL_COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
#: Columns of ``per-sequence_results.csv``: one row per object, named ``<sequence>_<object id>``.
PER_SEQUENCE_COLUMNS = ("Sequence", "J-Mean", "F-Mean")


@dataclass(frozen=True)
class SequenceScores:
    """Per-frame J and F of every object of one sequence.

    Attributes:
        name: sequence name (its folder name).
        object_ids: the sequence's objects, ``1..N`` with N the largest id of the first
            ground-truth frame (DAVIS 2017 rule).
        frames: stems of the evaluated frames (all ground-truth frames but the first and
            the last), length T.
        j, f: float64 (N, T), region similarity and boundary F-measure per object and frame.
        size: (height, width) of the masks in pixels.
        radius: boundary tolerance used, pixels.
    """

    name: str
    object_ids: tuple[int, ...]
    frames: tuple[str, ...]
    j: np.ndarray
    f: np.ndarray
    size: tuple[int, int]
    radius: int


@dataclass(frozen=True)
class ObjectResult:
    """Statistics of one object: ``j`` and ``f`` are Mean/Recall/Decay over its frames."""

    sequence: str
    object_id: int
    j: Statistics
    f: Statistics

    @property
    def name(self) -> str:
        """Row name in the official per-sequence CSV: ``<sequence>_<object id>``."""
        return f"{self.sequence}_{self.object_id}"


@dataclass(frozen=True)
class EvaluationResult:
    """J&F of a dataset.

    Attributes:
        sequences: per-frame scores of every sequence, in evaluation order.
        objects: per-object statistics, sequence by sequence, objects in id order.
        j, f: global statistics, each the mean of the per-object statistic over ALL
            objects of all sequences (object-weighted, DESIGN section 5).
    """

    sequences: tuple[SequenceScores, ...]
    objects: tuple[ObjectResult, ...]
    j: Statistics
    f: Statistics

    @property
    def jf_mean(self) -> float:
        """J&F-Mean = (J-Mean + F-Mean) / 2."""
        return (self.j.mean + self.f.mean) / 2.0

    def global_row(self) -> dict[str, float]:
        """The global statistics keyed by the official column names (:data:`GLOBAL_COLUMNS`)."""
        values = (self.jf_mean, self.j.mean, self.j.recall, self.j.decay, self.f.mean, self.f.recall, self.f.decay)
        return dict(zip(GLOBAL_COLUMNS, values))

    def per_sequence_rows(self) -> list[tuple[str, float, float]]:
        """``(<sequence>_<object id>, J-Mean, F-Mean)`` per object, the official per-sequence rows."""
        return [(o.name, o.j.mean, o.f.mean) for o in self.objects]

    @classmethod
    def from_sequences(cls, sequences: list[SequenceScores] | tuple[SequenceScores, ...]) -> "EvaluationResult":
        """Per-object and global statistics from per-frame scores.

        Raises:
            ValueError: no objects at all.
        """
        objects = []
        for seq in sequences:
            for row, obj_id in enumerate(seq.object_ids):
                objects.append(ObjectResult(seq.name, obj_id, statistics(seq.j[row]), statistics(seq.f[row])))
        if not objects:
            raise ValueError("no objects to average over")

        def average(measure: str) -> Statistics:
            stats = [getattr(o, measure) for o in objects]
            return Statistics(
                mean=float(np.mean([s.mean for s in stats])),
                recall=float(np.mean([s.recall for s in stats])),
                decay=float(np.mean([s.decay for s in stats])),
            )

        return cls(sequences=tuple(sequences), objects=tuple(objects), j=average("j"), f=average("f"))
