"""The submission layout (eval/layout.py): file families, files of earlier versions, and what a
task folder holds or does not, with the reason given for each stray file: survivors of a
mutation run of eval/layout.py, each killed here."""
from __future__ import annotations

import os

from eval.layout import family, find_file, read_folder, task_folders


def _touch(path: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").close()
    return path


def test_families_of_retrieval_by_index_and_classification():
    assert family("tatoeba") == "index"
    assert family("xnli") == "label" and family("pawsx") == "label"
    assert family("udpos") == "tag" and family("xcopa") == "choice"


def test_find_file_reads_a_legacy_task_folder_when_the_official_file_is_missing(tmp_path):
    root = str(tmp_path)
    legacy = _touch(os.path.join(root, "udpos_r", "test-de.tsv"))
    assert find_file(root, "udpos_r", "de") == legacy
    official = _touch(os.path.join(root, "udpos", "test-de.tsv"))
    assert find_file(root, "udpos_r", "de") == official  # the official file wins
    assert find_file(root, "udpos_r", "fr") == os.path.join(root, "udpos", "test-fr.tsv")


def test_a_legacy_folder_is_read_as_its_own_task_and_an_unknown_one_as_none(tmp_path):
    root = str(tmp_path)
    _touch(os.path.join(root, "udpos_r", "test-de.tsv"))
    got = read_folder(root, "udpos_r")
    assert got.path == os.path.join(root, "udpos_r") and got.tasks == {"udpos_r": ["de"]} and got.stray == []
    _touch(os.path.join(root, "notatask", "test-de.tsv"))
    unknown = read_folder(root, "notatask")
    assert unknown.tasks == {}
    assert unknown.stray == [(os.path.join(root, "notatask", "test-de.tsv"),
                              "unexpected extension .tsv (this folder takes .)")]


def test_read_folder_skips_hidden_files_and_goes_on_after_each_stray_file(tmp_path):
    root = str(tmp_path)
    d = os.path.join(root, "xnli")
    for name in (".DS_Store", "README", "test-aa.tsv", "test-de.backup.tsv", "test-de.txt", "test-de.tsv", "test-fr.tsv"):
        _touch(os.path.join(d, name))
    got = read_folder(root, "xnli")
    assert got.tasks == {"xnli": ["de", "fr"]}
    assert got.stray == [
        (os.path.join(d, "README"), "not a test-<lang>.<ext> file"),
        (os.path.join(d, "test-aa.tsv"), "language 'aa' is not one of xnli's"),
        (os.path.join(d, "test-de.backup.tsv"), "language 'de.backup' is not one of xnli's"),
        (os.path.join(d, "test-de.txt"), "unexpected extension .txt (this folder takes .tsv)"),
    ]


def test_stray_reasons_name_every_reader_and_every_extension(tmp_path):
    root = str(tmp_path)
    _touch(os.path.join(root, "udpos", "test-zz.tsv"))
    assert read_folder(root, "udpos").stray == [
        (os.path.join(root, "udpos", "test-zz.tsv"), "language 'zz' is not one of udpos, udpos_r's")]
    _touch(os.path.join(root, "xcopa", "test-et.txt"))
    assert read_folder(root, "xcopa").stray == [
        (os.path.join(root, "xcopa", "test-et.txt"), "unexpected extension .txt (this folder takes .jsonl or tsv)")]


def test_task_folders_skip_hidden_entries_and_list_the_known_folders(tmp_path):
    root = str(tmp_path)
    for name in (".git", "mystery", "xnli"):
        os.makedirs(os.path.join(root, name))
    names, stray = task_folders(root)
    assert names == ["xnli"]
    assert len(stray) == 1 and stray[0][0] == os.path.join(root, "mystery")
    why = stray[0][1]
    assert why.startswith("unknown task folder (known: ") and why.endswith(", xnli, xquad)")
    assert ", udpos, " in why and "XX" not in why
