"""The shared readers of the released formats (trainer/tasks/formats.py) checked on small files
written byte by byte, with the exact rows, line numbers and messages the module documents:
survivors of a mutation run of trainer/tasks/formats.py, each killed here."""
from __future__ import annotations

import types

import datasets
import pytest

from trainer.tasks import formats
from trainer.tasks.base import DataError, HubSource, SkipCounter


def put(tmp_path, data: bytes | str, name: str = "f.txt") -> str:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return str(path)


def strict() -> SkipCounter:
    return SkipCounter(False)


def lenient() -> SkipCounter:
    return SkipCounter(True, keep=10)


def fails(fn, message: str, line: int | None, path: str | None = None):
    """``fn()`` raises a DataError with exactly this message and line (and file, where given)."""
    with pytest.raises(DataError) as err:
        fn()
    assert err.value.line == line
    assert str(err.value).split(": ", 1)[1] == message
    if path is not None:
        assert err.value.path == path
        assert str(err.value) == (f"{path}:{line}: {message}" if line is not None else f"{path}: {message}")
    return err.value


# ---------------------------------------------------------------- language codes

def test_iso_codes_and_refusals():
    assert formats.to_iso3("de") == "deu" and formats.to_iso1("deu") == "de"
    with pytest.raises(ValueError) as err:
        formats.to_iso3("xx")
    assert str(err.value) == "no Tatoeba 3-letter code known for language 'xx'"
    with pytest.raises(ValueError) as err:
        formats.to_iso1("xxx")
    assert str(err.value) == "no ISO 639-1 code known for Tatoeba code 'xxx'"
    assert err.value.__suppress_context__  # the KeyError is not chained


# ---------------------------------------------------------------- hub

def test_hub_rows_format_config_and_split(monkeypatch):
    calls = []

    def load(path, config, split):
        calls.append((path, config, split))
        return [{"row": 1}, {"row": 2}]

    monkeypatch.setattr(datasets, "load_dataset", load)
    src = HubSource("org/set", config="cfg.{lang}", split="{split}.{lang}")
    assert list(formats.hub_rows(src, "test", "de")) == [{"row": 1}, {"row": 2}]
    assert list(formats.hub_rows(HubSource("org/set"), "validation", "de")) == [{"row": 1}, {"row": 2}]
    assert list(formats.hub_rows(HubSource("org/set", config=""), "train", "de"))
    assert calls == [("org/set", "cfg.de", "test.de"), ("org/set", None, "validation"),
                     ("org/set", None, "train")]


class FakeSplit(list):
    def __init__(self, rows, features):
        super().__init__(rows)
        self.features = features


def test_hub_tag_rows_name_class_labels_by_the_splits_own_names(monkeypatch):
    calls = []
    rows = [{"tok": ("a", "b"), "tag": [2, 0]}, {"tok": ["c"], "tag": [1]}]
    names = types.SimpleNamespace(feature=types.SimpleNamespace(names=["O", "B-X", "I-X"]))

    def load(path, config, split):
        calls.append((path, config, split))
        return FakeSplit(rows, {"tag": names})

    monkeypatch.setattr(datasets, "load_dataset", load)
    src = HubSource("org/tags", config="unused", split="{split}-part")
    got = list(formats.hub_tag_rows(src, "test", "cfg", "tok", "tag"))
    assert got == [(["a", "b"], ["I-X", "O"]), (["c"], ["B-X"])]
    assert calls == [("org/tags", "cfg", "test-part")]
    # tags without class-label names are written as they are
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: FakeSplit(rows, {"tag": object()}))
    assert list(formats.hub_tag_rows(src, "test", "cfg", "tok", "tag")) == \
        [(["a", "b"], ["2", "0"]), (["c"], ["1"])]
    plain = types.SimpleNamespace(feature=types.SimpleNamespace())
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: FakeSplit(rows, {"tag": plain}))
    assert list(formats.hub_tag_rows(src, "test", "cfg", "tok", "tag"))[1] == (["c"], ["1"])


def test_tagging_examples_refuse_unknown_tags():
    rows = [(1, "a", ["x", "y"], ["B", "O"]), (4, "b", ["z"], ["Q", "B", "P"]), (7, "c", ["w"], [])]
    skips = lenient()
    got = list(formats.tagging_examples(iter(rows), ("O", "B"), "p.conll", skips))
    assert got == [{"id": "a", "tokens": ["x", "y"], "tags": ["B", "O"]},
                   {"id": "c", "tokens": ["w"], "tags": []}]
    assert skips.count == 1
    assert skips.examples == ["p.conll:4: unknown tag(s) ['P', 'Q']; expected ['O', 'B']"]
    with pytest.raises(DataError):
        list(formats.tagging_examples(iter(rows), ("O", "B"), "p.conll", strict()))


# ---------------------------------------------------------------- lines

def test_is_blank_means_ascii_spaces_and_tabs_only():
    assert formats.is_blank("") and formats.is_blank(" \t ")
    for token in ("\u3000", "\u00a0", "\x1c", "a", " x\t"):
        assert not formats.is_blank(token)


def test_empty_file(tmp_path):
    path = put(tmp_path, b"")
    err = fails(lambda: formats.check_nonempty(path), "file is empty", None)
    assert str(err) == f"{path}: file is empty"
    fails(lambda: list(formats.iter_lines(path, lenient())), "file is empty", None)
    formats.check_nonempty(put(tmp_path, b"\n", "nl.txt"))


def test_iter_lines_splits_on_newline_only(tmp_path):
    data = "a\u2028b\x85c\x1cd\n" + "e\r\n" + "f\rg\n" + "h\r\r\n" + "\n" + "last"
    got = list(formats.iter_lines(put(tmp_path, data), strict()))
    assert got == [(1, "a\u2028b\x85c\x1cd"), (2, "e"), (3, "f\rg"), (4, "h\r"), (5, ""), (6, "last")]


def test_iter_lines_counts_invalid_utf8_and_reads_on(tmp_path):
    path = put(tmp_path, b"ok\nab\xffc\nnext\n")
    skips = lenient()
    assert list(formats.iter_lines(path, skips)) == [(1, "ok"), (3, "next")]
    assert skips.examples == [f"{path}:2: invalid UTF-8 at byte 2 of the line"]
    fails(lambda: list(formats.iter_lines(path, strict())), "invalid UTF-8 at byte 2 of the line", 2)


def test_read_rows_widths_and_the_first_row(tmp_path):
    path = put(tmp_path, "a\tb\tc\n\n \t\nd\te\n\tf\tg\nh\ti\tj\tk\n")
    skips = lenient()
    got = list(formats.read_rows(path, skips, widths=(2, 3)))
    assert got == [(1, ["a", "b", "c"]), (5, ["", "f", "g"])]  # the first row fixes 3 columns
    assert skips.examples == [f"{path}:4: expected 3 tab-separated columns, found 2",
                              f"{path}:6: expected 3 tab-separated columns, found 4"]
    first = put(tmp_path, "a\n", "first.tsv")
    fails(lambda: list(formats.read_rows(first, strict(), widths=(2, 3))),
          "expected 2 or 3 tab-separated columns, found 1", 1)
    # without widths the first row still fixes the count
    skips = lenient()
    assert list(formats.read_rows(path, skips)) == [(1, ["a", "b", "c"]), (5, ["", "f", "g"])]
    assert skips.count == 2


def test_read_header_tsv(tmp_path):
    path = put(tmp_path, "\nid\ttext\n1\tone\n\n2\ttwo\n")
    assert list(formats.read_header_tsv(path, strict(), required=("text",))) == \
        [(3, {"id": "1", "text": "one"}), (5, {"id": "2", "text": "two"})]
    fails(lambda: list(formats.read_header_tsv(path, strict(), required=("id", "label", "x"))),
          "header lacks column(s) ['label', 'x']; found ['id', 'text']", 2, path)
    blank = put(tmp_path, "\n \n", "blank.tsv")
    fails(lambda: list(formats.read_header_tsv(blank, lenient())), "file holds no header row", None, blank)


# ---------------------------------------------------------------- sentence pairs

def test_pair_tsv_without_a_header(tmp_path):
    path = put(tmp_path, "label\tb one\t0\nsecond a\tsecond b\n\nx\ty\tz\n")
    skips = lenient()
    assert list(formats.read_pair_tsv(path, skips)) == [(1, None, "label", "b one", "0"),
                                                        (4, None, "x", "y", "z")]
    assert skips.examples == [f"{path}:2: expected 3 tab-separated columns, found 2"]
    withheld = put(tmp_path, "a\tb\nc\td\n", "withheld.tsv")  # labels withheld: a\tb
    assert list(formats.read_pair_tsv(withheld, strict())) == [(1, None, "a", "b", None),
                                                               (2, None, "c", "d", None)]
    one = put(tmp_path, "a\n", "one.tsv")
    fails(lambda: list(formats.read_pair_tsv(one, strict())),
          "expected 2 or 3 tab-separated columns, found 1", 1)


def test_pair_tsv_header_needs_two_known_names(tmp_path):
    two = put(tmp_path, "sentence1\tsentence2\r\nA\tB\r\n", "two.tsv")
    assert list(formats.read_pair_tsv(two, strict())) == [(2, None, "A", "B", None)]
    crlf = put(tmp_path, "premise\tfoo\r\nA\tB\r\n", "crlf.tsv")  # "foo" is not a column name
    assert list(formats.read_pair_tsv(crlf, strict())) == [(1, None, "premise", "foo", None),
                                                           (2, None, "A", "B", None)]


def test_pair_tsv_header_with_an_undecodable_first_line(tmp_path):
    # the first line is read leniently for the header check; its row is then a bad row
    path = put(tmp_path, b"a\xff\tb\t1\nc\td\t0\n")
    skips = lenient()
    assert list(formats.read_pair_tsv(path, skips)) == [(2, None, "c", "d", "0")]
    assert skips.count == 1


def test_pair_tsv_with_a_header(tmp_path):
    data = ("pairID\tlanguage\tpremise\thypo\tlabel\tgold_label\n"
            "p0\tfr\tE\tF\tneutral\tneutral\n"
            "p1\tde\tA\tB\tneutral\tentailment\n"
            "p2\tfr\tC\tD\tneutral\tcontradiction\n"
            "p3\tde\tG\tH\tneutral\n"            # a short row: counted, the rest read on
            "p4\tde\tI\tJ\tneutral\tneutral\n")
    path = put(tmp_path, data)
    skips = lenient()
    assert list(formats.read_pair_tsv(path, skips, lang="de")) == [(3, "p1", "A", "B", "entailment"),
                                                                   (6, "p4", "I", "J", "neutral")]
    assert skips.examples == [f"{path}:5: expected 6 tab-separated columns, found 5"]
    assert [r[1] for r in formats.read_pair_tsv(path, lenient())] == ["p0", "p1", "p2", "p4"]
    paws = put(tmp_path, "id\tsentence1\tsentence2\tlabel\n7\tS\tT\t1\n", "paws.tsv")
    assert list(formats.read_pair_tsv(paws, strict(), lang="de")) == [(2, "7", "S", "T", "1")]
    qqp = put(tmp_path, "question1\tquestion2\tis_duplicate\tid\nQ\tR\t0\t9\n", "qqp.tsv")
    assert list(formats.read_pair_tsv(qqp, strict())) == [(2, "9", "Q", "R", "0")]
    both = put(tmp_path, "id\tpairID\tsentence1\thypothesis\nA\tB\tS\tH\n", "both.tsv")
    assert list(formats.read_pair_tsv(both, strict())) == [(2, "A", "S", "H", None)]


def test_pair_tsv_header_without_a_pair_is_refused(tmp_path):
    path = put(tmp_path, "id\tlabel\ttext\n1\t0\thello\n")
    fails(lambda: list(formats.read_pair_tsv(path, lenient())),
          "header names no sentence pair columns: ['id', 'label', 'text']", 1, path)
    only_a = put(tmp_path, "id\tsentence1\n1\thello\n", "a.tsv")
    fails(lambda: list(formats.read_pair_tsv(only_a, lenient())),
          "header names no sentence pair columns: ['id', 'sentence1']", 1, only_a)


# ---------------------------------------------------------------- CoNLL

def test_conll_sentences(tmp_path):
    data = ("-DOCSTART-\tO\n\n"
            "Marie\tB-PER\nCurie\tI-PER\n \t\n"
            "-DOCSTART-\n"
            "\u3000\tO\nParis\tB-LOC\n\n\n"
            "only\ntokens\n\n"
            "last\tO")
    got = list(formats.read_conll(put(tmp_path, data), strict()))
    assert got == [(3, ["Marie", "Curie"], ["B-PER", "I-PER"]),
                   (7, ["\u3000", "Paris"], ["O", "B-LOC"]),
                   (11, ["only", "tokens"], []),
                   (14, ["last"], ["O"])]


def test_conll_bad_lines_drop_their_sentence(tmp_path):
    data = ("a\tO\nb\tO\tX\nc\tO\n\n"       # 3 columns in a tagged sentence
            "d\ne\tO\n\n"                  # a tag in a token-only sentence
            "f\tO\n\tO\n\n"                # no token
            "g\tB\n")
    path = put(tmp_path, data)
    skips = lenient()
    assert list(formats.read_conll(path, skips)) == [(11, ["g"], ["B"])]
    assert skips.examples == [
        f"{path}:2: expected token\\ttag like the sentence's first line, found 3 column(s)",
        f"{path}:6: expected a token alone like the sentence's first line, found 2 column(s)",
        f"{path}:9: expected token\\ttag like the sentence's first line, found 2 column(s)"]
    fails(lambda: list(formats.read_conll(path, strict())),
          "expected token\\ttag like the sentence's first line, found 3 column(s)", 2)
    # a bad sentence at the end of the file is dropped too
    tail = put(tmp_path, "a\tO\nb\n", "tail.conll")
    skips = lenient()
    assert list(formats.read_conll(tail, skips)) == [] and skips.count == 1
    # a bad first line: the sentence after the blank line starts afresh
    head = put(tmp_path, "a\tO\tX\nb\tO\n\nc\n", "head.conll")
    skips = lenient()
    assert list(formats.read_conll(head, skips)) == [(4, ["c"], [])] and skips.count == 1


# ---------------------------------------------------------------- CoNLL-U

def row10(i: str, form: str, upos: str) -> str:
    return "\t".join([i, form, form.lower(), upos, "X", "_", "0", "root", "_", "_"])


def test_conllu_sentences(tmp_path):
    data = "\n".join([
        "# newdoc", "# sent_id = s-1", "# text = Im Haus", row10("1-2", "Im", "_"),
        row10("1", "In", "ADP"), row10("2", "dem", "DET"), row10("2.1", "x", "_"), row10("3", "Haus", "NOUN"),
        " ",
        "# sent_id=s=2 ", row10("1", "Ja", "INTJ"), "",
        row10("1", "No", "INTJ"), ""])
    path = put(tmp_path, data + "\n")
    assert list(formats.read_conllu(path, strict())) == [
        (5, "s-1", ["In", "dem", "Haus"], ["ADP", "DET", "NOUN"]),
        (11, "s=2", ["Ja"], ["INTJ"]),
        (13, "", ["No"], ["INTJ"])]
    assert list(formats.read_conllu(path, strict(), column=2))[1] == (11, "s=2", ["Ja"], ["ja"])
    # no blank line after the last sentence
    last = put(tmp_path, "# sent_id = z\n" + row10("1", "Z", "X"), "last.conllu")
    assert list(formats.read_conllu(last, strict())) == [(2, "z", ["Z"], ["X"])]


def test_conllu_bad_lines_drop_their_sentence(tmp_path):
    data = "\n".join([row10("1", "A", "X"), "1\tB\tb", "", row10("1", "C", "Y"), "", "2\tD", ""])
    path = put(tmp_path, data + "\n")
    skips = lenient()
    assert list(formats.read_conllu(path, skips)) == [(4, "", ["C"], ["Y"])]
    assert skips.examples == [f"{path}:2: expected 10 CoNLL-U columns, found 3",
                              f"{path}:6: expected 10 CoNLL-U columns, found 2"]
    # a bad line without a blank line after it: its sentence is still dropped
    tail = put(tmp_path, row10("1", "A", "X") + "\nbad\n", "tail.conllu")
    skips = lenient()
    assert list(formats.read_conllu(tail, skips)) == [] and skips.count == 1


# ---------------------------------------------------------------- JSON lines and CSV

def test_jsonl(tmp_path):
    path = put(tmp_path, '{"a": 1}\n\n[1, 2]\n{"b"\n \t\n{"c": "\u00e9"}\n')
    skips = lenient()
    assert list(formats.read_jsonl(path, skips)) == [(1, {"a": 1}), (6, {"c": "\u00e9"})]
    assert skips.examples == [f"{path}:3: expected a JSON object, found list",
                              f"{path}:4: bad JSON: Expecting ':' delimiter at column 5"]


def test_csv_records_and_their_first_lines(tmp_path):
    data = 'id,text\r\n1,"two\nlines"\r\n\r\n2,plain\r\n3,"a ""q"""\n4,x,extra\n5,y\n'
    path = put(tmp_path, data)
    skips = lenient()
    got = list(formats.read_csv(path, skips, required=("text",)))
    assert got == [(2, {"id": "1", "text": "two\nlines"}), (5, {"id": "2", "text": "plain"}),
                   (6, {"id": "3", "text": 'a "q"'}), (8, {"id": "5", "text": "y"})]
    assert skips.examples == [f"{path}:7: expected 2 CSV fields, found 3"]


def test_csv_refusals(tmp_path):
    bad = put(tmp_path, b"id,text\n1,ok\n2,b\xffd\n", "bad.csv")
    fails(lambda: list(formats.read_csv(bad, lenient())), "invalid UTF-8", 3, bad)
    # lines are counted from the first byte: a leading blank line is line 1
    lead = put(tmp_path, b"\nid\n\xff\n", "lead.csv")
    fails(lambda: list(formats.read_csv(lead, lenient())), "invalid UTF-8", 3, lead)
    first = put(tmp_path, b"\xff,text\n", "first.csv")
    fails(lambda: list(formats.read_csv(first, lenient())), "invalid UTF-8", 1)
    empty_header = put(tmp_path, "\n1,2\n", "nohead.csv")
    fails(lambda: list(formats.read_csv(empty_header, lenient())), "CSV holds no header row", 1, empty_header)
    fails(lambda: list(formats.read_csv(put(tmp_path, "", "empty.csv"), lenient())), "file is empty", None)
    path = put(tmp_path, "id,text\n1,a\n", "ok.csv")
    fails(lambda: list(formats.read_csv(path, lenient(), required=("id", "label", "lang"))),
          "CSV header lacks column(s) ['label', 'lang']", 1, path)


# ---------------------------------------------------------------- retrieval files

def test_parallel_files(tmp_path):
    src = put(tmp_path, "a\nb\n", "src.txt")
    trg = put(tmp_path, "A\r\nB\n", "trg.txt")
    assert formats.read_parallel(src, trg) == (["a", "b"], ["A", "B"])
    short = put(tmp_path, "A\n", "short.txt")
    fails(lambda: formats.read_parallel(src, short), f"1 lines but {src} has 2: files must align", 2)
    long = put(tmp_path, "A\nB\nC\n", "long.txt")
    err = fails(lambda: formats.read_parallel(src, long), f"3 lines but {src} has 2: files must align", 3)
    assert err.path == long
    bad = put(tmp_path, b"A\n\xff\n", "bad.txt")
    fails(lambda: formats.read_parallel(src, bad), "invalid UTF-8 at byte 0 of the line", 2)


def test_id_sentences(tmp_path):
    path = put(tmp_path, "de-1\tEins\nde-2\tZwei\tx\nde-1\tnochmal\n\nde-3\tDrei\n")
    skips = lenient()
    assert formats.read_id_sentences(path, skips) == [("de-1", "Eins"), ("de-3", "Drei")]
    assert skips.examples == [f"{path}:2: expected 2 tab-separated columns, found 3",
                              f"{path}:3: duplicate sentence id 'de-1'"]
    fails(lambda: formats.read_id_sentences(path, strict()), "expected 2 tab-separated columns, found 3", 2)


# ---------------------------------------------------------------- more edges

def test_is_blank_strips_only_spaces_and_tabs():
    for text in ("X", "XX", "x"):
        assert not formats.is_blank(text)


def test_pair_tsv_header_check_reads_the_first_line_as_it_is(tmp_path):
    # cells are split on tabs only, and only the line end is dropped: these are sentences
    spaced = put(tmp_path, "the premise has a label\tb\t0\nc\td\t1\n", "spaced.tsv")
    assert [r[2] for r in formats.read_pair_tsv(spaced, strict())] == ["the premise has a label", "c"]
    trailing = put(tmp_path, "premise\tlabel \nA\tB\n", "trailing.tsv")
    assert list(formats.read_pair_tsv(trailing, strict())) == [(1, None, "premise", "label ", None),
                                                               (2, None, "A", "B", None)]
    xs = put(tmp_path, "premise\tlabelX\nA\tB\n", "xs.tsv")
    assert [r[3] for r in formats.read_pair_tsv(xs, strict())] == ["labelX", "B"]


def test_readers_count_invalid_utf8_lines(tmp_path):
    conll = put(tmp_path, b"a\tO\n\n\xff\tO\n\nb\tO\n", "u.conll")
    skips = lenient()
    assert list(formats.read_conll(conll, skips)) == [(1, ["a"], ["O"]), (5, ["b"], ["O"])]
    assert skips.count == 1
    conllu = put(tmp_path, (row10("1", "A", "X") + "\n\n").encode() + b"\xff\n\n" + row10("1", "B", "Y").encode(),
                 "u.conllu")
    skips = lenient()
    assert [r[2] for r in formats.read_conllu(conllu, skips)] == [["A"], ["B"]] and skips.count == 1
    jsonl = put(tmp_path, b'{"a": 1}\n\xff\n{"b": 2}\n', "u.jsonl")
    skips = lenient()
    assert list(formats.read_jsonl(jsonl, skips)) == [(1, {"a": 1}), (3, {"b": 2})] and skips.count == 1


def test_conllu_edges(tmp_path):
    # no sent_id comment: the id is empty; a form with a space inside is one column
    data = "\n".join(["# text = New York", row10("1", "New York", "PROPN"), "",
                      "# sent_id", row10("1", "Ja", "INTJ"), ""])
    got = list(formats.read_conllu(put(tmp_path, data + "\n"), strict()))
    assert got[0] == (2, "", ["New York"], ["PROPN"])
    assert got[1][2:] == (["Ja"], ["INTJ"])  # a sent_id comment without "=" is only a comment


def test_csv_keeps_line_ends_inside_quoted_fields(tmp_path):
    path = put(tmp_path, 'id,text\r\n1,"a\r\nb"\r\n2,e\r\n')
    assert list(formats.read_csv(path, strict())) == [(2, {"id": "1", "text": "a\r\nb"}),
                                                      (4, {"id": "2", "text": "e"})]


def test_id_sentences_first_row_needs_two_columns(tmp_path):
    path = put(tmp_path, "de-1\tEins\tx\nde-2\tZwei\tx\n", "three.tsv")
    fails(lambda: formats.read_id_sentences(path, strict()), "expected 2 tab-separated columns, found 3", 1, path)


def test_parallel_source_file_is_read_strictly(tmp_path):
    src = put(tmp_path, b"a\n\xff\n", "src.txt")
    trg = put(tmp_path, "A\nB\n", "trg.txt")
    fails(lambda: formats.read_parallel(src, trg), "invalid UTF-8 at byte 0 of the line", 2, src)


def test_csv_reads_every_line_end_convention(tmp_path):
    # RFC 4180 CRLF, Unix LF and old Mac CR all end records (csv.reader over newline="" text)
    for end in ("\r\n", "\n", "\r"):
        path = put(tmp_path, end.join(["id,text", "1,a", '2,"b c"', ""]), "ends.csv")
        assert [row for _, row in formats.read_csv(path, strict())] == [{"id": "1", "text": "a"},
                                                                        {"id": "2", "text": "b c"}], repr(end)


def test_csv_line_numbers_count_line_feeds_only(tmp_path):
    # a lone "\r" inside a quoted field is text, not a line: the next record's line is 3, as the
    # UTF-8 error's count of the same file says
    path = put(tmp_path, b'id,text\n1,"a\rb"\n2,c\n3,\xff\n', "cr.csv")
    with pytest.raises(DataError) as err:
        list(formats.read_csv(path, strict()))
    assert err.value.line == 4
    path = put(tmp_path, 'id,text\n1,"a\rb"\n2,c,extra\n3,d\n', "cr2.csv")
    skips = lenient()
    assert list(formats.read_csv(path, skips)) == [(2, {"id": "1", "text": "a\rb"}),
                                                   (4, {"id": "3", "text": "d"})]
    assert skips.examples == [f"{path}:3: expected 2 CSV fields, found 3"]
    # old Mac line ends throughout: "\r" is the line end, for records and for the UTF-8 count
    mac = put(tmp_path, b"id,text\r1,a\r2,\xff\r", "mac.csv")
    fails(lambda: list(formats.read_csv(mac, lenient())), "invalid UTF-8", 3, mac)


def test_csv_quote_left_open_or_text_after_a_quote_names_the_record(tmp_path):
    # a quote never closed would swallow every line after it into one field
    open_quote = put(tmp_path, 'id,text\n1,a\n2,"never closed\n3,b\n4,c\n', "open.csv")
    fails(lambda: list(formats.read_csv(open_quote, lenient())),
          "malformed CSV record: unexpected end of data", 3, open_quote)
    after = put(tmp_path, 'id,text\n1,"a"b\n', "after.csv")
    fails(lambda: list(formats.read_csv(after, lenient())),
          "malformed CSV record: ',' expected after '\"'", 2, after)
    header = put(tmp_path, '"id,text\n1,a\n', "header.csv")
    fails(lambda: list(formats.read_csv(header, lenient())),
          "malformed CSV record: unexpected end of data", 1, header)


def test_conllu_empty_form_or_tag_is_a_bad_line(tmp_path):
    data = "\n".join([row10("1", "", "X"), row10("2", "b", "Y"), "",
                      row10("1", "c", ""), "", row10("1", "d", "Z"), ""]) + "\n"
    path = put(tmp_path, data, "empty.conllu")
    fails(lambda: list(formats.read_conllu(path, strict())),
          "empty FORM (CoNLL-U writes _ for no value)", 1, path)
    skips = lenient()
    assert list(formats.read_conllu(path, skips)) == [(6, "", ["d"], ["Z"])]
    assert skips.examples == [f"{path}:1: empty FORM (CoNLL-U writes _ for no value)",
                              f"{path}:4: empty column 4 (CoNLL-U writes _ for no value)"]


def test_conllu_empty_form_is_told_apart_from_an_empty_lemma(tmp_path):
    # FORM is the second column, LEMMA the third: an empty LEMMA with a FORM is not refused here
    line = lambda form, lemma, upos: "\t".join(["1", form, lemma, upos] + ["_"] * 6)  # noqa: E731
    path = put(tmp_path, line("Ja", "", "INTJ") + "\n\n" + line("", "ja", "INTJ") + "\n", "lemma.conllu")
    skips = lenient()
    assert list(formats.read_conllu(path, skips)) == [(1, "", ["Ja"], ["INTJ"])]
    assert skips.examples == [f"{path}:3: empty FORM (CoNLL-U writes _ for no value)"]
