"""The training streams of a run built in process, without a launcher: one stream per task with
its head kind, padding and (for MLM only) a masker; the micro-batch from the global batch and
the ranks; batches padded to the set multiple; meta left on the host."""
from __future__ import annotations

import types

import pytest
import torch

from tests import helpers as h
from trainer import config
from trainer.data import streams as S
from trainer.data.tokenizer import load_tokenizer_from
from trainer.runtime import dist
from trainer.tasks import get_task


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("streams")
    tok = h.session_tok(tmp_path_factory)
    data = h.write_xnli(str(root / "data"), n_train=12, n_dev=4)
    cfg = config.from_dict(h.recipe_tree(data, tok, str(root / "out")))
    cfg.data.cache_dir = str(root / "cache")
    return cfg, load_tokenizer_from(tok)


def _run(*tasks):
    return types.SimpleNamespace(name="inter", tasks=[get_task(t) for t in tasks])


def test_one_stream_per_task_with_its_padding(parts):
    cfg, tok = parts
    cfg.deepspeed.micro_batch, cfg.data.pad_to_multiple_of = 0, 8
    streams = S.build_streams(cfg, _run("xnli"), tok, dist.DistInfo(), 8)
    stream = streams["xnli"]
    assert list(streams) == ["xnli"] and isinstance(stream, S.TrainStream)
    assert (stream.kind, stream.pad_id, stream.pad_multiple, stream.masker) == \
        ("classification", tok.pad_token_id, 8, None)
    rows = [stream.features[i] for i in range(3)]
    batch = stream.collate(rows, step=0)
    width = batch["input_ids"].shape[1]
    assert width % 8 == 0 and width >= max(len(r["input_ids"]) for r in rows)
    assert batch["labels"].tolist() == [r["labels"] for r in rows]
    assert (batch["input_ids"][batch["attention_mask"] == 0] == tok.pad_token_id).all()
    moved = S.to_device(batch, torch.device("cpu"))
    assert "meta" not in moved and set(moved) == set(batch) - {"meta"}
    assert torch.equal(moved["input_ids"], batch["input_ids"])


def test_micro_batch_and_no_padding_multiple(parts):
    cfg, tok = parts
    cfg.deepspeed.micro_batch, cfg.data.pad_to_multiple_of = 0, 0
    stream = S.build_streams(cfg, _run("xnli"), tok, dist.DistInfo(), 8)["xnli"]
    assert stream.pad_multiple == 0
    rows = [stream.features[i] for i in range(3)]
    assert stream.collate(rows, step=0)["input_ids"].shape[1] == max(len(r["input_ids"]) for r in rows)


def test_the_masker_follows_the_config_and_tokenizer(parts):
    cfg, tok = parts
    cfg.data.mlm_probability, cfg.run.seed = 0.25, 5
    masker = S.build_masker(tok, cfg)
    assert masker.mask_id == tok.mask_token_id and masker.vocab_size == len(tok)
    assert masker.prob == 0.25 and masker.seed == 5
    assert masker.special.tolist() == sorted(set(tok.all_special_ids))


def test_an_mlm_stream_masks_at_its_step(parts):
    cfg, tok = parts
    cfg.deepspeed.micro_batch, cfg.data.pad_to_multiple_of = 0, 0
    stream = S.build_streams(cfg, _run("xnli"), tok, dist.DistInfo(), 8)["xnli"]
    rows = [{"input_ids": stream.features[i]["input_ids"]} for i in range(4)]
    stream.kind, stream.masker = "mlm", S.build_masker(tok, cfg)
    batch = stream.collate(rows, step=3)
    assert stream.masker.step == 3
    assert {"labels", "mlm_positions"} <= set(batch)
    again = stream.collate(rows, step=3)  # the same step masks the same positions
    assert torch.equal(batch["labels"], again["labels"])


def test_load_train_features_keeps_the_example_limit(parts):
    cfg, tok = parts
    cfg.data.max_train_examples = 5
    try:
        features = S.load_train_features(cfg, get_task("xnli"), tok, dist.DistInfo())
    finally:
        cfg.data.max_train_examples = 0
    assert len(features) == 5


def test_longest_choices_divides_by_the_number_of_choices():
    from datasets import Dataset

    features = Dataset.from_dict({"input_ids": [[[1, 2, 3], [1, 2, 3]], [[1, 2], [1, 2], [1, 2]], [[7]]],
                                  "length": [6, 6, 1]})
    got = S.longest_choices(features)
    assert got.tolist() == [3, 2, 1] and got.dtype.kind == "i"


def _task(name: str, kind: str):
    return types.SimpleNamespace(name=name, kind=kind)


def test_report_truncation_counts_features_at_the_limit_and_names_the_key(parts, caplog):
    cfg, _ = parts
    cfg.data.max_length, cfg.data.qa_max_length, cfg.data.task_max_length = 128, 384, {}
    with caplog.at_level("WARNING", logger="xstilts.data"):
        assert S.report_truncation(_task("xnli", "classification"), [128, 5, 300, 127], cfg) == 2
    assert caplog.messages == ["xnli: 2 of 4 training features reached data.max_length = 128 tokens and were truncated"]
    caplog.clear()
    cfg.data.task_max_length = {"udpos": 100}
    with caplog.at_level("WARNING", logger="xstilts.data"):
        assert S.report_truncation(_task("udpos", "tagging"), [100, 99], cfg) == 1
    assert caplog.messages == ["udpos: 1 of 2 training features reached data.task_max_length.udpos = 100 tokens "
                               "and were truncated"]
    cfg.data.task_max_length = {}
    # QA windows are never truncated features; nothing to count is 0
    assert S.report_truncation(_task("squad", "span"), [500], cfg) == 0
    assert S.report_truncation(_task("xnli", "classification"), [], cfg) == 0
    assert S.report_truncation(_task("xnli", "classification"), [1, 2], cfg) == 0


def test_a_stream_knows_its_task_batch_and_rank(parts, caplog, monkeypatch):
    cfg, tok = parts
    cfg.deepspeed.micro_batch, cfg.data.pad_to_multiple_of = 2, -1
    monkeypatch.setattr(S.dist, "device_type", lambda: "cuda")  # auto padding: 8 on a GPU
    info = dist.DistInfo(rank=1, world_size=2, local_rank=1, local_world_size=2)
    with caplog.at_level("INFO", logger="xstilts.data"):
        stream = S.build_streams(cfg, _run("xnli"), tok, info, 8)["xnli"]
    assert (stream.name, stream.global_batch, stream.micro_batch) == ("xnli", 8, 2)
    assert (stream.world_size, stream.rank, stream.pad_multiple) == (2, 1, 8)
    assert "[inter] xnli: 12 training features" in caplog.messages


def test_to_device_moves_tensors_only_and_drops_meta():
    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long), "meta": [{"id": "a"}], "n": 3}
    moved = S.to_device(batch, torch.device("meta"))
    assert moved["input_ids"].device.type == "meta" and moved["n"] == 3 and "meta" not in moved


def test_only_an_mlm_task_gets_a_masker_and_streams_keep_seed_and_grouping(parts, monkeypatch):
    cfg, tok = parts
    cfg.deepspeed.micro_batch, cfg.data.pad_to_multiple_of = 0, 0
    cfg.run.seed, cfg.data.group_by_length, cfg.data.mlm_probability = 9, False, 0.2
    features = S.load_train_features(cfg, get_task("xnli"), tok, dist.DistInfo())
    monkeypatch.setattr(S, "load_train_features", lambda *a: features)
    run = types.SimpleNamespace(name="inter", tasks=[types.SimpleNamespace(name="mlm", kind="mlm"),
                                                     types.SimpleNamespace(name="xnli", kind="classification")])
    streams = S.build_streams(cfg, run, tok, dist.DistInfo(), 8)
    masker = streams["mlm"].masker
    assert isinstance(masker, S.MlmMasker) and streams["xnli"].masker is None
    assert (masker.mask_id, masker.prob, masker.seed) == (tok.mask_token_id, 0.2, 9)
    assert all((s.seed, s.group_by_length) == (9, False) for s in streams.values())
