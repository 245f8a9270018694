"""Text encoders: the word vocabulary (unknown words never crash), the scratch encoder, and a
Hugging Face encoder from a local folder (tiny random config; skipped without transformers)."""

from __future__ import annotations

import json

import pytest
import torch

from evolve.model.sgmg.text import (
    HuggingFaceTextEncoder,
    ScratchTextEncoder,
    WordVocabulary,
    masked_mean,
    tokenize,
)
from evolve.utils.errors import InputError

TRAIN = ["The large red square", "the circle left of the blue star", "the triangle moving up!", "the red circle"]


def test_tokenize_and_vocabulary_order():
    assert tokenize("The RED square, moving-up!") == ["the", "red", "square", "moving", "up"]
    vocab = WordVocabulary.from_texts(TRAIN, 64)
    # "the" (5x) first, then "circle" and "red" (2x, alphabetical), then the rest alphabetical
    assert vocab.words[:3] == ("the", "circle", "red")
    assert vocab.index("the") == 2 and vocab.index("zebra") == 1
    assert vocab.encode("the purple zebra square", 10) == [2, 1, 1, vocab.index("square")]
    assert vocab.encode("", 10) == [1] and vocab.encode("?!", 10) == [1]  # never empty
    assert len(vocab.encode("the " * 50, 7)) == 7


def test_vocabulary_too_large_names_the_setting():
    with pytest.raises(InputError, match="vocab_size=.*or more"):
        WordVocabulary.from_texts(TRAIN, 5)


def test_scratch_encoder_unknown_words_and_state_dict_round_trip():
    torch.manual_seed(0)
    enc = ScratchTextEncoder(vocab_size=32, dim=16, num_layers=1, num_heads=2, ff_dim=32, max_words=8).eval()
    assert not enc.has_vocabulary
    words, pad, sent = enc(["anything at all"])  # no vocabulary yet: all unknown, no crash
    assert words.shape == (1, 3, 16) and not pad.any()
    vocab = WordVocabulary.from_texts(TRAIN, 32)
    enc.set_vocabulary(vocab)
    assert enc.has_vocabulary and enc.get_vocabulary() == vocab
    words, pad, sent = enc(["the red square", "a completely unseen sentence of words here"])
    assert words.shape == (2, 7, 16) and pad.tolist()[0] == [False] * 3 + [True] * 4
    assert torch.allclose(sent, masked_mean(words, pad))
    assert torch.allclose(sent[0], words[0, :3].mean(0), atol=1e-6)
    # unknown words share the unknown token's embedding
    a = enc(["zebra"])[0]
    b = enc(["okapi"])[0]
    assert torch.allclose(a, b)
    # the vocabulary travels in the state dict
    other = ScratchTextEncoder(vocab_size=32, dim=16, num_layers=1, num_heads=2, ff_dim=32, max_words=8).eval()
    other.load_state_dict(enc.state_dict())
    assert other.get_vocabulary() == vocab
    assert torch.allclose(other(["the red square"])[0], enc(["the red square"])[0])
    with pytest.raises(InputError, match="does not fit"):
        ScratchTextEncoder(4, 16, 1, 2, 32, 8).set_vocabulary(vocab)


@pytest.fixture
def tiny_hf_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["[PAD]", "[UNK]", "the", "red", "square", "circle", "left", "of"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=32)
    folder = tmp_path / "tiny_bert"
    transformers.BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def test_huggingface_encoder_from_local_folder(tiny_hf_folder):
    enc = HuggingFaceTextEncoder(tiny_hf_folder, freeze=True, max_words=8)
    enc.train()
    assert not enc.model.training  # a frozen encoder keeps dropout off
    words, pad, sent = enc(["the red square", "the zebra"])  # "zebra" -> [UNK], no crash
    assert words.shape == (2, 3, 16) and enc.feat_dim == 16
    assert pad.tolist() == [[False, False, False], [False, False, True]]
    assert torch.allclose(sent[1], words[1, :2].mean(0), atol=1e-6)
    assert not any(p.requires_grad for p in enc.model.parameters())


def test_huggingface_sgmg_end_to_end(tiny_hf_folder):
    from evolve.model import registry

    cfg = registry.load_model_config("sgmg", [f"text.type=huggingface", f"text.path={tiny_hf_folder}", "events=false", "hidden_dim=16"])
    net = registry.build_model(cfg).eval()
    pred = net.predict(torch.rand(2, 3, 64, 64), None, "the red circle")
    assert pred.prob.shape == (2, 64, 64)


def test_huggingface_missing_or_wrong_folder(tmp_path):
    pytest.importorskip("transformers")
    with pytest.raises(InputError, match="Hugging Face model folder not found"):
        HuggingFaceTextEncoder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no config.json"):
        HuggingFaceTextEncoder(tmp_path / "empty")
    import transformers

    vision = tmp_path / "vit"
    transformers.ViTModel(transformers.ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                                 image_size=16, patch_size=8)).save_pretrained(vision)
    with pytest.raises(InputError, match="not a text encoder"):
        HuggingFaceTextEncoder(vision)
    bert = tmp_path / "bert_without_tokenizer"
    transformers.BertModel(transformers.BertConfig(vocab_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                   intermediate_size=32)).save_pretrained(bert)
    with pytest.raises(InputError, match="no usable tokenizer"):
        HuggingFaceTextEncoder(bert)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "no-such-model"}))
    with pytest.raises(InputError, match="cannot read the model config"):
        HuggingFaceTextEncoder(broken)
