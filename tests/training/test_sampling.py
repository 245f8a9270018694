import torch

from evolve.training.sampling import ResumableSampler, SeededConcat
from evolve.utils.seeding import seeded_rng, stable_seed


def _take(it, n):
    return [next(it) for _ in range(n)]


def test_resumed_stream_equals_the_tail_of_the_uninterrupted_stream():
    full = _take(iter(ResumableSampler(7, seed=5)), 30)  # crosses several epochs
    for start in (0, 3, 7, 12):
        assert _take(iter(ResumableSampler(7, seed=5, start=start)), 30 - start) == full[start:]


def test_each_epoch_is_a_permutation_and_ranks_are_disjoint():
    n, world = 10, 2
    streams = [_take(iter(ResumableSampler(n, seed=1, rank=r, world_size=world)), n // world) for r in range(world)]
    indices = [i for s in streams for i, _ in s]
    assert sorted(indices) == list(range(n))
    seeds = [seed for s in streams for _, seed in s]
    assert len(set(seeds)) == n  # every sample of the epoch gets its own seed


def test_different_epochs_reshuffle():
    s = _take(iter(ResumableSampler(50, seed=2)), 100)
    assert [i for i, _ in s[:50]] != [i for i, _ in s[50:]]
    assert sorted(i for i, _ in s[50:]) == list(range(50))


def test_seeded_rng_is_reproducible_and_restores_the_callers_state():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    with seeded_rng(9):
        a = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), before)
    with seeded_rng(9):
        b = torch.rand(3)
    assert torch.equal(a, b)
    assert stable_seed("x", 1) == stable_seed("x", 1) != stable_seed("x", 2)


class _Echo:
    def __init__(self, n, tag):
        self.n, self.tag = n, tag

    def __len__(self):
        return self.n

    def __getitem__(self, key):
        idx, seed = key
        return self.tag, idx, seed


def test_seeded_concat_routes_indices_and_seeds():
    cat = SeededConcat([_Echo(2, "a"), _Echo(3, "b")])
    assert len(cat) == 5
    assert cat[(0, 11)] == ("a", 0, 11)
    assert cat[(1, 12)] == ("a", 1, 12)
    assert cat[(2, 13)] == ("b", 0, 13)
    assert cat[(4, 14)] == ("b", 2, 14)
