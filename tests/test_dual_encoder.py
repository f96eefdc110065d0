"""Retrieval targets that train (LAReQA, Mewsli-X): the dual-encoder head's loss worked by hand,
its in-batch groups (the same loss however a batch is split over ranks), embedding with the
trained head, the pair features and collation, the readers of the training and selection data,
and how a per-task phase plans them (their own settings, scored with their own export)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests import helpers as h
from trainer import config
from trainer.config import ModelConfig, PhaseConfig, pair_lengths
from trainer.config.phases import plan_runs, target_phase
from trainer.data.collate import collate
from trainer.data.features import featurize
from trainer.errors import DataError
from trainer.model.build import build_model
from trainer.model.export import load_export, save_export
from trainer.model.heads import DualEncoderHead
from trainer.model.multitask import HeadSpec, head_specs
from trainer.synth.toy_tokenizer import load_tokenizer
from trainer.tasks import get_task
from trainer.tasks.base import SkipCounter
from trainer.tasks.lareqa import infer_sentence_breaks, squad_pairs

TINY = dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=70, pad_token_id=1)


def tiny(negatives: int = 2, shortcut: bool = True, seed: int = 0):
    cfg = ModelConfig(name="", init_config=dict(TINY), attn_implementation="eager")
    model = build_model(cfg, {"r": HeadSpec("retrieval", 0, [], negatives), "nli": HeadSpec("classification", 3)},
                        {"lareqa": "r", "squad_r": "r", "xnli": "nli"}, "pretrained", seed=seed)
    model.set_first_token_shortcut(shortcut)
    return model.eval()


def pairs(rows: int = 4, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    q, c = torch.randint(5, 97, (rows, 6), generator=g), torch.randint(5, 97, (rows, 9), generator=g)
    q_mask, c_mask = torch.ones_like(q), torch.ones_like(c)
    q_mask[0, 4:] = 0  # padded rows on both sides
    c_mask[1, 5:] = 0
    return {"input_ids": q, "attention_mask": q_mask, "cand_input_ids": c, "cand_attention_mask": c_mask}


def side(batch: dict, prefix: str) -> dict:
    return {"input_ids": batch[f"{prefix}input_ids"], "attention_mask": batch[f"{prefix}attention_mask"]}


# ---------------------------------------------------------------- the head


@torch.no_grad()
def test_loss_is_the_groupwise_softmax_over_scaled_cosines():
    """Worked from the embeddings: rows 0-1 and 2-3 are two groups; each query's right
    candidate is its own; logits are 100 x cosine."""
    model = tiny(negatives=2)
    batch = pairs()
    loss, sim = model("lareqa", batch)
    q = model.embed_with_head(side(batch, ""), "r").double()
    c = model.embed_with_head(side(batch, "cand_"), "r").double()
    assert torch.allclose(q.norm(dim=-1), torch.ones(4, dtype=torch.float64), atol=1e-6)
    cos = q @ c.T
    assert torch.allclose(sim.double(), cos, atol=1e-5)
    by_hand = 0.0
    for rows in ((0, 1), (2, 3)):
        for i in rows:
            logits = [100 * cos[i, j] for j in rows]
            by_hand += float(torch.logsumexp(torch.stack(logits), 0) - logits[rows.index(i)])
    assert float(loss) == pytest.approx(by_hand / 4, rel=1e-4)
    # a group of the whole batch is another loss (more negatives)
    whole = tiny(negatives=0)
    whole.load_state_dict(model.state_dict())
    loss_all, _ = whole("lareqa", batch)
    logits = 100 * cos
    assert float(loss_all) == pytest.approx(float(F.cross_entropy(logits, torch.arange(4))), rel=1e-4)
    assert float(loss_all) != pytest.approx(float(loss), rel=1e-3)


@torch.no_grad()
def test_groups_make_the_loss_independent_of_how_the_batch_is_split():
    """Two ranks holding rows 0-3 and 4-7 average to the one-rank loss over rows 0-7 (groups of
    4): the negatives are the same."""
    model = tiny(negatives=4)
    batch = pairs(rows=8)
    full, _ = model("lareqa", batch)
    halves = [model("lareqa", {k: v[s] for k, v in batch.items()})[0] for s in (slice(0, 4), slice(4, 8))]
    assert float(full) == pytest.approx(float(sum(halves) / 2), rel=1e-5)


def test_the_scale_is_learned_and_gradients_reach_both_sides():
    model = tiny(negatives=2).train()
    head = model.heads["r"]
    assert isinstance(head, DualEncoderHead) and float(head.logit_scale) == 100.0
    loss, _ = model("lareqa", pairs())
    loss.backward()
    assert head.logit_scale.grad is not None and float(head.logit_scale.grad.abs()) > 0
    assert head.dense.weight.grad.abs().sum() > 0
    # the candidates pass through the encoder too: without them there is no loss
    loss_q, emb = model("lareqa", side(pairs(), ""))
    assert loss_q is None and emb.shape == (4, TINY["hidden_size"])


@torch.no_grad()
def test_the_first_token_shortcut_gives_the_same_embeddings():
    on, off = tiny(shortcut=True), tiny(shortcut=False)
    off.load_state_dict(on.state_dict())
    batch = side(pairs(), "")
    assert torch.allclose(on.embed_with_head(batch, "r"), off.embed_with_head(batch, "r"), atol=1e-5)


def test_which_tasks_embed_with_the_head(tmp_path):
    model = tiny(negatives=4)
    assert model.retrieval_head("lareqa") == "r" and model.retrieval_head("squad_r") == "r"
    assert model.retrieval_head("xnli") is None  # a classification head
    assert model.retrieval_head("tatoeba") is None  # unmapped: the mean-pooled layer
    tok = load_tokenizer(h.build_tok(str(tmp_path / "tok")))
    save_export(model, str(tmp_path / "export"), tok, step=3)
    back = load_export(str(tmp_path / "export"), "eager")
    assert back.head_specs["r"] == HeadSpec("retrieval", 0, [], 4) and back.retrieval_head("lareqa") == "r"
    assert torch.equal(back.heads["r"].logit_scale, model.heads["r"].logit_scale)


def test_head_specs_carry_the_tasks_group():
    heads, task_map = head_specs([get_task("lareqa"), get_task("squad_r"), get_task("mewslix")], 100)
    assert heads["lareqa"] == HeadSpec("retrieval", 0, [], 4) and heads["mewslix"].negatives == 8
    assert task_map == {"lareqa": "lareqa", "squad_r": "lareqa", "mewslix": "mewslix"}


# ---------------------------------------------------------------- features and collation


def test_pair_features_cut_each_side_at_its_limit_and_collate_apart(tmp_path):
    tok = load_tokenizer(h.build_tok(str(tmp_path / "tok")))
    long = " ".join(["the cat sat on the mat"] * 20)
    batch = {"id": ["a", "b"], "query": [long, "a dog"], "candidate": ["the mat", long]}
    out = featurize("retrieval", batch, tok, max_length=24, max_query_length=10, is_train=True)
    assert [len(q) for q in out["input_ids"]][0] == 10 and len(out["cand_input_ids"][1]) == 24
    assert out["length"] == [len(q) + len(c) for q, c in zip(out["input_ids"], out["cand_input_ids"])]
    assert out["cand_length"] == [len(c) for c in out["cand_input_ids"]]
    assert out["input_ids"][1] == tok("a dog")["input_ids"]  # each side alone, no pair segment
    rows = [dict(zip(out, v)) for v in zip(*out.values())]
    b = collate("retrieval", rows, tok.pad_token_id)
    assert b["input_ids"].shape == (2, 10) and b["cand_input_ids"].shape == (2, 24)
    assert b["attention_mask"][1].sum() == len(out["input_ids"][1])
    assert b["cand_attention_mask"][0].sum() == len(out["cand_input_ids"][0])
    assert (b["cand_input_ids"][0, len(out["cand_input_ids"][0]):] == tok.pad_token_id).all()


def test_pair_lengths_come_from_the_task_unless_the_recipe_sets_them():
    cfg = config.load(None, ["phases=[]"])
    assert pair_lengths(cfg, get_task("lareqa")) == (96, 256)
    assert pair_lengths(cfg, get_task("mewslix")) == (64, 64)
    assert pair_lengths(cfg, get_task("tatoeba")) == (cfg.data.max_length,) * 2
    cfg = config.load(None, ["phases=[]", 'data.task_max_length={"lareqa": 128}'])
    assert pair_lengths(cfg, get_task("lareqa")) == (128, 128)


def test_unmasked_keeps_both_masks_of_a_pair_batch():
    from trainer.data.feeder import Micro
    from trainer.training.loop import unmasked

    batch = pairs()
    batch["attention_mask"] = torch.ones_like(batch["input_ids"])
    # the query side is unpadded and its tokens happen to equal the count: still kept
    micro = Micro(batch, tokens=int(batch["input_ids"].numel()), rows=4)
    assert "attention_mask" in unmasked(micro) and "cand_attention_mask" in unmasked(micro)


# ---------------------------------------------------------------- readers


@pytest.mark.parametrize("text, any_case, sentences", [
    ("Mr. Smith went home. He slept! Did he? \"Yes.\" Then 3 cats came.", False,
     ["Mr. Smith went home.", "He slept!", "Did he?", "\"Yes.\"", "Then 3 cats came."]),
    ("The U.S. Army met J. R. Tolkien. Dr. Who left.", False,
     ["The U.S. Army met J. R. Tolkien.", "Dr. Who left."]),
    ("It was e.g. small. (Really) big.", False, ["It was e.g. small.", "(Really) big."]),
    ("one end. two end.  three", True, ["one end.", "two end.", "three"]),
    ("one end. two end.", False, ["one end. two end."]),  # English: a lower-case start is no break
    ("", False, []),
])
def test_sentence_breaks(text, any_case, sentences):
    breaks = infer_sentence_breaks(text, any_case)
    assert [text[a:b] for a, b in breaks] == sentences


def write_squad(path: str, paragraphs: list[tuple[str, list[tuple[str, str, int]]]]) -> str:
    doc = {"data": [{"title": "t", "paragraphs": [
        {"context": ctx, "qas": [{"id": qid, "question": q, "answers": [{"text": ctx[s:s + 3], "answer_start": s}]}
                                 for qid, q, s in qas]} for ctx, qas in paragraphs]}]}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


CTX = "Alpha is first. Beta is second. Gamma is third."


def test_squad_pairs_are_question_and_answer_sentence_with_its_paragraph(tmp_path, caplog):
    path = write_squad(str(tmp_path / "squad" / "train-v1.1.json"),
                       [(CTX, [("q1", "Which is second?", CTX.index("Beta")), ("q2", "Gap?", CTX.index(" Beta")),
                               ("q3", "Which is third?", CTX.index("Gamma"))])])
    got = list(squad_pairs(path, SkipCounter()))
    assert got == [{"id": "q1", "query": "Which is second?", "candidate": "Beta is second." + CTX},
                   {"id": "q3", "query": "Which is third?", "candidate": "Gamma is third." + CTX}]
    assert "1 of 3 question(s) left out" in caplog.text  # q2's answer starts on the space between
    assert list(get_task("lareqa").read_local(path, "train", "en", SkipCounter())) == got


def test_squad_r_scores_every_sentence_and_subsets_by_paragraph(tmp_path):
    other = "Delta is fourth. Epsilon is fifth."
    write_squad(str(tmp_path / "squad" / "dev-v1.1.json"),
                [(CTX, [("q1", "Which is second?", CTX.index("Beta"))]),
                 (other, [("q2", "Which is fifth?", other.index("Epsilon"))])])
    task = get_task("squad_r")
    src, pool, gold = task.read_pairs(str(tmp_path), "validation", "en")
    assert src == [("q1", "Which is second?"), ("q2", "Which is fifth?")]
    assert [c for c, _ in pool] == ["en_1_0", "en_1_1", "en_1_2", "en_2_0", "en_2_1"]
    assert gold == [("q1", "en_1_1"), ("q2", "en_2_1")] and dict(pool)["en_2_0"] == "Delta is fourth." + other
    s1, p1, g1 = task.subset(src, pool, gold, 1)  # the first question and its paragraph's sentences
    assert s1 == src[:1] and [c for c, _ in p1] == ["en_1_0", "en_1_1", "en_1_2"] and g1 == gold[:1]


def wiki_pair(ex: str, lang: str, text: str, start: int, end: int, ent: str, desc: str) -> dict:
    return {"contextual_mention": {
        "context": {"document_title": "d", "document_url": "u", "document_id": "d1", "language": lang,
                    "text": text, "sentence_spans": [{"start": 0, "end": len(text)}]},
        "mention": {"example_id": ex, "mention_span": {"start": start, "end": end, "text": text[start:end]},
                    "entity_id": ent}},
        "entity": {"entity_id": ent, "title": ent, "description": desc,
                   "sentence_spans": [{"start": 0, "end": len(desc)}]}}


def write_pairs(path: str, rows: list) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_mewslix_training_pairs_and_english_selection_set(tmp_path):
    rows = [wiki_pair("e1", "en", "Paris is big.", 0, 5, "Q90", "Capital of France."),
            wiki_pair("e2", "en", "I met Obama.", 6, 11, "Q76", "A president."),
            wiki_pair("e3", "en", "Again Paris.", 6, 11, "Q90", "Capital of France.")]
    train = write_pairs(str(tmp_path / "mewslix" / "wikipedia_pairs-train.jsonl"), rows)
    got = list(get_task("mewslix").read_local(train, "train", "en", SkipCounter()))
    assert got[1] == {"id": "e2", "query": "Obama: I met { Obama } .", "candidate": "A president."}
    write_pairs(str(tmp_path / "mewslix" / "wikipedia_pairs-dev.jsonl"), rows)
    src, pool, gold = get_task("mewslix_wiki").read_pairs(str(tmp_path), "validation", "en")
    assert [i for i, _ in src] == ["e1", "e2", "e3"] and pool == [("Q90", "Capital of France."), ("Q76", "A president.")]
    assert gold == [("e1", "Q90"), ("e2", "Q76"), ("e3", "Q90")]


def test_a_bad_pair_names_its_file_and_line_or_is_counted(tmp_path):
    good = wiki_pair("e1", "en", "Paris is big.", 0, 5, "Q90", "Capital.")
    bad_span = wiki_pair("e2", "en", "Paris is big.", 0, 4, "Q90", "Capital.")
    bad_span["contextual_mention"]["mention"]["mention_span"]["text"] = "Lyon"
    path = write_pairs(str(tmp_path / "p.jsonl"), [good, {"entity": {}}, bad_span])
    with pytest.raises(DataError, match=r"p\.jsonl:2: not a Mewsli-X mention-entity pair"):
        list(get_task("mewslix").read_local(path, "train", "en", SkipCounter()))
    skips = SkipCounter(skip=True)
    assert [r["id"] for r in get_task("mewslix").read_local(path, "train", "en", skips)] == ["e1"]
    assert skips.count == 2 and "p.jsonl:3: mention e2: span text does not match" in skips.examples[1]


# ---------------------------------------------------------------- planning


def test_a_per_task_phase_trains_them_with_their_own_settings_and_scores_them_with_their_export():
    cfg = config.load(None, ["phases=[]"])
    phase = PhaseConfig(name="target", per_task=True, epochs=2.0,
                        tasks=["xquad_r", "tatoeba_r", "lareqa", "mewslix"])
    runs = {r.name: r for r in plan_runs(cfg, phase, {"pretrained": "pretrained"})}
    assert set(runs) == {"target/squad_v1", "target/lareqa", "target/mewslix"}
    lareqa, mewslix = runs["target/lareqa"], runs["target/mewslix"]
    assert [t.name for t in lareqa.tasks] == ["lareqa"] and lareqa.retrieval == []
    assert (lareqa.phase.epochs, lareqa.phase.lr, lareqa.phase.task_batch) == (3.0, 2e-5, {"lareqa": 16})
    assert (mewslix.phase.epochs, mewslix.phase.lr, mewslix.phase.task_batch) == (2.0, 1e-5, {"mewslix": 32})
    assert [t.name for t in runs["target/squad_v1"].retrieval] == ["tatoeba_r"]
    # a phase's own lr is the user's choice for every target
    assert target_phase(PhaseConfig(name="t", lr=3e-5), get_task("lareqa")).lr == 3e-5
    assert target_phase(PhaseConfig(name="t"), get_task("xnli")).lr == 0.0  # optim.lr


def test_trained_retrieval_is_allowed_in_a_joint_phase_untrained_is_not():
    config.load(None, ['phases=[{"name": "mix", "tasks": ["mnli", "lareqa"]}]'])
    with pytest.raises(config.ConfigError, match="tatoeba train nothing"):
        config.load(None, ['phases=[{"name": "mix", "tasks": ["mnli", "tatoeba"]}]'])


def test_selection_sets_share_the_target_head_and_languages():
    for target, dev in (("lareqa", "squad_r"), ("mewslix", "mewslix_wiki"), ("synth_lareqa", "synth_squad_r")):
        t, d = get_task(target), get_task(dev)
        assert t.selection == dev and d.head == t.head and d.languages == ("en",)
        assert (d.query_max_length, d.candidate_max_length, d.negatives_group) == (
            t.query_max_length, t.candidate_max_length, t.negatives_group)
    assert np.isclose(get_task("lareqa").target_lr, 2e-5) and get_task("tatoeba").trainable is False


# ---------------------------------------------------------------- trained on 1 and on 2 ranks


@pytest.fixture(scope="module")
def synth_lareqa_runs(tmp_path_factory):
    """synth_lareqa trained by the deepspeed launcher on 2 ranks and by one process: groups of 4
    rows, micro-batches of 4 (two accumulated on 1 rank, one per rank on 2)."""
    root = str(tmp_path_factory.mktemp("dual"))
    tree = h.recipe_tree(os.path.join(root, "data"), h.session_tok(tmp_path_factory), os.path.join(root, "run"),
                         steps=8, dropout=0.0)
    tree["data"].update(synthetic=True, source="local", task_max_length={"synth_lareqa": 48})
    tree["deepspeed"].update(global_batch=8, micro_batch=4)
    tree["optim"].update(fused=False, clip=0.05)
    tree["eval"] = {"split": "test", "batch_size": 64}
    tree["phases"] = [{"name": "inter", "tasks": ["synth_lareqa"], "max_steps": 8, "evaluate": True}]
    recipe = h.write_text(os.path.join(root, "recipe.toml"), h.dump_toml(tree))
    runs = {}
    for launcher, ranks in (("single", 1), ("deepspeed", 2)):
        out = os.path.join(root, f"{launcher}{ranks}")
        r = h.run(h.train_cmd(launcher, recipe, out, ranks=ranks, extra=["--checkpoint.every=0"]),
                  out + ".log", timeout=300)
        assert r.rc == 0, r.tail()
        runs[ranks] = (out, r)
    return runs


@pytest.mark.slow
def test_the_dual_encoder_trains_the_same_on_one_and_two_ranks(synth_lareqa_runs):
    from safetensors.torch import load_file

    (one, _), (two, _) = synth_lareqa_runs[1], synth_lareqa_runs[2]
    losses = h.losses(one, "inter", "synth_lareqa")
    assert sorted(losses) == list(range(1, 9)) and len({round(v, 4) for v in losses.values()}) > 1
    other = h.losses(two, "inter", "synth_lareqa")
    assert all(other[s] == pytest.approx(losses[s], abs=1e-4) for s in losses), (losses, other)
    for name in ("model.safetensors", "heads.safetensors"):  # encoder and head, bit for bit
        got, ref = (load_file(os.path.join(run, "inter", "export", name)) for run in (two, one))
        assert got.keys() == ref.keys() and [k for k in ref if not torch.equal(got[k], ref[k])] == []
    assert "synth_lareqa.logit_scale" in ref


@pytest.mark.slow
def test_the_trained_head_scores_every_language_and_says_so(synth_lareqa_runs):
    out, r = synth_lareqa_runs[1]
    assert "synth_lareqa: embeddings from the dual-encoder head synth_lareqa" in r.output, r.tail()
    with open(os.path.join(out, "results.json")) as f:
        task = json.load(f)["tasks"]["synth_lareqa"]
    assert sorted(task["languages"]) == ["de", "en", "fr", "sw"] and task["metric"] == "map@20"
    assert task["embedding"].startswith("dual-encoder head synth_lareqa")
    assert all(0.0 < v["map@20"] <= 100.0 for v in task["languages"].values())


def test_real_squad_dev_as_sentence_retrieval(real_data, tmp_path):
    """SQuAD v1.1's real dev sample: every answer lies inside an inferred sentence, and the first
    paragraph (Super Bowl 50) has its four sentences, "U.S." and "Levi's" kept whole."""
    os.makedirs(tmp_path / "squad")
    os.symlink(os.path.join(real_data, "squad", "dev-v1.1.subset.json"), tmp_path / "squad" / "dev-v1.1.json")
    src, pool, gold = get_task("squad_r").read_pairs(str(tmp_path), "validation", "en")
    assert len(src) == len(gold) == 200 and len({c for _, c in gold}) < 200  # several questions per sentence
    first = [t for c, t in pool if c.startswith("en_1_")]
    assert [t.split()[0] for t in first] == ["Super", "The", "The", "As"]
    assert len({t[-60:] for t in first}) == 1  # each is followed by the same paragraph
    pairs = list(get_task("lareqa").read_local(os.path.join(tmp_path, "squad", "dev-v1.1.json"), "train", "en",
                                               SkipCounter()))
    assert len(pairs) == 200 and pairs[0]["query"] == src[0][1]


def test_pair_collation_pads_each_side_to_its_own_multiple_with_type_ids():
    rows = [{"input_ids": [2, 9, 3], "token_type_ids": [0, 0, 0], "cand_input_ids": [2, 7, 7, 7, 7, 3],
             "cand_token_type_ids": [0] * 6, "example_idx": 0},
            {"input_ids": [2, 3], "token_type_ids": [0, 0], "cand_input_ids": [2, 8, 3],
             "cand_token_type_ids": [0] * 3, "example_idx": 1}]
    b = collate("retrieval", rows, pad_id=1, pad_to_multiple_of=4)
    assert b["input_ids"].tolist() == [[2, 9, 3, 1], [2, 3, 1, 1]]
    assert b["cand_input_ids"].tolist() == [[2, 7, 7, 7, 7, 3, 1, 1], [2, 8, 3, 1, 1, 1, 1, 1]]
    assert b["cand_attention_mask"].tolist() == [[1] * 6 + [0] * 2, [1] * 3 + [0] * 5]
    assert b["cand_token_type_ids"].shape == (2, 8) and b["token_type_ids"].shape == (2, 4)
    assert b["meta"] == [{"example_idx": 0}, {"example_idx": 1}] and "labels" not in b


def test_truncated_pairs_are_counted_by_either_side(caplog):
    from trainer.data.streams import report_truncation

    cfg = config.load(None, ["phases=[]"])
    lareqa = get_task("lareqa")  # limits 96 (query) and 256 (candidate)
    lengths = [96 + 10, 95 + 256, 95 + 255, 20 + 30]  # query + candidate
    cands = [10, 256, 255, 30]
    with caplog.at_level("WARNING", logger="xstilts.data"):
        assert report_truncation(lareqa, lengths, cfg, cands) == 2
    assert ("lareqa: 2 of 4 training pairs reached the query limit (96 tokens) or the candidate limit (256) "
            "and were truncated") in caplog.text
    assert report_truncation(lareqa, [50], cfg, [40]) == 0


def test_one_pair_collates():
    b = collate("retrieval", [{"input_ids": [2, 3], "cand_input_ids": [2, 5, 3], "cand_token_type_ids": [0, 0, 0],
                               "token_type_ids": [0, 0]}], pad_id=1)
    assert b["cand_token_type_ids"].tolist() == [[0, 0, 0]] and b["cand_attention_mask"].tolist() == [[1, 1, 1]]


def test_training_pairs_load_with_their_lengths_and_truncation_is_reported(tmp_path, caplog):
    from trainer.data.streams import load_train_features
    from trainer.runtime.dist import DistInfo

    write_squad(str(tmp_path / "data" / "squad" / "train-v1.1.json"),
                [(CTX, [("q1", "Which is second?", CTX.index("Beta")), ("q2", "Which is third?", CTX.index("Gamma"))])])
    tok = h.build_tok(str(tmp_path / "tok"))
    cfg = config.load(None, ["phases=[]", f"data.root={tmp_path / 'data'}", f"run.out={tmp_path / 'run'}",
                             f"model.tokenizer={tok}", 'data.task_max_length={"lareqa": 8}'])
    with caplog.at_level("WARNING", logger="xstilts.data"):
        features = load_train_features(cfg, get_task("lareqa"), load_tokenizer(tok), DistInfo())
    cand = [len(c) for c in features["cand_input_ids"]]
    assert features["cand_length"] == cand == [8, 8]
    assert features["length"] == [len(q) + c for q, c in zip(features["input_ids"], cand)]
    assert "lareqa: 2 of 2 training pairs reached the query limit (8 tokens) or the candidate limit (8)" in caplog.text


def test_results_and_their_aggregate_keep_how_retrieval_embedded():
    from eval.results import aggregate_runs, build_results

    info = {"lareqa": {"metric": "map@20", "chance": 0.0, "split": "test",
                       "embedding": "dual-encoder head lareqa (pooled first token, trained)"}}
    runs = [build_results({"lareqa": {"de": {"map@20": v}}}, task_info=info) for v in (40.0, 44.0)]
    assert runs[0]["tasks"]["lareqa"]["embedding"] == info["lareqa"]["embedding"]
    agg = aggregate_runs(runs)["tasks"]["lareqa"]
    assert agg["embedding"] == info["lareqa"]["embedding"] and agg["split"] == "test"
