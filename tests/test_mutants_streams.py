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
