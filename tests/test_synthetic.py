"""The synthetic suite: deterministic generation, released formats read by the task readers,
balanced labels, located answers, translations that really translate, sizes as asked."""
from __future__ import annotations

import collections
import json
import os

import pytest

from trainer.synth import suite as synthetic
from trainer.synth.lang import FUNCTION
from trainer.tasks.base import HEAD_KINDS, RetrievalTask, SkipCounter
from trainer.tasks.synth import SYNTH_LANGUAGES, SYNTH_TASKS

SIZES = {"train": 48, "dev": 12, "test": 18, "mlm": 10, "retrieval": 30}
SCHEMAS = {
    "classification": {"id", "text_a", "text_b", "label"},
    "multiple_choice": {"id", "context", "question", "choices", "label"},
    "span": {"id", "context", "question", "answers"},
    "tagging": {"id", "tokens", "tags"},
    "mlm": {"id", "text"},
}


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("synth"))
    synthetic.generate(root, seed=0, sizes=SIZES)
    return root


def _contents(root: str, files: dict[str, str]) -> dict[str, bytes]:
    out = {}
    for rel, path in files.items():
        with open(path, "rb") as f:
            out[rel] = f.read()
    return out


def read(task, root: str, split: str, lang: str) -> list[dict]:
    return list(task.read_local(task.local_path(root, split, lang), split, lang, SkipCounter(False)))


def splits_of(task) -> list[tuple[str, str]]:
    """(split, language) pairs a task declares: English training data, the rest per language."""
    out = [("train", task.train_language)] if "train" in task.local else []
    for split in {task.dev_split, task.test_split} - {"train"}:
        if split in task.local:
            out += [(split, lang) for lang in task.languages]
    return out


# ---------------------------------------------------------------- generation


def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path):
    a = synthetic.generate(str(tmp_path / "a"), seed=3, sizes=SIZES)
    b = synthetic.generate(str(tmp_path / "b"), seed=3, sizes=SIZES)
    c = synthetic.generate(str(tmp_path / "c"), seed=4, sizes=SIZES)
    assert list(a) == list(b) == list(c)
    ca, cb, cc = (_contents(str(tmp_path / x), f) for x, f in (("a", a), ("b", b), ("c", c)))
    assert ca == cb
    differing = [rel for rel in ca if ca[rel] != cc[rel]]
    assert len(differing) == len(ca), f"files equal across seeds: {set(ca) - set(differing)}"


def test_stamp_skips_regeneration_and_new_sizes_regenerate(tmp_path):
    root = str(tmp_path)
    files = synthetic.ensure_generated(root, seed=0, sizes=SIZES)
    probe = files[os.path.join("synth", "pawsx", "train-en.tsv")]
    before = os.stat(probe).st_mtime_ns
    assert synthetic.ensure_generated(root, seed=0, sizes=SIZES) == files
    assert os.stat(probe).st_mtime_ns == before
    synthetic.generate(root, seed=0, sizes={**SIZES, "train": 20})
    with open(probe, encoding="utf-8") as f:
        assert sum(1 for line in f if line.strip()) == 20


def test_sizes_are_checked():
    with pytest.raises(ValueError, match="unknown synthetic size"):
        synthetic.resolve_sizes({"trian": 5})
    with pytest.raises(ValueError, match="positive"):
        synthetic.resolve_sizes({"dev": 0})
    assert synthetic.resolve_sizes(None) == synthetic.DEFAULT_SIZES


def test_translated_training_sets_translate_the_english_one(tmp_path):
    """synth_nli@de and synth_qa@de (translated intermediate data) read the same examples in
    another language: same count, same labels and answer positions, other words."""
    from trainer.tasks import get_task

    synthetic.generate(str(tmp_path), seed=1, sizes={"train": 40, "mlm": 20})
    with open(tmp_path / "synth" / synthetic.STAMP) as f:
        assert json.load(f)["seconds"] >= 0  # recorded (speed is a benchmark's business)
    rows = {lang: (tmp_path / "synth" / "nli" / f"train-{lang}.tsv").read_text(encoding="utf-8").splitlines()
            for lang in ("en", "de", "sw")}
    assert len(rows["en"]) == len(rows["de"]) == len(rows["sw"]) == 40
    for en, de in zip(rows["en"], rows["de"]):
        assert en.split("\t")[2] == de.split("\t")[2] and en.split("\t")[0] != de.split("\t")[0]
    task = get_task("synth_nli@de")
    assert task.local_path("R", "train", task.train_language) == os.path.join("R", "synth", "nli", "train-de.tsv")
    qa = {lang: json.loads((tmp_path / "synth" / "qa" / f"train-{lang}.json").read_text(encoding="utf-8"))
          for lang in ("en", "fr")}
    ids = [[q["id"] for p in d["paragraphs"] for q in p["qas"]] for d in qa["en"]["data"]]
    assert ids == [[q["id"] for p in d["paragraphs"] for q in p["qas"]] for d in qa["fr"]["data"]]
    for doc in qa["fr"]["data"]:
        for p in doc["paragraphs"]:
            for q in p["qas"]:
                a = q["answers"][0]
                assert p["context"][a["answer_start"]:a["answer_start"] + len(a["text"])] == a["text"]


# ---------------------------------------------------------------- tasks and readers


def test_task_metadata():
    assert set(SYNTH_LANGUAGES) == {"en", "de", "fr", "sw"}
    heads = collections.defaultdict(set)
    for name, task in SYNTH_TASKS.items():
        assert name == task.name and name.startswith("synth_")
        assert task.kind in HEAD_KINDS and set(task.languages) <= set(SYNTH_LANGUAGES)
        assert 0 <= task.chance < 100
        heads[task.head].add(task.kind)
        if task.kind != "retrieval":
            assert task.train_size and task.train_size > 0
    assert all(len(kinds) == 1 for kinds in heads.values()), heads
    assert SYNTH_TASKS["synth_xquad"].head == SYNTH_TASKS["synth_qa"].head
    assert SYNTH_TASKS["synth_xquad"].train_group == "synth_qa"
    assert isinstance(SYNTH_TASKS["synth_tatoeba"], RetrievalTask)
    kinds = {t.kind for t in SYNTH_TASKS.values()}
    assert kinds == set(HEAD_KINDS)


@pytest.mark.parametrize("name", [n for n, t in SYNTH_TASKS.items() if t.kind != "retrieval"])
def test_every_split_and_language_reads_with_the_canonical_schema(suite, name):
    task = SYNTH_TASKS[name]
    expected = {"train": SIZES["train"], task.dev_split: SIZES["dev"]}
    if task.test_split != task.dev_split:
        expected[task.test_split] = SIZES["test"]
    if task.kind == "mlm":
        expected["train"] = SIZES["mlm"] * len(SYNTH_LANGUAGES)
    seen_langs = set()
    for split, lang in splits_of(task):
        rows = read(task, suite, split, lang)
        assert len(rows) == expected[split], (split, lang)
        assert all(set(r) == SCHEMAS[task.kind] for r in rows)
        assert len({r["id"] for r in rows}) == len(rows)
        seen_langs.add(lang)
    assert set(task.languages) <= seen_langs


def test_labels_are_balanced(suite):
    nli = collections.Counter(r["label"] for r in read(SYNTH_TASKS["synth_nli"], suite, "train", "en"))
    assert sorted(nli) == [0, 1, 2] and max(nli.values()) - min(nli.values()) <= 1
    paws = collections.Counter(r["label"] for r in read(SYNTH_TASKS["synth_pawsx"], suite, "train", "en"))
    assert paws[0] == paws[1] == SIZES["train"] // 2
    rows = read(SYNTH_TASKS["synth_mc"], suite, "train", "en")
    mc = collections.Counter(r["label"] for r in rows)
    assert set(mc) == {0, 1, 2, 3} and min(mc.values()) >= len(rows) // 8
    assert all(len(set(r["choices"])) == 4 for r in rows)


def test_multilingual_eval_sets_are_translations_with_the_same_labels(suite):
    for name in ("synth_pawsx", "synth_pos", "synth_ner", "synth_xquad"):
        task = SYNTH_TASKS[name]
        en = read(task, suite, "test", "en")
        for lang in SYNTH_LANGUAGES[1:]:
            other = read(task, suite, "test", lang)
            if task.kind == "classification":
                assert [r["label"] for r in other] == [r["label"] for r in en]
                assert [r["text_a"] for r in other] != [r["text_a"] for r in en]
            elif task.kind == "tagging":  # content tags: French negation has two particles
                keep = {"NOUN", "VERB", "ADJ", "PROPN", "NUM", "B-PER", "B-ORG", "B-LOC"}
                assert ([sorted(t for t in r["tags"] if t in keep) for r in other]
                        == [sorted(t for t in r["tags"] if t in keep) for r in en])
            else:
                assert [r["id"] for r in other] == [r["id"] for r in en]


def test_qa_answers_sit_at_answer_start(suite):
    for name, split, lang in [("synth_qa", "train", "en")] + [
            ("synth_xquad", s, lang) for s in ("validation", "test") for lang in SYNTH_LANGUAGES]:
        task = SYNTH_TASKS[name]
        with open(task.local_path(suite, split, lang), encoding="utf-8") as f:
            doc = json.load(f)
        n = 0
        for article in doc["data"]:
            for para in article["paragraphs"]:
                for qa in para["qas"]:
                    (ans,) = qa["answers"]
                    start, text = ans["answer_start"], ans["text"]
                    assert text and text == text.strip()
                    assert para["context"][start:start + len(text)] == text
                    n += 1
        assert n == len(read(task, suite, split, lang))


def test_tagging_files_use_the_declared_tag_sets(suite):
    for name in ("synth_pos", "synth_ner", "synth_ccg"):
        task = SYNTH_TASKS[name]
        tags = collections.Counter(t for r in read(task, suite, "train", "en") for t in r["tags"])
        assert set(tags) <= set(task.labels)
        assert len(tags) >= len(task.labels) // 2  # a real spread, not one tag everywhere
    ner = read(SYNTH_TASKS["synth_ner"], suite, "train", "en")
    assert {t[2:] for r in ner for t in r["tags"] if t != "O"} == {"PER", "ORG", "LOC"}


def test_ner_tags_are_valid_bio(suite):
    task = SYNTH_TASKS["synth_ner"]
    for lang in SYNTH_LANGUAGES:
        for r in read(task, suite, "test", lang):
            for prev, tag, token in zip(["O"] + r["tags"], r["tags"], r["tokens"]):
                if tag.startswith("I-"):
                    assert prev[2:] == tag[2:], (lang, r["tokens"], r["tags"])
                assert token[0].isupper() == (tag != "O"), (lang, token, tag)


# ---------------------------------------------------------------- meaning


def _concepts(text: str, lang: str, lexicon: dict) -> collections.Counter:
    """Content concepts of a sentence: function words dropped, shared names and digits kept."""
    out = collections.Counter()
    for word in text.replace(".", " ").split():
        concept = lexicon.get((lang, word), word)  # names and digits are the same everywhere
        if concept not in FUNCTION:
            out[concept] += 1
    return out


def test_paraphrases_carry_the_same_concepts_and_entailments_no_new_ones(suite):
    lexicon = {(lang, form): c for c, lang, form in synthetic.read_lexicon(suite)}
    for lang in SYNTH_LANGUAGES:
        for r in read(SYNTH_TASKS["synth_pawsx"], suite, "test", lang):
            if r["label"] == 1:  # synonyms, voice and clause order change no concept
                assert _concepts(r["text_a"], lang, lexicon) == _concepts(r["text_b"], lang, lexicon)
    nli = SYNTH_TASKS["synth_nli"]
    entail = nli.labels.index("entailment")
    for r in read(nli, suite, "train", "en"):
        if r["label"] == entail:  # details dropped or generalized to a class word, none added
            extra = _concepts(r["text_b"], "en", lexicon) - _concepts(r["text_a"], "en", lexicon)
            assert all(c.startswith("cls_") for c in extra), (r, extra)


# ---------------------------------------------------------------- retrieval


def test_tatoeba_file_codes_agree_with_the_readers():
    from trainer.synth.writers import ISO3
    from trainer.tasks import formats

    assert all(formats.to_iso3(lang) == code for lang, code in ISO3.items())


def test_retrieval_gold_pairs_are_translations(suite):
    lexicon = {(lang, form): c for c, lang, form in synthetic.read_lexicon(suite)}
    task = SYNTH_TASKS["synth_tatoeba"]
    for lang in task.languages:
        src, trg, gold = task.read_pairs(suite, task.test_split, lang)
        assert len(src) == len(trg) == len(gold) == SIZES["retrieval"]
        text_of = dict(src + trg)
        assert len(set(text_of[t] for t, _ in trg)) == len(trg)  # one right answer each
        for s_id, t_id in gold:
            assert s_id.startswith(f"{lang}-") and t_id.startswith("en-")
            got, want = _concepts(text_of[s_id], lang, lexicon), _concepts(text_of[t_id], "en", lexicon)
            assert got == want and sum(want.values()) >= 3


def test_words_differ_across_languages_except_shared_anchors(suite):
    forms = collections.defaultdict(set)
    for concept, lang, form in synthetic.read_lexicon(suite):
        forms[form].add((concept, lang))
    for form, uses in forms.items():
        assert len({c for c, _ in uses}) == 1, f"{form!r} names two concepts: {uses}"
    shared = {form for form, uses in forms.items() if len(uses) > 1}
    assert shared and len(shared) < len(forms) / 2


# ---------------------------------------------------------------- tokenizer corpus and model


def test_corpus_covers_every_language_and_trains_a_tokenizer_without_unknowns(suite, tmp_path):
    from trainer.synth.toy_tokenizer import build_tokenizer

    texts = synthetic.corpus_texts(suite)
    tok = build_tokenizer(texts, vocab_size=2000, out_dir=str(tmp_path / "tok"))
    task = SYNTH_TASKS["synth_pawsx"]
    for lang in SYNTH_LANGUAGES:
        rows = read(task, suite, "test", lang)
        ids = tok([r["text_a"] for r in rows], [r["text_b"] for r in rows])["input_ids"]
        assert all(tok.unk_token_id not in seq for seq in ids)


def test_tiny_model_config_builds_an_xlmr_encoder():
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    cfg = XLMRobertaConfig(**synthetic.tiny_model_config(300))
    model = XLMRobertaModel(cfg, add_pooling_layer=False)
    ids = torch.full((2, 128), 7)
    ids[:, 0] = 0
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    assert out.shape == (2, 128, cfg.hidden_size) and cfg.pad_token_id == 1
