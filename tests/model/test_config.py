"""ModelConfig, the YAML files and their composition (plain loader and Hydra)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from evolve.model.evolve.config import ModelConfig, load_model_config, model_config_from_dict
from evolve.model.registry import model_config_dir
from evolve.utils.errors import InputError


def test_base_yaml_equals_dataclass_defaults():
    # the YAML mirrors the dataclass: both must describe the same base model
    assert load_model_config("base") == ModelConfig()


def test_small_overrides_only_the_encoder():
    small, base = load_model_config("small"), load_model_config("base")
    assert small.pixel_encoder.type == "resnet18" and small.pixel_encoder.ms_dims == [256, 128, 64]
    assert small.name == "small"
    small.pixel_encoder, small.name = base.pixel_encoder, base.name
    assert small == base


def test_tiny_is_small_with_narrow_memory_and_one_block():
    # model=tiny (the CPU demo's network) differs from small only in widths and depths
    small, tiny = load_model_config("small"), load_model_config("tiny")
    assert tiny.pixel_encoder == small.pixel_encoder and tiny.mask_encoder == small.mask_encoder
    assert (tiny.pixel_dim, tiny.key_dim, tiny.value_dim, tiny.sensory_dim, tiny.embed_dim) == (128, 64, 128, 128, 128)
    assert (tiny.object_transformer.num_blocks, tiny.object_transformer.num_queries) == (1, 8)
    assert tiny.object_summarizer.num_summaries == 8 and tiny.mask_decoder.up_dims == [128, 64, 64]
    assert tiny.events and tiny.edft and tiny.name == "tiny"


def test_overrides_and_path_loading(tmp_path):
    cfg = load_model_config("small", ["events=false", "key_dim=64", "object_transformer.num_blocks=2"])
    assert (cfg.events, cfg.key_dim, cfg.object_transformer.num_blocks) == (False, 64, 2)
    assert not cfg.edft_active  # no event features to take offsets from
    assert load_model_config("base", ["events=false", "offset_source=image"]).edft_active
    path = tmp_path / "mine.yaml"
    path.write_text("defaults: [small]\nkey_dim: 128\n")
    shutil.copy(model_config_dir() / "small.yaml", tmp_path / "small.yaml")
    shutil.copy(model_config_dir() / "base.yaml", tmp_path / "base.yaml")
    mine = load_model_config(path)
    assert mine.key_dim == 128 and mine.pixel_encoder.type == "resnet18"


@pytest.mark.parametrize(
    "overrides, words",
    [
        (["evnts=false"], "evnts"),
        (["offset_source=flow"], "offset_source"),
        (["mrm=both"], "mrm"),
        (["pixel_encoder.ms_dims=[1024,512,256]"], "ms_dims"),
        (["key_dim=abc"], "key_dim"),
        (["object_summarizer.num_summaries=8"], "num_summaries"),
    ],
)
def test_bad_values_name_the_key(overrides, words):
    with pytest.raises(InputError) as err:
        load_model_config("small", overrides)
    assert words in str(err.value) and "Fix:" in str(err.value)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_model_config(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="not found"):
        load_model_config("no_such_model")


@dataclass
class _TrainSchema:
    exp_id: str = "default"
    model: ModelConfig = field(default_factory=ModelConfig)


def test_hydra_group_composition_matches_loader(tmp_path):
    # a train config as the lead writes it: defaults [model: small] and a typed `model` field
    shutil.copytree(model_config_dir(), tmp_path / "model")
    (tmp_path / "train_config.yaml").write_text("defaults:\n  - _train_schema\n  - model: small\n  - _self_\nexp_id: test\n")
    ConfigStore.instance().store(name="_train_schema", node=_TrainSchema)
    with initialize_config_dir(version_base=None, config_dir=str(tmp_path)):
        cfg = compose(config_name="train_config", overrides=["model.events=false"])
        assert OmegaConf.to_object(cfg.model) == load_model_config("small", ["events=false"])
        assert model_config_from_dict(cfg.model) == load_model_config("small", ["events=false"])
        base = compose(config_name="train_config", overrides=["model=base"])
        assert model_config_from_dict(base.model) == ModelConfig()
        with pytest.raises(Exception, match="evnts"):
            compose(config_name="train_config", overrides=["model.evnts=false"])
