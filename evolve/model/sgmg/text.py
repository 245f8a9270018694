"""Text encoders without downloads: a word-level vocabulary with a small transformer trained from
scratch (default), or a Hugging Face ``transformers`` encoder read from a local folder.

Both take a list of sentences and return word features, a padding mask and a sentence feature:

    words (B, L, D) float, pad (B, L) bool (True = padding), sentence (B, D) float

with ``D = encoder.feat_dim``. The sentence feature is the mean of the word features over the
real tokens (SgMg pools RoBERTa's words the same way for its sentence embedding).

The scratch encoder's vocabulary is built from the training expressions
(:meth:`WordVocabulary.from_texts`) and stored in the network's state dict (the buffer
``vocabulary``), so a weights file carries the vocabulary its embedding rows belong to.
Words not in the vocabulary map to the unknown token; they never raise.
"""

from __future__ import annotations

import collections
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import Tensor, nn

from evolve.utils.errors import InputError

PAD, UNK = "<pad>", "<unk>"
MAX_WORD_BYTES = 32
_WORD = re.compile(r"[a-z0-9]+")
#: Files one of which a saved Hugging Face tokenizer has.
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")


def tokenize(text: str) -> list[str]:
    """Lower-case words of a sentence (runs of ``a-z`` and ``0-9``; punctuation dropped)."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class WordVocabulary:
    """Word -> index. Index 0 is the padding token, 1 the unknown token, then the words."""

    words: tuple[str, ...]

    @classmethod
    def from_texts(cls, texts: Iterable[str], max_size: int) -> "WordVocabulary":
        """The words of ``texts`` by decreasing count (ties alphabetical), at most
        ``max_size - 2`` of them; words longer than :data:`MAX_WORD_BYTES` bytes are left out
        (they become the unknown token).

        Raises:
            InputError: more distinct words than fit (the message gives the count).
        """
        counts = collections.Counter(w for t in texts for w in tokenize(t) if len(w.encode()) <= MAX_WORD_BYTES)
        ordered = sorted(counts, key=lambda w: (-counts[w], w))
        if len(ordered) > max_size - 2:
            raise InputError(None, f"the training expressions have {len(ordered)} distinct words, more than the text encoder's "
                             f"vocab_size {max_size} minus the padding and unknown tokens",
                             f"set model.text.vocab_size={len(ordered) + 2} or more")
        return cls(tuple(ordered))

    def __len__(self) -> int:
        return len(self.words) + 2

    def index(self, word: str) -> int:
        """Index of ``word`` (1 = unknown)."""
        return self._lookup.get(word, 1)

    @property
    def _lookup(self) -> dict[str, int]:
        cache = self.__dict__.get("_cache")
        if cache is None:
            cache = {w: i + 2 for i, w in enumerate(self.words)}
            object.__setattr__(self, "_cache", cache)
        return cache

    def encode(self, text: str, max_words: int) -> list[int]:
        """Token indices of a sentence (at least one: an empty sentence is one unknown token),
        cut to ``max_words``."""
        ids = [self.index(w) for w in tokenize(text)][:max_words]
        return ids or [1]

    def to_table(self, rows: int) -> Tensor:
        """uint8 (rows, MAX_WORD_BYTES): word i + 2 in row i + 2 as zero-padded UTF-8 bytes."""
        table = torch.zeros(rows, MAX_WORD_BYTES, dtype=torch.uint8)
        for i, w in enumerate(self.words):
            b = w.encode()
            table[i + 2, : len(b)] = torch.tensor(list(b), dtype=torch.uint8)
        return table

    @classmethod
    def from_table(cls, table: Tensor) -> "WordVocabulary":
        """Inverse of :meth:`to_table` (rows 0 and 1 and empty rows are skipped)."""
        words = []
        for row in table[2:].tolist():
            b = bytes(v for v in row if v)
            if not b:
                break
            words.append(b.decode())
        return cls(tuple(words))


class ScratchTextEncoder(nn.Module):
    """Word embedding + learned positions + a transformer encoder, trained from scratch.

    Args:
        vocab_size: embedding rows (the vocabulary must fit).
        dim, num_layers, num_heads, ff_dim: transformer sizes.
        max_words: longest sentence (tokens).
    Shapes: forward(texts: list of B str) -> words (B, L, dim), pad (B, L) bool, sentence (B, dim).
    """

    def __init__(self, vocab_size: int, dim: int, num_layers: int, num_heads: int, ff_dim: int, max_words: int) -> None:
        super().__init__()
        self.feat_dim = dim
        self.max_words = max_words
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.position = nn.Parameter(torch.zeros(max_words, dim))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, num_heads, ff_dim, dropout=0.0, batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False) if num_layers > 0 else None
        self.norm = nn.LayerNorm(dim)
        self.register_buffer("vocabulary", torch.zeros(vocab_size, MAX_WORD_BYTES, dtype=torch.uint8))
        self._vocab_cache: tuple[tuple[int, int], WordVocabulary] | None = None

    def set_vocabulary(self, vocab: WordVocabulary) -> None:
        """Store ``vocab`` in the ``vocabulary`` buffer (it travels with the weights).

        Raises:
            InputError: the vocabulary does not fit the embedding.
        """
        rows = self.embed.num_embeddings
        if len(vocab) > rows:
            raise InputError(None, f"a vocabulary of {len(vocab)} tokens does not fit the {rows}-row word embedding",
                             f"set model.text.vocab_size={len(vocab)} or more")
        self.vocabulary.copy_(vocab.to_table(rows))
        self._vocab_cache = None

    @property
    def has_vocabulary(self) -> bool:
        """True once a vocabulary was set (or loaded with the weights)."""
        return bool(self.vocabulary[2:].any())

    def get_vocabulary(self) -> WordVocabulary:
        """The stored vocabulary (decoded from the buffer, cached until it changes)."""
        key = (self.vocabulary.data_ptr(), self.vocabulary._version)  # changes with set_vocabulary / load_state_dict
        if self._vocab_cache is None or self._vocab_cache[0] != key:
            self._vocab_cache = (key, WordVocabulary.from_table(self.vocabulary.cpu()))
        return self._vocab_cache[1]

    def forward(self, texts: Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
        vocab = self.get_vocabulary()
        ids = [vocab.encode(t, self.max_words) for t in texts]
        length = max(len(i) for i in ids)
        device = self.embed.weight.device
        tokens = torch.zeros(len(ids), length, dtype=torch.long, device=device)
        for b, seq in enumerate(ids):
            tokens[b, : len(seq)] = torch.tensor(seq, dtype=torch.long, device=device)
        pad = tokens == 0  # (B, L)
        x = self.embed(tokens) + self.position[:length]  # (B, L, dim)
        if self.layers is not None:
            x = self.layers(x, src_key_padding_mask=pad)
        x = self.norm(x)
        return x, pad, masked_mean(x, pad)


def masked_mean(x: Tensor, pad: Tensor) -> Tensor:
    """Mean of (B, L, D) over the non-padding tokens (``pad`` (B, L) True = padding) -> (B, D)."""
    keep = (~pad).to(x.dtype).unsqueeze(-1)
    return (x * keep).sum(1) / keep.sum(1).clamp(min=1.0)


class HuggingFaceTextEncoder(nn.Module):
    """A ``transformers`` text encoder and its tokenizer from a local folder (no downloads).

    The folder is what ``save_pretrained`` writes for a model and its tokenizer (``config.json``,
    the weights, the tokenizer files). Needs the optional extra ``text`` (``pip install
    evolve[text]``).

    Args:
        path: the local folder.
        freeze: no gradient into the encoder (SgMg's frozen RoBERTa option).
        max_words: longest sentence in tokenizer tokens.
    Shapes: forward(texts: list of B str) -> words (B, L, hidden), pad (B, L) bool,
        sentence (B, hidden).

    Raises:
        InputError: transformers not installed, a missing folder, a folder without a model
            config, a folder whose tokenizer or model cannot be loaded, or a model that is not
            a text encoder (no ``last_hidden_state`` for tokenized text).
    """

    def __init__(self, path: str | os.PathLike, freeze: bool = True, max_words: int = 24) -> None:
        super().__init__()
        folder = Path(path)
        try:
            import transformers
        except ImportError as e:
            raise InputError(folder, "the Hugging Face text encoder needs the transformers package",
                             "pip install 'evolve[text]' (or transformers), or use model.text.type=scratch") from e
        if not folder.is_dir():
            raise InputError(folder, "Hugging Face model folder not found",
                             "give a local folder written by save_pretrained (config.json, weights and tokenizer files); nothing is downloaded")
        if not (folder / "config.json").is_file():
            raise InputError(folder, "no config.json: not a Hugging Face model folder",
                             "save the model and its tokenizer there with save_pretrained")
        try:
            config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
        except Exception as e:  # noqa: BLE001 - transformers raises many types
            raise InputError(folder / "config.json", f"cannot read the model config ({type(e).__name__}: {e})", "save the model with save_pretrained") from e
        if getattr(config, "vocab_size", None) is None or getattr(config, "hidden_size", None) is None:
            raise InputError(folder, f"the model ({config.model_type}) is not a text encoder: its config has no vocab_size / hidden_size",
                             "give the folder of a text encoder (BERT, RoBERTa, ...), or use model.text.type=scratch")
        found = [f for f in TOKENIZER_FILES if (folder / f).is_file()]
        if not found:
            raise InputError(folder, f"no usable tokenizer in the folder (none of {list(TOKENIZER_FILES)})",
                             "save the tokenizer next to the model with tokenizer.save_pretrained(folder)")
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except Exception as e:  # noqa: BLE001
            raise InputError(folder, f"no usable tokenizer in the folder ({type(e).__name__}: {e})",
                             "save the tokenizer next to the model with tokenizer.save_pretrained(folder)") from e
        try:
            self.model = transformers.AutoModel.from_pretrained(folder, local_files_only=True)
        except Exception as e:  # noqa: BLE001
            raise InputError(folder, f"cannot load the model weights ({type(e).__name__}: {e})", "save the model with save_pretrained") from e
        self.feat_dim = int(config.hidden_size)
        self.max_words = max_words
        self.freeze = freeze
        if freeze:
            for p in self.model.parameters():
                p.requires_grad_(False)
        try:
            probe = self.tokenizer(["a"], return_tensors="pt")
            with torch.no_grad():
                out = self.model(**probe)
            ok = getattr(out, "last_hidden_state", None) is not None and out.last_hidden_state.shape[-1] == self.feat_dim
        except Exception as e:  # noqa: BLE001
            raise InputError(folder, f"the model does not encode tokenized text ({type(e).__name__}: {e})",
                             "give the folder of a text encoder (BERT, RoBERTa, ...)") from e
        if not ok:
            raise InputError(folder, "the model gives no word features (last_hidden_state) for text",
                             "give the folder of a text encoder (BERT, RoBERTa, ...)")

    def train(self, mode: bool = True) -> "HuggingFaceTextEncoder":
        """Set the mode; a frozen encoder stays in eval mode (no dropout)."""
        super().train(mode)
        if self.freeze:
            self.model.eval()
        return self

    def forward(self, texts: Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
        device = next(self.model.parameters()).device
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_words, return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            words = self.model(**batch).last_hidden_state  # (B, L, hidden)
        pad = batch["attention_mask"] == 0
        return words, pad, masked_mean(words, pad)


def build_text_encoder(cfg) -> nn.Module:
    """The encoder of a :class:`~evolve.model.sgmg.config.TextEncoderConfig`."""
    if cfg.type == "huggingface":
        return HuggingFaceTextEncoder(cfg.path, cfg.freeze, cfg.max_words)
    return ScratchTextEncoder(cfg.vocab_size, cfg.dim, cfg.num_layers, cfg.num_heads, cfg.ff_dim, cfg.max_words)
