"""Behaviours a one-line slip would break without any other test noticing, each checked against
an independent expectation: a hand-worked example, the official scorer's rule, or a property."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from eval.evaluator import WorkItem, assemble, run
from eval.metrics import accuracy, squad_v2
from eval.perturb import Lexicon, Perturbation, perturb_example
from eval.retrieval_metrics import bucc_extract, bucc_optimal_threshold
from tests import helpers as h
from trainer import config
from trainer.config import ConfigError, DataConfig
from trainer.data.collate import MlmMasker
from trainer.data.load import TaskStream
from trainer.data.samplers import task_probabilities
from trainer.engine.build import fill_ds_config
from trainer.engine.checkpoint import restore_rng
from trainer.errors import EngineConfigError, HostfileError
from trainer.runtime.hostfile import parse_hostfile


def test_squad_v2_gold_answers_that_normalise_to_nothing_take_the_no_answer_rule():
    # The official v2.0 script keeps only gold answers with a normalised text; none left means
    # the gold is "", and the right prediction is the empty answer (F1 and EM 1).
    refs = [{"id": "q", "answers": {"text": ["the", "An "]}}]
    assert squad_v2({"q": ""}, refs)["f1"] == 100.0 and squad_v2({"q": ""}, refs)["exact_match"] == 100.0
    assert squad_v2({"q": "the"}, refs)["f1"] == 100.0  # normalises to "" as well
    assert squad_v2({"q": "cat"}, refs)["f1"] == 0.0


def test_bucc_pairs_at_the_threshold_are_kept():
    # official utils_retrieve.bucc_extract: score >= threshold
    candidates = {("s1", "t1"): 0.9, ("s2", "t2"): 0.5, ("s3", "t3"): 0.4999}
    assert sorted(bucc_extract(candidates, 0.5)) == [("s1", "t1"), ("s2", "t2")]
    # the tuned threshold is the midpoint below the best-F1 candidate: 0.9, 0.5 right, 0.4999 wrong
    assert bucc_optimal_threshold(candidates, [("s1", "t1"), ("s2", "t2")]) == pytest.approx((0.5 + 0.4999) / 2)


def test_temperature_sampling_caps_sizes_before_the_temperature():
    # sizes 1000 and 10, cap 100, T = 2: weights sqrt(100) = 10 and sqrt(10); without the cap
    # the first would be sqrt(1000)
    probs = task_probabilities({"a": 1000, "b": 10}, "temperature", cap=100, temperature=2.0)
    assert probs["a"] == pytest.approx(10 / (10 + 10 ** 0.5))
    capped = task_probabilities({"a": 1000, "b": 10}, "capped", cap=100)
    assert capped["a"] == pytest.approx(100 / 110)


def test_more_predictions_than_gold_items_is_an_error():
    with pytest.raises(ValueError):
        accuracy([1, 0, 1], [1, 0])
    item = WorkItem(3.0, "xnli", "de", 0, 3)
    with pytest.raises(RuntimeError, match=r"gathered 4 predictions for 3 examples"):
        assemble({item: [0, 1, 2], WorkItem(1.0, "xnli", "de", 3, 4): [1]}, {("xnli", "de", ""): 3})
    with pytest.raises(RuntimeError, match="returned 4 results for 3 examples"):
        run([item], lambda it: [0, 0, 0, 0])


def test_a_leftover_auto_in_the_deepspeed_json_is_refused():
    ds = {"train_batch_size": "auto", "train_micro_batch_size_per_gpu": "auto",
          "gradient_accumulation_steps": "auto", "zero_optimization": {"stage": 2, "reduce_bucket_size": "auto"}}
    cfg = config.Config()
    with pytest.raises(EngineConfigError, match=r"zero_optimization.reduce_bucket_size"):
        fill_ds_config(ds, cfg, lr=1e-5, global_batch=32, world_size=1, total_steps=10)


def _draw() -> list[float]:
    return [random.random(), float(np.random.rand()), float(torch.rand(1))]


def test_rank_seeds_depend_on_the_rank_also_for_a_rank_the_checkpoint_lacks():
    restore_rng(None, 0, seed=7, step=5)
    zero = _draw()
    restore_rng(None, 1, seed=7, step=5)
    one = _draw()
    restore_rng(None, 1, seed=7, step=5)
    assert _draw() == one and all(a != b for a, b in zip(zero, one))
    # a checkpoint of one rank resumed on two: rank 1 gets fresh streams, not rank 0's
    restore_rng(None, 0, seed=7, step=5)
    saved = [{"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}]
    restore_rng(saved, 0, seed=7, step=5)
    from_zero = _draw()
    restore_rng(saved, 1, seed=7, step=5)
    assert _draw() != from_zero


class _Features:
    def __init__(self, lengths):
        self.lengths = lengths

    def with_format(self, *_a, **_k):
        return self

    def __getitem__(self, key):
        return np.asarray(self.lengths) if key == "length" else None


def _stream(seed: int, lengths) -> TaskStream:
    return TaskStream("t", _Features(lengths), global_batch=4, micro_batch=4, world_size=1, rank=0, seed=seed)


def _batches(stream: TaskStream, n: int) -> list[list[int]]:
    return [stream.next_step()[0] for _ in range(n)]


def test_length_grouped_batches_are_shuffled_and_reproducible(monkeypatch):
    import trainer.data.load as load

    monkeypatch.setattr(load, "int_column", lambda features, name="length": np.asarray(features.lengths))
    lengths = list(range(1, 129))  # every row a different length
    a = _batches(_stream(1, lengths), 32)
    assert a == _batches(_stream(1, lengths), 32)
    assert a != _batches(_stream(2, lengths), 32)
    # rows of a batch have neighbouring lengths, but the batches are not in length order
    firsts = [lengths[b[0]] for b in a]
    assert firsts != sorted(firsts) and firsts != sorted(firsts, reverse=True)
    assert all(max(lengths[i] for i in b) - min(lengths[i] for i in b) <= 16 for b in a)


def test_mlm_random_replacement_never_writes_a_special_id():
    special = [0, 1, 2, 3]
    masker = MlmMasker(mask_id=3, vocab_size=12, special_ids=special, prob=0.9, seed=0)
    ids = torch.randint(4, 12, (64, 40))
    ids[:, 0], ids[:, -1] = 0, 2  # <s> ... </s>
    for step in range(20):
        masker.set_step(step)
        masked, labels, _ = masker(ids, torch.ones_like(ids))
        swapped = (labels != -100) & (masked != 3) & (masked != ids)
        assert swapped.any()  # random replacements happen
        assert not torch.isin(masked[swapped], torch.tensor(special)).any()
        assert (labels[:, 0] == -100).all() and (masked[:, 0] == 0).all()  # specials untouched


def test_code_switching_tagging_keeps_one_token_per_tag():
    lex = Lexicon([("c1", "de", "Haus"), ("c1", "en", "big house"), ("c2", "de", "Katze"), ("c2", "en", "cat")])
    ex = {"id": "1", "tokens": ["Das", "Haus", "und", "Katze"], "tags": ["O", "B-LOC", "O", "O"]}
    out = perturb_example("tagging", ex, Perturbation("code_switch", 1.0, 0), ("panx", "de", "1"), "de", lex)
    assert len(out["tokens"]) == len(out["tags"]) == 4 and out["tags"] == ex["tags"]
    assert all(len(t.split()) == 1 for t in out["tokens"])
    assert out["tokens"][3] == "cat"  # a one-word form is used, the two-word one is not


@pytest.mark.parametrize("line", ["node1 slots=2 extra", "node1 slots=2 slots=3", "node1 slots=2x",
                                  "node1 2", "node1 slots=2 # ok\nnode2 slots=1 junk"])
def test_a_hostfile_line_with_extra_or_garbage_fields_names_its_line(tmp_path, line):
    path = h.write_text(str(tmp_path / "hosts"), line + "\n")
    bad_line = line.count("\n") + 1
    with pytest.raises(HostfileError, match=rf"hosts:{bad_line}: "):
        parse_hostfile(path)


@pytest.mark.parametrize("text", ["[run]\nseed = true\n", "[deepspeed]\nmicro_batch = false\n"])
def test_config_refuses_a_boolean_where_an_integer_is_required(tmp_path, text):
    recipe = h.write_text(str(tmp_path / "r.toml"), text)
    with pytest.raises(ConfigError, match=r"expected int, got bool"):
        config.load(recipe)
    key = text.split("\n")[1].split(" =")[0]
    section = text.split("]")[0][1:]
    with pytest.raises(ConfigError):
        config.load(None, [f"{section}.{key}=true"])
    assert isinstance(DataConfig().max_length, int)
