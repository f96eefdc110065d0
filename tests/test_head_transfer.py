"""Head transfer between phases is a per-phase choice: `carry` starts a head from the starting
export's head of the same name, kind and size; `fresh` starts every head anew. Both are
recorded, and the old run-wide switch is refused with a pointer to the new key."""
from __future__ import annotations

import pytest
import torch

from tests import helpers as h
from trainer import config
from trainer.config import ConfigError, ModelConfig, PhaseConfig
from trainer.config.phases import PhaseRun
from trainer.model.build import build_model
from trainer.model.export import matching_heads, read_export_meta, save_export
from trainer.model.multitask import HeadSpec
from trainer.synth.toy_tokenizer import load_tokenizer
from trainer.training.state import head_start

NLI = HeadSpec("classification", 3, ["a", "b", "c"])


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    """An export whose `nli` head is far from any fresh initialisation, and a batch."""
    tmp = tmp_path_factory.mktemp("heads")
    tok = load_tokenizer(h.build_tok(str(tmp / "tok")))
    tiny = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
            "vocab_size": len(tok), "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    cfg = ModelConfig(name="", init_config=tiny)
    model = build_model(cfg, {"nli": NLI, "qa": HeadSpec("span", 2)}, {"mnli": "nli", "squad": "qa"}, seed=1)
    with torch.no_grad():
        for p in model.heads["nli"].parameters():
            p.fill_(0.37)
    path = str(tmp / "export")
    save_export(model, path, tok)
    ids = torch.tensor([[0, 5, 6, 7, 2], [0, 8, 9, 2, 1]])
    batch = {"input_ids": ids, "attention_mask": (ids != 1).long(), "labels": torch.tensor([0, 2])}
    return cfg, path, batch


def logits(model, batch):
    model.eval()
    with torch.no_grad():
        return model("xnli", batch)[1]


def test_carried_and_fresh_heads_start_from_different_logits(start):
    cfg, path, batch = start
    carried = build_model(cfg, {"nli": NLI}, {"xnli": "nli"}, init=path, seed=7, carry_heads=True)
    fresh = build_model(cfg, {"nli": NLI}, {"xnli": "nli"}, init=path, seed=7, carry_heads=False)
    assert all(torch.all(p == 0.37) for p in carried.heads["nli"].parameters())
    assert not any(torch.all(p == 0.37) for p in fresh.heads["nli"].parameters())
    assert not torch.allclose(logits(carried, batch), logits(fresh, batch))
    # the encoder is the export's either way
    for a, b in zip(carried.encoder.parameters(), fresh.encoder.parameters()):
        assert torch.equal(a, b)
    # a fresh head is the same for the same seed: every setting starts its target phase alike
    again = build_model(cfg, {"nli": NLI}, {"xnli": "nli"}, init=path, seed=7, carry_heads=False)
    assert torch.equal(logits(fresh, batch), logits(again, batch))


def test_only_heads_of_the_same_name_kind_and_size_are_carried(start):
    _, path, _ = start
    meta = read_export_meta(path)
    assert matching_heads(meta, {"nli": NLI, "qa": HeadSpec("span", 2)}) == ["nli", "qa"]
    assert matching_heads(meta, {"nli": HeadSpec("classification", 2, ["x", "y"])}) == []
    assert matching_heads(meta, {"copa": HeadSpec("multiple_choice", 1)}) == []


@pytest.mark.parametrize("mode, carried", [("carry", ["nli"]), ("fresh", [])])
def test_the_run_records_how_its_heads_started(start, mode, carried):
    _, path, _ = start
    run = PhaseRun("target/xnli", PhaseConfig(name="target", heads=mode), [], path, "/unused")
    assert head_start(run, {"nli": NLI}) == {"mode": mode, "carried": carried}
    first = PhaseRun("inter", PhaseConfig(name="inter", heads=mode), [], "pretrained", "/unused")
    assert head_start(first, {"nli": NLI}) == {"mode": mode, "carried": []}


def test_heads_setting_is_checked_and_the_old_switch_points_to_it():
    base = ["model.init_config={\"hidden_size\": 8}", "phases=[]"]
    with pytest.raises(ConfigError, match=r"phases.0.heads: expected carry or fresh, got 'keep'"):
        config.from_dict({"model": {"name": "", "init_config": {"hidden_size": 8}},
                          "phases": [{"name": "a", "tasks": ["xnli"], "heads": "keep"}]})
    with pytest.raises(ConfigError, match=r"model.reuse_heads is now phases.N.heads"):
        config.load(None, base + ["model.reuse_heads=false"])


def test_a_recipe_file_with_the_old_switch_is_told_where_it_went(tmp_path):
    recipe = h.write_text(str(tmp_path / "r.toml"), "[model]\nreuse_heads = false\n")
    with pytest.raises(ConfigError, match=r"r.toml: model.reuse_heads is now phases.N.heads"):
        config.load(recipe)
