import pickle

import pytest
from torch.utils.data import DataLoader, Dataset

from evolve.utils.errors import InputError


def test_message_names_file_problem_and_fix():
    e = InputError("/data/x.npz", "timestamps decrease", "sort them")
    assert str(e) == "/data/x.npz: timestamps decrease. Fix: sort them"


def test_survives_pickling():
    e = pickle.loads(pickle.dumps(InputError("/a/b.png", "RGB mask", "save a palette PNG")))
    assert (e.path, e.problem, e.fix) == ("/a/b.png", "RGB mask", "save a palette PNG")


class _Broken(Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, i):
        raise InputError("/data/seq/00003.png", "mask is 10x10 but the frame is 20x20", "masks must have the size of their frame")


def test_keeps_type_and_message_across_dataloader_workers():
    loader = DataLoader(_Broken(), batch_size=None, num_workers=1)
    with pytest.raises(InputError, match=r"00003\.png: mask is 10x10"):
        next(iter(loader))
