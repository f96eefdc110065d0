"""The follow-up questions' building blocks: MLM co-training on a user-given corpus at a set
rate, intermediate tasks on translated or native data (``TASK@LANG``), sequential chains of any
length, and BERT-type encoders (token_type_ids, export and reload).

Pure pieces are tested in milliseconds; one tiny single-process run (a 2-layer BERT built from
a config, a WordPiece tokenizer trained here) goes through all of them at once:
``mix`` (xnli + xnli@de + mlm at 50%) -> ``second`` (xnli@de) -> per-target ``xnli``, scored."""
from __future__ import annotations

import json
import os
import random

import pytest
import torch

from tests import helpers as h
from trainer.config import ConfigError, DataConfig, PhaseConfig, SamplerConfig, from_dict
from trainer.data.load import data_source
from trainer.data.samplers import TaskSampler, build_sampler, task_probabilities
from trainer.tasks import UnknownTask, get_task
from trainer.training.loop import total_steps

# ---------------------------------------------------------------- translated data (TASK@LANG)


def test_task_at_language_reads_the_translated_layout():
    mnli_de = get_task("mnli@de")
    assert mnli_de is get_task("mnli@de")  # built once
    assert (mnli_de.head, mnli_de.labels, mnli_de.train_language) == ("nli", get_task("mnli").labels, "de")
    assert mnli_de.local_path("/d", "train", "de") == "/d/XNLI-MT-1.0/multinli/multinli.train.de.tsv"
    assert mnli_de.local_path("/d", "validation", "en") == "/d/MNLI/dev_matched.tsv"  # dev stays
    assert "train" not in mnli_de.hub  # the English hub copy is not German data
    assert get_task("xnli@fr").local_path("/d", "train", "fr") == "/d/xnli/train-fr.tsv"
    assert get_task("squad_v2@es").local_path("/d", "train", "es") == "/d/squad/train-v2.0-es.json"
    assert get_task("xnli@fr").train_group == "xnli@fr"  # its own run in a per-task phase
    for bad, why in (("tatoeba@de", "is a retrieval task"), ("mnli@DE", "not a language code"),
                     ("nope@de", "unknown task")):
        with pytest.raises(UnknownTask, match=why):
            get_task(bad)


def test_translated_file_is_read_with_the_tasks_reader(tmp_path):
    """XNLI-MT's header TSV (premise, hypo, label with "contradictory") in the canonical schema."""
    path = h.write_text(str(tmp_path / "XNLI-MT-1.0/multinli/multinli.train.de.tsv"),
                        "premise\thypo\tlabel\nEin Hund.\tEin Tier.\tentailment\n"
                        "Es regnet.\tDie Sonne scheint.\tcontradictory\n")
    from trainer.tasks.base import SkipCounter

    task = get_task("mnli@de")
    rows = list(task.read_local(task.local_path(str(tmp_path), "train", "de"), "train", "de", SkipCounter()))
    assert os.path.samefile(task.local_path(str(tmp_path), "train", "de"), path)
    assert [(r["text_a"], r["label"]) for r in rows] == [("Ein Hund.", 0), ("Es regnet.", 2)]


class _Cfg:
    def __init__(self, **data):
        self.data = DataConfig(root="/data", **data)


def test_train_files_point_a_task_elsewhere():
    cfg = _Cfg(train_files={"mlm": "/corpora/cc100.txt", "mnli@de": "mt/{lang}.tsv",
                            "mlm@sw": "hub:wikimedia/wikipedia:20231101.{lang}"})
    assert data_source(get_task("mlm"), "train", "mul", cfg) == ("local", "/corpora/cc100.txt", None)
    assert data_source(get_task("mnli@de"), "train", "de", cfg)[1] == "/data/mt/de.tsv"
    assert data_source(get_task("mnli@de"), "validation", "en", cfg)[1] == "/data/MNLI/dev_matched.tsv"
    kind, _, hub = data_source(get_task("mlm@sw"), "train", "sw", cfg)
    assert (kind, hub) == ("hub", ("wikimedia/wikipedia", "20231101.sw", "train"))
    assert data_source(get_task("mlm"), "train", "mul", _Cfg())[1] == "/data/mlm/train.txt"


# ---------------------------------------------------------------- MLM co-training at a set rate


def test_fixed_rate_tasks_do_not_lengthen_the_phase():
    phase = PhaseConfig(name="p", tasks=["a", "mlm"], epochs=2.0)
    assert total_steps(phase, {"a": 800, "mlm": 10**9}, 32, {"mlm": 0.2}) == 63  # ceil(2 * 800 / 32 / 0.8)
    assert total_steps(phase, {"a": 800}, 32, {"mlm": 0.2}) == 50  # a phase without MLM
    sampler = build_sampler({"a": 800}, SamplerConfig(fixed={"mlm": 0.2}), seed=0)
    assert sampler.tasks == ["a"]  # the rate belongs to the phases that train mlm
    draws = TaskSampler(task_probabilities({"a": 800, "b": 200, "mlm": 5}, fixed={"mlm": 0.2}), 0)
    share = sum(draws.task_at(s) == "mlm" for s in range(4000)) / 4000
    assert share == pytest.approx(0.2, abs=0.02)


def recipe_dict(**sampler_and_data) -> dict:
    tree = h.recipe_tree("/d", "/t", "/o")
    tree["phases"] = [{"name": "inter", "tasks": ["xnli", "mlm"]}, {"name": "target", "init": "inter",
                                                                   "tasks": ["xnli"], "per_task": True}]
    for key, value in sampler_and_data.items():
        section, name = key.split("__")
        tree.setdefault(section, {})[name] = value
    return tree


@pytest.mark.parametrize("key, value, message", [
    ("sampler__fixed", {"mlmm": 0.2}, r"sampler.fixed: \['mlmm'\] not trained by any phase"),
    ("sampler__fixed", {"mlm": 1.0}, r"sampler.fixed.mlm: expected a rate in \[0, 1\)"),
    ("sampler__fixed", {"mlm": "0.2"}, "expected a rate"),
    ("data__train_files", {"mnli@de": "x.tsv"}, "data.train_files: .* not trained by any phase"),
    ("data__train_files", {"mlm": "hub:"}, "expected a path or hub:ID"),
    ("data__train_files", {"mlm": "mlm/train-{language}.txt"}, r"data.train_files.mlm: .* not a valid pattern"),
    ("data__train_files", {"mlm": "mlm/{}.txt"}, r"data.train_files.mlm: .* not a valid pattern"),
    ("data__train_files", {"mlm": "hub:a:b:c:d"}, r"not a valid pattern .*hub:ID\[:CONFIG"),
    ("data__train_files", {"mlm": "hub::cfg"}, r"data.train_files.mlm: 'hub::cfg' is not a valid pattern"),
])
def test_fixed_rates_and_train_files_are_checked(key, value, message):
    from_dict(recipe_dict())  # valid as it is
    with pytest.raises(ConfigError, match=message):
        from_dict(recipe_dict(**{key: value}))


# ---------------------------------------------------------------- BERT-type encoders


def build_bert_tok(out_dir: str) -> str:
    """A WordPiece tokenizer with BERT's framing ([CLS] a [SEP] b [SEP], segment ids 0/1)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast

    if os.path.isfile(os.path.join(out_dir, "tokenizer.json")):
        return out_dir
    rng = random.Random(0)
    texts = [h.sentence(rng) for _ in range(300)] + ["Der Fluss und die Stadt ."] * 5
    core = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=False)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    core.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials,
                                                              show_progress=False))
    cls, sep = core.token_to_id("[CLS]"), core.token_to_id("[SEP]")
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    core.decoder = decoders.WordPiece()
    BertTokenizerFast(tokenizer_object=core, do_lower_case=False).save_pretrained(out_dir)
    return out_dir


BERT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "max_position_embeddings": 64, "type_vocab_size": 2, "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0}


@pytest.fixture(scope="module")
def bert_tok(tmp_path_factory) -> str:
    return build_bert_tok(str(tmp_path_factory.mktemp("bert-tok")))


def test_bert_pairs_carry_segment_ids_into_the_encoder(bert_tok):
    from transformers import AutoTokenizer

    from trainer.config import ModelConfig
    from trainer.data.collate import collate
    from trainer.data.features import featurize
    from trainer.model.build import build_model
    from trainer.model.multitask import HeadSpec

    tok = AutoTokenizer.from_pretrained(bert_tok)
    feats = featurize("classification", {"id": ["0"], "text_a": ["the city"], "text_b": ["a river"],
                                         "label": [1]}, tok, max_length=32, labels=("a", "b"), is_train=True)
    types = feats["token_type_ids"][0]
    assert types[0] == 0 and types[-1] == 1 and set(types) == {0, 1}
    cfg = ModelConfig(name="", arch="bert", init_config=dict(BERT, vocab_size=len(tok), pad_token_id=0),
                      attn_implementation="eager")
    model = build_model(cfg, {"nli": HeadSpec("classification", 2)}, {"xnli": "nli"}).eval()
    batch = collate("classification", [{k: v[0] for k, v in feats.items()}], tok.pad_token_id)
    same = dict(batch, token_type_ids=torch.zeros_like(batch["token_type_ids"]))
    assert not torch.allclose(model("xnli", batch)[1], model("xnli", same)[1])  # segment ids are used


# ---------------------------------------------------------------- one tiny run through all of it


SEED = 2


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory, bert_tok) -> tuple[str, h.Result]:
    root = str(tmp_path_factory.mktemp("chain"))
    data = h.write_xnli(os.path.join(root, "data"))
    h.write_text(os.path.join(data, "xnli", "train-de.tsv"), "\n".join(h.xnli_rows(48, seed=5)) + "\n")
    h.write_text(os.path.join(data, "xnli", "dev-de.tsv"), "\n".join(h.xnli_rows(24, seed=6)) + "\n")
    rng = random.Random(1)
    corpus = h.write_text(os.path.join(root, "corpus.txt"), "\n".join(h.sentence(rng, 20, 40) for _ in range(40)))
    tree = h.recipe_tree(data, bert_tok, os.path.join(root, "run"), dropout=0.0)
    tree["run"]["log_every"] = 100
    tree["run"]["seed"] = SEED
    tree["model"].update(arch="bert", init_config=dict(BERT))
    tree["data"]["train_files"] = {"mlm": corpus}
    tree["sampler"] = {"fixed": {"mlm": 0.5}}
    tree["checkpoint"] = {"every": 0, "keep_last": 1}
    tree["eval"] = {"split": "dev", "languages": ["en", "de"]}
    tree["phases"] = [
        {"name": "mix", "tasks": ["xnli", "xnli@de", "mlm"], "max_steps": 6},
        {"name": "second", "init": "mix", "tasks": ["xnli@de"], "max_steps": 2},
        {"name": "target", "init": "second", "tasks": ["xnli"], "per_task": True, "max_steps": 2,
         "evaluate": True}]
    recipe = h.write_text(os.path.join(root, "recipe.toml"), h.dump_toml(tree))
    out = os.path.join(root, "run")
    result = h.run(h.train_cmd("single", recipe, out), os.path.join(root, "log"), timeout=240)
    return out, result


def meta(out: str, *phase: str) -> dict:
    with open(os.path.join(out, *phase, "export", "xstilts.json")) as f:
        return json.load(f)


@pytest.mark.slow
def test_mlm_is_co_trained_at_its_rate(chain_run):
    out, r = chain_run
    assert r.rc == 0, r.tail()
    probs = task_probabilities({"xnli": 64, "xnli@de": 48, "mlm": 1}, fixed={"mlm": 0.5})
    drawn = {TaskSampler(probs, SEED).task_at(s) for s in range(6)}
    assert drawn == {"xnli", "xnli@de", "mlm"}  # this seed trains all three in 6 steps
    rows = h.metric_rows(out, "mix")
    prob = {k.split("/")[-1]: v for row in rows for k, v in row.items() if k.startswith("train/task_prob/")}
    assert prob == pytest.approx({"xnli": 0.5 * 64 / 112, "xnli@de": 0.5 * 48 / 112, "mlm": 0.5})
    losses = {k for row in rows for k in row if k.startswith("train/loss/")}
    assert losses == {"train/loss/xnli", "train/loss/xnli@de", "train/loss/mlm"}
    assert "mlm: 40 training features" in r.output  # one per line of the corpus (short lines)


@pytest.mark.slow
def test_translated_data_trains_its_own_stream_with_the_shared_head(chain_run):
    out, r = chain_run
    assert r.rc == 0, r.tail()
    assert "xnli@de: 48 training features" in r.output and "xnli: 64 training features" in r.output
    assert meta(out, "mix")["task_to_head"] == {"xnli": "nli", "xnli@de": "nli", "mlm": "mlm"}


@pytest.mark.slow
def test_chain_of_two_intermediate_phases_feeds_the_target(chain_run):
    out, r = chain_run
    assert r.rc == 0, r.tail()
    assert meta(out, "second")["init"] == os.path.join(out, "mix", "export")
    assert meta(out, "target", "xnli")["init"] == os.path.join(out, "second", "export")
    with open(os.path.join(out, "results.json")) as f:
        scored = json.load(f)["tasks"]["xnli"]["languages"]
    assert set(scored) == {"en", "de"}


@pytest.mark.slow
def test_bert_encoder_exports_and_reloads(chain_run, bert_tok):
    from transformers import AutoModel

    out, r = chain_run
    assert r.rc == 0, r.tail()
    export = os.path.join(out, "target", "xnli", "export")
    with open(os.path.join(export, "config.json")) as f:
        assert json.load(f)["model_type"] == "bert"
    assert type(AutoModel.from_pretrained(export)).__name__ == "BertModel"
    from trainer.model.export import load_export

    model = load_export(export, "eager")
    ids = torch.tensor([[2, 7, 9, 3]])
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    assert model.embed(batch, layer=1).shape == (1, 32)
    assert model("xnli", batch)[1].shape == (1, 3)
