"""Task readers on the real released formats (samples in ../shared/data/real), the traps those
formats hold, bad-input errors that name file and line, and the task registry."""
from __future__ import annotations

import json
import os

import pytest

from eval.xtreme import LANGUAGES
from trainer.tasks import TASKS, formats, get_task
from trainer.tasks.base import DataError, RetrievalTask, SkipCounter
from trainer.tasks.ccg import UNK, CCGDataMissing
from trainer.tasks.mlqa import pair_of
from trainer.tasks.mnli import NLI_LABELS, nli_hub_row
from trainer.tasks.tydiqa import original_id

TARGETS = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba")


def read(task: str, path: str, split: str = "validation", lang: str = "en", skip: bool = False):
    skips = SkipCounter(skip)
    return list(get_task(task).read_local(path, split, lang, skips)), skips


def write(tmp_path, name: str, data: str | bytes) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return str(path)


# ---------------------------------------------------------------- real samples

REAL = [
    # task, file, split, lang, count, fields of the first example
    ("xnli", "xnli/dev-en.tsv", "validation", "en", 200,
     {"text_a": "And he said, Mama, I'm home.", "label": NLI_LABELS.index("neutral")}),
    ("xnli", "xnli/dev-de.tsv", "validation", "de", 200,
     {"text_a": "und er hat gesagt, Mama ich bin daheim.",
      "text_b": "Er rief seine Mutter an, sobald er aus dem Schulbus stieg.", "label": 1}),
    ("xnli", "xnli/dev-zh.tsv", "validation", "zh", 200, {"text_a": "他说，妈妈，我回来了。", "label": 1}),
    ("xnli", "xnli/dev-sw.tsv", "validation", "sw", 200,
     {"text_a": "Naye akasema, Mama, niko nyumbani.", "label": 1}),
    ("pawsx", "pawsx/dev-en.tsv", "validation", "en", 200,
     {"text_b": "Shawnee Trails Council was formed from the merger of the Four Rivers Council "
                "and the Audubon Council .", "label": 1, "id": "validation-en-0"}),
    ("pawsx", "pawsx/dev-de.tsv", "validation", "de", 200,
     {"text_b": "Shawnee Trails Council entstand durch die Fusion zwischen dem Four Rivers Council "
                "und dem Audubon Council.", "label": 1}),
    ("pawsx", "pawsx/dev-zh.tsv", "validation", "zh", 200,
     {"text_b": "肖尼小径委员会由合并四河委员会和奥杜邦委员会成立。", "label": 1}),
    ("pawsx", "pawsx/x-final-format/test-de.tsv", "test", "de", 200, {"id": "10", "label": 1}),
    ("panx", "panx/dev-en.tsv", "validation", "en", 200,
     {"tokens": ["Sioux", "Falls", "Arena", "(", "Sioux", "Falls", ",", "South", "Dakota", ")"],
      "tags": ["B-ORG", "I-ORG", "I-ORG", "O", "B-LOC", "I-LOC", "I-LOC", "I-LOC", "I-LOC", "O"]}),
    ("panx", "panx/dev-de.tsv", "validation", "de", 200,
     {"tokens": ["Anton", "Wilhelm", "von", "Zuccalmaglio", "."],
      "tags": ["B-PER", "I-PER", "I-PER", "I-PER", "O"]}),
    ("panx", "panx/dev-zh.tsv", "validation", "zh", 200,
     {"tokens": ["前", "鎮", "區"], "tags": ["B-LOC", "I-LOC", "I-LOC"]}),
    ("panx", "panx/dev-sw.tsv", "validation", "sw", 200,
     {"tokens": ["Khartoum", ",", "Sudan", "-", "miloni", "3.2"],
      "tags": ["B-LOC", "O", "B-LOC", "O", "O", "O"]}),
    ("udpos", "udpos/train-en.tsv", "train", "en", 200,
     {"id": "train-en-0", "tokens": ["Al", "-", "Zaman", ":", "American", "forces", "killed", "Shaikh",
                                     "Abdullah", "al", "-", "Ani", ",", "the", "preacher", "at", "the",
                                     "mosque", "in", "the", "town", "of", "Qaim", ",", "near", "the",
                                     "Syrian", "border", "."]}),
    ("udpos", "udpos/dev-en.tsv", "validation", "en", 200,
     {"tokens": ["From", "the", "AP", "comes", "this", "story", ":"],
      "tags": ["ADP", "DET", "PROPN", "VERB", "DET", "NOUN", "PUNCT"]}),
    ("udpos", "udpos/dev-de.tsv", "validation", "de", 200, {"id": "validation-de-0"}),
    ("udpos", "udpos/dev-zh.tsv", "validation", "zh", 200, {"id": "validation-zh-0"}),
    ("udpos", "ud_conllu/en_ewt-ud-dev.conllu", "validation", "en", 200,
     {"id": "weblog-blogspot.com_nominations_20041117172713_ENG_20041117_172713-0001",
      "tokens": ["From", "the", "AP", "comes", "this", "story", ":"],
      "tags": ["ADP", "DET", "PROPN", "VERB", "DET", "NOUN", "PUNCT"]}),
    ("xquad", "xquad/xquad.en.json", "validation", "en", 200,
     {"id": "56beb4343aeaaa14008c925b", "question": "How many points did the Panthers defense surrender?",
      "answers": {"text": ["308"], "answer_start": [34]}}),
    ("xquad", "xquad/xquad.de.json", "validation", "de", 200,
     {"id": "56beb4343aeaaa14008c925b", "answers": {"text": ["308"], "answer_start": [38]}}),
    ("xquad", "xquad/xquad.zh.json", "validation", "zh", 200,
     {"id": "56beb4343aeaaa14008c925b", "question": "黑豹队的防守丢了多少分？",
      "answers": {"text": ["308"], "answer_start": [10]}}),
    ("mlqa", "mlqa/MLQA_V1/dev/dev-context-en-question-en.json", "validation", "en", 200,
     {"id": "569666f4dc3983dab5624e989212c1d9d0cd1798",
      "answers": {"text": ["remains infected for its lifetime"], "answer_start": [571]}}),
    ("mlqa", "mlqa/MLQA_V1/dev/dev-context-de-question-de.json", "validation", "de", 200,
     {"id": "b6fc947411e98316fd0790477c4dc3bd97f4df4c",
      "answers": {"text": ["überwiegend antibritisch und prorussisch"], "answer_start": [1591]}}),
    ("mlqa", "mlqa/MLQA_V1/dev/dev-context-zh-question-zh.json", "validation", "zh", 200,
     {"id": "13f8eea6654690750d6c7ed262aa7345a92738c2", "question": "吉尔吉斯斯坦的主要宗教为什么是伊斯兰教？"}),
    ("mlqa_gxlt", "mlqa/MLQA_V1/dev/dev-context-de-question-en.json", "validation", "de-en", 200,
     {"id": "b6fc947411e98316fd0790477c4dc3bd97f4df4c",
      "question": "What were the positions of the Berlin court with respect to Britain and Russia?"}),
    ("tydiqa", "tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.en.train.json", "train", "en", 200,
     {"id": "12", "question": "When was quantum field theory developed?",
      "answers": {"text": ["1920s"], "answer_start": [159]}}),
    ("squad_v1", "squad/dev-v1.1.subset.json", "validation", "en", 200,
     {"id": "56be4db0acb8001400a502ec", "question": "Which NFL team represented the AFC at Super Bowl 50?",
      "answers": {"text": ["Denver Broncos"] * 3, "answer_start": [177] * 3}}),
    ("anli_plus", "anli/ANLI_analysis_r1_dev.csv", "validation", "en", 200,
     {"id": "bf628cf5-6948-4595-a6d0-daf99beb47b9",
      "text_b": "Form and meaning are the only aspects of language linguistics is concerned with.",
      "label": NLI_LABELS.index("contradiction")}),
    ("sst2", "sst2/dev.tsv", "validation", "en", 200,
     {"text_a": "it 's a charming and often affecting journey . ", "text_b": "", "label": 1}),
    ("cosmosqa", "cosmosqa/valid.csv", "validation", "en", 200,
     {"question": "Why is this person asking about divorce ?", "label": 1,
      "choices": ["If he gets married in the church he wo nt have to get a divorce .",
                  "He wants to get married to a different person .",
                  "He wants to know if he does nt like this girl can he divorce her ?",
                  "None of the above choices ."]}),
    ("commonsenseqa", "commonsenseqa/dev_rand_split.hf.jsonl", "validation", "en", 200,
     {"id": "1afa02df02c908a558b4036e80242fac", "context": "", "label": 0,
      "choices": ["bank", "library", "department store", "mall", "new york"]}),
    ("hellaswag", "hellaswag/hellaswag_val_full.subset.txt", "validation", "en", 200,
     {"id": "validation-0", "context": "Roof shingle removal: A man is sitting on a roof. he",
      "question": "", "label": 3,
      "choices": ["is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
                  "is holding a rubik's cube.", "starts pulling up roofing on a roof."]}),
]
SCHEMA = {"classification": {"id", "text_a", "text_b", "label"},
          "multiple_choice": {"id", "context", "question", "choices", "label"},
          "span": {"id", "context", "question", "answers"}, "tagging": {"id", "tokens", "tags"}}


@pytest.mark.parametrize("task,rel,split,lang,count,first", REAL,
                         ids=[f"{r[0]}:{os.path.basename(r[1])}" for r in REAL])
def test_real_sample(real_data, task, rel, split, lang, count, first):
    examples, skips = read(task, os.path.join(real_data, rel), split, lang)
    assert len(examples) == count and skips.count == 0
    kind = get_task(task).kind
    assert all(set(ex) == SCHEMA[kind] for ex in examples)
    assert len({ex["id"] for ex in examples}) == count
    for key, want in first.items():
        assert examples[0][key] == want, key
    if kind == "multiple_choice":
        assert all(len(ex["choices"]) == get_task(task).num_choices for ex in examples)
    if kind == "tagging":
        assert all(len(ex["tags"]) in (0, len(ex["tokens"])) for ex in examples)


def test_hellaswag_last_item(real_data):
    examples, _ = read("hellaswag", os.path.join(real_data, "hellaswag/hellaswag_val_full.subset.txt"))
    assert examples[-1]["choices"][-1] == "backs up slowly to cut the lawn."


def test_conllu_skips_multiword_tokens(real_data):
    examples, _ = read("udpos", os.path.join(real_data, "ud_conllu/en_ewt-ud-dev.conllu"))
    # line 158 of the file is the multiword token "29-30 didn't"; its parts "did" and "n't" stay
    words = [w for ex in examples for w in ex["tokens"]]
    assert "didn't" not in words and "n't" in words


# ---------------------------------------------------------------- withheld labels


def test_withheld_labels(real_data):
    xnli, _ = read("xnli", os.path.join(real_data, "xnli/test-de.tsv"), "test", "de")
    assert len(xnli) == 200 and {ex["label"] for ex in xnli} == {-1}
    assert xnli[0]["text_b"] == "Ich habe nicht wieder mit ihm gesprochen."
    for task in ("panx", "udpos"):
        tagged, _ = read(task, os.path.join(real_data, f"{task}/test-de.tsv"), "test", "de")
        assert len(tagged) == 200 and all(ex["tags"] == [] and ex["tokens"] for ex in tagged)
    panx, _ = read("panx", os.path.join(real_data, "panx/test-de.tsv"), "test", "de")
    assert panx[0]["tokens"] == ["WEITERLEITUNG", "Hu", "(", "Xi’an", ")"]
    tydi, _ = read("tydiqa", os.path.join(real_data,
                                          "tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.en.dev.json"))
    assert len(tydi) == 200 and tydi[0]["id"] == "english--3215621880858840488-2"
    assert all(ex["answers"] == {"text": [], "answer_start": []} for ex in tydi)


def test_sst2_test_file_withholds_labels(tmp_path):
    path = write(tmp_path, "test.tsv", "index\tsentence\n0\tuneasy mishmash of styles and genres .\n")
    (ex,), _ = read("sst2", path, "test")
    assert ex == {"id": "0", "text_a": "uneasy mishmash of styles and genres .", "text_b": "", "label": -1}


# ---------------------------------------------------------------- format traps


@pytest.mark.parametrize("sep", ["\u2028", "\x1c", "\x85", "\x0b", "\r"])
def test_fields_with_splitlines_breaks_stay_intact(tmp_path, sep):
    a = f"Er sagte{sep}nichts."
    path = write(tmp_path, "dev-de.tsv", f"erste\tzweite\tneutral\n{a}\tEr schwieg.\tentailment\n")
    examples, _ = read("xnli", path, "validation", "de")
    assert len(examples) == 2 and examples[1]["text_a"] == a and examples[1]["label"] == 0
    path = write(tmp_path, "pawsx-dev-de.tsv", f"{a}\tb\t1\nc\td\t0\n")
    examples, _ = read("pawsx", path, "validation", "de")
    assert [ex["text_a"] for ex in examples] == [a, "c"]


def test_unicode_space_tokens_do_not_end_a_sentence(tmp_path):
    path = write(tmp_path, "test-zh.tsv", "上海\n\u3000\n\xa0\n\x1c\n市\n\n北京\n")
    examples, _ = read("panx", path, "test", "zh")
    assert [ex["tokens"] for ex in examples] == [["上海", "\u3000", "\xa0", "\x1c", "市"], ["北京"]]


def test_tydiqa_repeated_ids_become_unique(real_data):
    path = os.path.join(real_data, "tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.en.train.json")
    examples, _ = read("tydiqa", path, "train")
    ids = [ex["id"] for ex in examples]
    raw = [qa["id"] for a in json.load(open(path))["data"] for p in a["paragraphs"] for qa in p["qas"]]
    assert len(set(raw)) < len(raw) == len(ids) == len(set(ids))
    assert ids[:5] == ["12", "0", "0#2", "2", "2#2"]
    assert [original_id(i) for i in ids] == raw
    again, _ = read("tydiqa", path, "train")
    assert [ex["id"] for ex in again] == ids  # deterministic


def test_pawsx_x_final_header_is_not_data(real_data):
    examples, _ = read("pawsx", os.path.join(real_data, "pawsx/x-final-format/test-de.tsv"), "test", "de")
    assert examples[1]["id"] == "12"
    assert examples[1]["text_a"] == "Der Tabaci River ist ein Nebenfluss des Flusses Leurda in Rumänien."
    assert examples[1]["label"] == 0


def test_xnli_original_layout_filters_language(tmp_path):
    head = "language\tgold_label\tsentence1\tsentence2\tpairID\n"
    path = write(tmp_path, "xnli.dev.tsv", head + "de\tcontradictory\tA\tB\t1\nfr\tneutral\tC\tD\t1\n")
    examples, _ = read("xnli", path, "validation", "de")
    assert examples == [{"id": "1", "text_a": "A", "text_b": "B", "label": 2}]


# ---------------------------------------------------------------- bad input


def bad(task: str, path: str, line: int | None, split: str = "validation", lang: str = "en",
        kept: int | None = None, match: str | None = None) -> None:
    """Strict reading raises a DataError naming path and line; skipping counts one bad row."""
    with pytest.raises(DataError, match=match) as err:
        read(task, path, split, lang)
    assert err.value.path == path and err.value.line == line
    assert str(err.value).startswith(f"{path}:{line}" if line else path)
    if kept is not None:
        examples, skips = read(task, path, split, lang, skip=True)
        assert skips.count == 1 and len(examples) == kept and path in skips.examples[0]


def test_bad_column_count(tmp_path):
    bad("xnli", write(tmp_path, "a.tsv", "a\tb\tneutral\nc\td\nx\ty\tentailment\n"), 2, kept=2)
    bad("qqp", write(tmp_path, "dev.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
                     "1\t1\t2\tA?\tB?\t0\n2\t3\t4\tC?\n"), 3, kept=1)


def test_bad_unknown_label(tmp_path):
    bad("xnli", write(tmp_path, "a.tsv", "a\tb\tneutral\nc\td\tmaybe\n"), 2, kept=1, match="maybe")
    bad("sst2", write(tmp_path, "dev.tsv", "sentence\tlabel\ngood .\t1\nbad .\t5\n"), 3, kept=1)
    bad("cosmosqa", write(tmp_path, "c.csv", "id,context,question,answer0,answer1,answer2,answer3,label\n"
                          "q1,c,q,a,b,c,d,7\n"), 2, kept=0)


def test_bad_tagging_files(tmp_path):
    bad("panx", write(tmp_path, "p.tsv", "A\tB-PER\nb\tO\textra\n\nC\tO\n"), 2, kept=1)
    bad("panx", write(tmp_path, "q.tsv", "A\tB-PER\n\nb\nc\tO\n\nD\tO\n"), 4, kept=2)
    bad("panx", write(tmp_path, "r.tsv", "A\tB-XYZ\n\nC\tO\n"), 1, kept=1, match="B-XYZ")
    bad("udpos", write(tmp_path, "x.conllu", "# sent_id = 1\n1\tHi\thi\tINTJ\t_\t_\t0\troot\t_\t_\n"
                       "2\tthere\n\n1\tOk\tok\tINTJ\t_\t_\t0\troot\t_\t_\n"), 3, kept=1)


def test_bad_json(tmp_path):
    row = {"id": "a", "question": "Q?", "question_concept": "q", "answerKey": "A",
           "choices": {"label": list("ABCDE"), "text": list("vwxyz")}}
    good = json.dumps(row)
    bad("commonsenseqa", write(tmp_path, "c.jsonl", good + "\n{not json\n"), 2, kept=1, match="bad JSON")
    row2 = dict(row, id="b")
    del row2["choices"]
    bad("commonsenseqa", write(tmp_path, "d.jsonl", good + "\n" + json.dumps(row2) + "\n"), 2, kept=1,
        match="missing")
    bad("squad_v1", write(tmp_path, "s.json", '{"data": [\n{"paragraphs": [}\n]}'), 2, match="bad JSON")


def test_bad_empty_file_and_utf8(tmp_path):
    bad("xnli", write(tmp_path, "empty.tsv", b""), None, match="empty")
    bad("xnli", write(tmp_path, "u.tsv", b"a\tb\tneutral\nc\xff\td\tneutral\ne\tf\tneutral\n"), 2,
        kept=2, match="UTF-8")
    bad("cosmosqa", write(tmp_path, "u.csv", b"id,context\nq\xfe,c\n"), 2, match="UTF-8")


def squad_doc(qas: list[dict], context: str = "The cat sat on the mat.") -> str:
    # one key per line, as json.dumps(indent) writes it, so that errors have distinct lines
    return json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
        {"context": context, "qas": qas}]}]}, indent=1)


def lines_with(path: str, needle: str) -> list[int]:
    return [n for n, text in enumerate(open(path).read().split("\n"), 1) if needle in text]


def qa(qid: str, text: str, start: int) -> dict:
    return {"id": qid, "question": "Where?", "answers": [{"text": text, "answer_start": start}]}


def test_bad_answer_position_and_duplicate_ids(tmp_path):
    path = write(tmp_path, "s.json", squad_doc([qa("q1", "cat", 4), qa("q2", "mat", 3)]))
    bad("squad_v1", path, lines_with(path, '"id": "q2"')[0], kept=1, match="not at answer_start")
    path = write(tmp_path, "d.json", squad_doc([qa("q1", "cat", 4), qa("q1", "mat", 19)]))
    first, second = lines_with(path, '"id": "q1"')
    assert first < second
    bad("xquad", path, second, kept=1, match="duplicate")
    header = "id,context,question,answer0,answer1,answer2,answer3,label\n"
    bad("cosmosqa", write(tmp_path, "c.csv", header + 'q,"two\nlines",Q,a,b,c,d,0\nq,c,Q,a,b,c,d,1\n'),
        4, kept=1, match="duplicate")


def test_bad_csv_and_hellaswag_items(tmp_path):
    header = "id,context,question,answer0,answer1,answer2,answer3,label\n"
    bad("cosmosqa", write(tmp_path, "c.csv", header + "q1,c,Q,a,b,c,d,0\nq2,c,Q,a,b\n"), 3, kept=1)
    item = "Act: ctx\n1\ne0\ne1\ne2\ne3\n"
    bad("hellaswag", write(tmp_path, "h.txt", item + "Act: ctx\n7\ne0\ne1\ne2\ne3\n"), 8, kept=1)
    bad("hellaswag", write(tmp_path, "i.txt", item + "Act: cut\n0\ne0\n"), 7, kept=1, match="cut short")


def test_bad_retrieval_files(tmp_path):
    write(tmp_path, "tatoeba/v1/tatoeba.deu-eng.deu", "Hallo.\nJa.\n")
    write(tmp_path, "tatoeba/v1/tatoeba.deu-eng.eng", "Hello.\n")
    with pytest.raises(DataError, match="align") as err:
        get_task("tatoeba").read_pairs(str(tmp_path), "test", "de")
    assert err.value.line == 2 and err.value.path.endswith(".eng")
    write(tmp_path, "bucc2018/de-en.dev.de", "de-1\tHallo\n")
    write(tmp_path, "bucc2018/de-en.dev.en", "en-1\tHello\n")
    gold = write(tmp_path, "bucc2018/de-en.dev.gold", "de-1\ten-1\nde-2\ten-1\n")
    with pytest.raises(DataError, match="not in the corpus") as err:
        get_task("bucc2018").read_pairs(str(tmp_path), "validation", "de")
    assert (err.value.path, err.value.line) == (gold, 2)


# ---------------------------------------------------------------- retrieval


def test_retrieval_pairs(real_data):
    src, trg, gold = get_task("tatoeba").read_pairs(real_data, "test", "de")
    assert len(src) == len(trg) == len(gold) == 200
    assert src[0] == ("de-0", "Maria sagte, sie wisse nicht, wo Tom sei.")
    assert trg[0] == ("en-0", "Mary said she didn't know where Tom was.") and gold[0] == ("de-0", "en-0")
    assert len(get_task("tatoeba").read_pairs(real_data, "test", "zh")[0]) == 200  # cmn files
    assert len(get_task("tatoeba").read_pairs(real_data, "test", "sw")[0]) == 200  # swh files
    src, trg, gold = get_task("bucc2018").read_pairs(real_data, "validation", "zh")
    assert (len(src), len(trg), len(gold)) == (1245, 1234, 257)
    assert src[0][0] == "zh-000000001" and gold[0] == ("zh-000000057", "en-000008530")


def test_iso3_covers_tatoeba_and_round_trips():
    for lang in LANGUAGES["tatoeba"]:
        assert formats.to_iso1(formats.to_iso3(lang)) == lang
    assert (formats.to_iso3("zh"), formats.to_iso3("sw"), formats.to_iso3("fa")) == ("cmn", "swh", "pes")
    with pytest.raises(ValueError, match="xx"):
        formats.to_iso3("xx")


# ---------------------------------------------------------------- multi-source and pairs


def nli_jsonl(rows: list[tuple[str, str]]) -> str:
    return "".join(json.dumps({"pairID": i, "sentence1": "p", "sentence2": "h", "gold_label": l}) + "\n"
                   for i, l in rows)


def test_anli_plus_reads_every_part(tmp_path):
    task = get_task("anli_plus")
    write(tmp_path, "snli_1.0/snli_1.0_train.jsonl", nli_jsonl([("s1", "entailment"), ("s2", "-")]))
    write(tmp_path, "multinli_1.0/multinli_1.0_train.jsonl", nli_jsonl([("m1", "neutral")]))
    with pytest.raises(FileNotFoundError, match="R1/train.jsonl"):
        task.local_path(str(tmp_path), "train", "en")
    for r in (1, 2, 3):
        write(tmp_path, f"anli_v1.0/R{r}/train.jsonl", json.dumps(
            {"uid": f"u{r}", "context": "c", "hypothesis": "h", "label": "c", "reason": ""}) + "\n")
    path = task.local_path(str(tmp_path), "train", "en")
    examples = list(task.read_local(path, "train", "en", SkipCounter()))
    assert [ex["id"] for ex in examples] == ["snli/s1", "mnli/m1", "anli_r1/u1", "anli_r2/u2", "anli_r3/u3"]
    assert [ex["label"] for ex in examples] == [0, 1, 2, 2, 2]  # SNLI's "-" pair is left out


def test_mlqa_language_codes(tmp_path):
    mlqa, gxlt = get_task("mlqa"), get_task("mlqa_gxlt")
    assert pair_of("de") == ("de", "de") and pair_of("de-en") == ("de", "en")
    assert mlqa.local_path("R", "validation", "de") == "R/mlqa/MLQA_V1/dev/dev-context-de-question-de.json"
    assert gxlt.local_path("R", "test", "de-en") == "R/mlqa/MLQA_V1/test/test-context-de-question-en.json"
    assert mlqa.local_path("R", "train", "en") == "R/squad/train-v1.1.json"
    n = len(LANGUAGES["mlqa"])
    assert len(gxlt.languages) == n * n and "de-en" in gxlt.languages
    gxlt.check_language("zh-hi")
    with pytest.raises(ValueError):
        mlqa.check_language("de-en")


# ---------------------------------------------------------------- CCG


def test_ccg_missing_data_says_licensed(tmp_path):
    task = get_task("ccg")
    with pytest.raises(CCGDataMissing) as err:
        task.local_path(str(tmp_path), "train", "en")
    msg = str(err.value)
    assert "licensed" in msg and "no hub" in msg and "ccg/ccg.train" in msg and "supertag" in msg
    assert isinstance(err.value, FileNotFoundError)
    with pytest.raises(CCGDataMissing):
        list(task.from_hub("train", "en"))


CCG_FORMATS = {
    "conll": "Pierre\tN/N\nVinken\tN\n\nIt\tNP\nrains\tS[dcl]\\NP\n",
    "sentence_tsv": "Pierre Vinken\tN/N N\nIt rains\tNP S[dcl]\\NP\n",
    "pipe": "Pierre|NNP|N/N Vinken|NNP|N\nIt|PRP|NP rains|VBZ|S[dcl]\\NP\n",
    "auto": "ID=wsj_0001.1 PARSER=GOLD NUMPARSE=1\n(<T N 0 2> (<L N/N NNP NNP Pierre N_1/N_1>) "
            "(<L N NNP NNP Vinken N>) )\nID=wsj_0001.2 PARSER=GOLD NUMPARSE=1\n(<T S[dcl] 1 2> "
            "(<L NP PRP PRP It NP>) (<L S[dcl]\\NP VBZ VBZ rains S[dcl]\\NP_1>) )\n",
}


@pytest.mark.parametrize("fmt", sorted(CCG_FORMATS))
def test_ccg_formats(tmp_path, fmt):
    from trainer.tasks.ccg import CCGTask, sniff

    task = CCGTask(name="ccg", kind="tagging", head="ccg", metric="accuracy",
                   local={"train": "ccg/ccg.train", "validation": "ccg/ccg.dev"})
    train = write(tmp_path, "ccg/ccg.train", CCG_FORMATS[fmt])
    dev = write(tmp_path, "ccg/ccg.dev", CCG_FORMATS[fmt].replace("N/N", "(N/N)/N"))
    assert sniff(train) == fmt
    examples = list(task.read_local(dev, "validation", "en", SkipCounter()))
    assert [ex["tokens"] for ex in examples] == [["Pierre", "Vinken"], ["It", "rains"]]
    assert examples[0]["tags"] == [UNK, "N"] and examples[1]["tags"] == ["NP", "S[dcl]\\NP"]
    assert task.labels[0] == UNK and set(task.labels[1:]) == {"N/N", "N", "NP", "S[dcl]\\NP"}
    assert task.load_labels(str(tmp_path)) == task.labels


# ---------------------------------------------------------------- hub rows (no download)


def test_hub_rows_map_to_the_schema():
    ex = nli_hub_row({"pairID": "7e", "premise": "p", "hypothesis": "h", "label": 2}, 0)
    assert ex == {"id": "7e", "text_a": "p", "text_b": "h", "label": 2}
    ex = nli_hub_row({"language": "de", "sentence1": "p", "sentence2": "h", "gold_label": "neutral"}, 3)
    assert ex == {"id": "3", "text_a": "p", "text_b": "h", "label": 1}
    csqa = get_task("commonsenseqa").hub_row(
        {"id": "x", "question": "Q?", "question_concept": "c", "answerKey": "",
         "choices": {"label": list("ABCDE"), "text": list("abcde")}}, 0)
    assert csqa["label"] == -1 and csqa["choices"] == list("abcde")
    hs = get_task("hellaswag").hub_row({"ind": 4, "activity_label": "Act", "ctx": "c", "ctx_a": "c",
                                        "ctx_b": "", "endings": list("wxyz"), "label": "2"}, 0)
    assert hs == {"id": "4", "context": "Act: c", "question": "", "choices": list("wxyz"), "label": 2}
    assert get_task("pawsx").hub_row({"sentence1": "a", "sentence2": "b", "label": "1"}, 5)["label"] == 1


def test_commonsenseqa_original_layout(tmp_path):
    row = {"answerKey": "B", "id": "z", "question": {"question_concept": "c", "stem": "Q?", "choices": [
        {"label": k, "text": k.lower()} for k in "EDCBA"]}}
    path = write(tmp_path, "train_rand_split.jsonl", json.dumps(row) + "\n")
    (ex,), _ = read("commonsenseqa", path, "train")
    assert ex == {"id": "z", "context": "", "question": "Q?", "choices": list("abcde"), "label": 1}


# ---------------------------------------------------------------- registry


def test_registry_lookup():
    assert get_task("xnli") is TASKS["xnli"]
    assert all(name == task.name for name, task in TASKS.items())
    with pytest.raises(KeyError) as err:
        get_task("xnly")
    assert "unknown task 'xnly'" in str(err.value) and "xnli" in str(err.value) and "tatoeba" in str(err.value)


INTERMEDIATE = ("anli_plus", "mnli", "qqp", "sst2", "squad_v1", "squad_v2", "hellaswag", "cosmosqa",
                "commonsenseqa", "ccg")


def test_target_languages_match_xtreme():
    for name in TARGETS:
        assert tuple(TASKS[name].languages) == tuple(LANGUAGES[name]), name
        assert TASKS[name].train_language == "en"
    for name in INTERMEDIATE:  # the paper's intermediate tasks are English
        assert TASKS[name].languages == ("en",), name
    for name, task in TASKS.items():
        # ISO 639-1 codes (with a region or script after "-"), or "mul" for a mixed corpus
        assert all(len(lang.split("-")[0]) == 2 or lang == "mul" for lang in task.languages), name


def test_task_metadata_is_consistent():
    heads: dict[str, tuple] = {}
    for name, task in TASKS.items():
        spec = (task.kind, tuple(task.labels))
        assert heads.setdefault(task.head, spec) == spec, f"{name} disagrees on head {task.head}"
        assert task.description and task.metric
        if isinstance(task, RetrievalTask) and not task.trainable:
            assert task.train_size is None
        elif isinstance(task, RetrievalTask):  # a dual encoder: its pairs' count where known
            assert task.train_size is None or task.train_size > 1000, name
            assert task.query_max_length and task.candidate_max_length and task.negatives_group, name
        else:
            # COPA, XCOPA's English training set, is 400 items; every other task has thousands,
            # except a user's own MLM corpus, whose size is only known once it is read
            assert (task.train_size and (task.train_size > 1000 or name == "xcopa")) or \
                (task.kind == "mlm" and task.train_size is None), name
        for split in task.local:
            assert split in ("train", "validation", "test"), name
    assert {TASKS[n].head for n in ("anli_plus", "mnli", "xnli")} == {"nli"}
    assert TASKS["mnli"].labels == NLI_LABELS and TASKS["mnli"].train_size == 392_702
    assert TASKS["xquad"].train_group == TASKS["mlqa"].train_group == "squad_v1"
    assert TASKS["tydiqa"].train_group == "tydiqa"
