"""Cross-lingual alignment: CKA, cosines and retrieval accuracy on hand-checked matrices, and
`xstilts align` end to end on a tiny export (Tatoeba-layout and parallel XNLI files)."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from eval.alignment import cka_matrix, language_report, linear_cka, pair_cosines, retrieval_accuracy


def test_linear_cka_hand_checked():
    x = np.array([[1.0], [2.0], [3.0]])
    assert linear_cka(x, np.array([[1.0], [0.0], [1.0]])) == pytest.approx(0.0)  # uncorrelated
    assert linear_cka(x, np.array([[1.0], [3.0], [2.0]])) == pytest.approx(0.25)  # corr 0.5, squared
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 6))
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert linear_cka(a, 3.0 * a @ q + 7.0) == pytest.approx(1.0)  # rotation, scale, shift
    assert linear_cka(a, rng.normal(size=(50, 4))) < 0.3
    with pytest.raises(ValueError):
        linear_cka(a, a[:10])
    m = cka_matrix({"en": a, "de": a @ q, "sw": rng.normal(size=(50, 6))})
    assert m["languages"] == ["en", "de", "sw"] and m["matrix"][0][1] == pytest.approx(1.0)
    assert m["matrix"][0][0] == pytest.approx(1.0) and m["matrix"][0][2] < 0.5


def test_cosines_and_retrieval_hand_checked():
    src = np.array([[1.0, 0.0], [0.0, 1.0]])
    trg = np.array([[1.0, 0.0], [1.0, 1.0]])  # cos(s0,t0)=1, cos(s1,t1)=cos(s0,t1)=1/sqrt2, cos(s1,t0)=0
    cos = pair_cosines(src, trg)
    assert cos["cos_pairs"] == pytest.approx((1 + 1 / math.sqrt(2)) / 2)
    assert cos["cos_random"] == pytest.approx((1 / math.sqrt(2) + 0) / 2)
    assert cos["cos_gap"] == pytest.approx(cos["cos_pairs"] - cos["cos_random"])
    acc = retrieval_accuracy(src, trg)
    # src -> trg both right; t1 ties between s0 and s1 and goes to the lower row (wrong)
    assert acc == {"accuracy": 75.0, "accuracy_src2trg": 100.0, "accuracy_trg2src": 50.0}
    rep = language_report([src, trg], [trg, trg])
    assert rep["pairs"] == 2 and rep["best_layer"] == 1 and rep["per_layer"][1]["accuracy"] == 100.0


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> str:
    import eval_helpers as H

    root = tmp_path_factory.mktemp("align")
    ws = H.make_workspace(str(root), {"tatoeba": {"de": 24, "fr": 16}})
    # 12 distinct premises, each repeated for three hypotheses as in XNLI
    rows = [f"{' '.join(['river', 'city', 'old'][i % 3:] + ['house'] * (i % 4 + 1))}\t{h}\tentailment"
            for i in range(12) for h in ("b", "c", "d")]
    for lang in ("en", "de"):  # "translations" identical to English: perfectly aligned
        H.write(os.path.join(ws["data"], "xnli", f"dev-{lang}.tsv"), "\n".join(rows) + "\n")
    tree = H.config_tree(ws["data"], ws["tok"], str(root / "run"))
    return H.make_export(str(root / "export"), tree, tasks=("xnli",))


def test_align_on_real_bucc_gold_pairs(export, real_data, tmp_path):
    from trainer.cli import main

    out = str(tmp_path / "bucc")
    assert main(["align", export, "--task", "bucc2018", "--languages", "zh", "--data-root", real_data,
                 "--out", out, "--max-sentences", "64"]) == 0
    with open(os.path.join(out, "align.json")) as f:
        rep = json.load(f)
    assert rep["split"] == "validation" and rep["languages"]["zh"]["pairs"] == 64
    # the pairs are the gold file's: its first line, looked up in the two sentence files
    from trainer.evaluation.align_export import parallel_sentences
    from trainer.tasks import get_task

    folder = os.path.join(real_data, "bucc2018")

    def sentences(lang: str) -> dict[str, str]:
        with open(os.path.join(folder, f"zh-en.dev.{lang}"), encoding="utf-8") as f:
            return dict(line.rstrip("\n").split("\t", 1) for line in f if line.strip())

    with open(os.path.join(folder, "zh-en.dev.gold"), encoding="utf-8") as f:
        gold = [line.split() for line in f if line.strip()]
    zh, en = parallel_sentences(get_task("bucc2018"), real_data, "validation", "zh")
    assert len(zh) == len(en) == len(gold)
    assert (zh[0], en[0]) == (sentences("zh")[gold[0][0]], sentences("en")[gold[0][1]])


def test_align_command_end_to_end(export, tmp_path, capsys):
    from trainer.cli import main

    out = str(tmp_path / "align")
    assert main(["align", export, "--task", "tatoeba", "--languages", "de", "fr", "--out", out]) == 0
    with open(os.path.join(out, "align.json")) as f:
        rep = json.load(f)
    assert rep["layers"] == 3 and set(rep["languages"]) == {"de", "fr"}  # embeddings + 2 layers
    de = rep["languages"]["de"]
    assert de["pairs"] == 24 and len(de["per_layer"]) == 3
    for row in de["per_layer"]:
        assert 0 <= row["accuracy"] <= 100 and -1 <= row["cos_random"] <= row["cos_pairs"] <= 1
        assert 0 <= row["cka"] <= 1 + 1e-9
    assert os.path.getsize(os.path.join(out, "align.png")) > 1000
    assert "best layer" in capsys.readouterr().out
    out2 = str(tmp_path / "align-xnli")
    assert main(["align", export, "--task", "xnli", "--languages", "de", "--split", "dev", "--out", out2]) == 0
    with open(os.path.join(out2, "align.json")) as f:
        rep = json.load(f)
    assert rep["languages"]["de"]["pairs"] == 12  # one pair per premise, not per hypothesis
    for row in rep["languages"]["de"]["per_layer"]:
        assert row["cos_pairs"] == pytest.approx(1.0, abs=1e-5) and row["cka"] == pytest.approx(1.0, abs=1e-5)
        assert row["accuracy"] == 100.0 and row["cos_random"] < 1 - 1e-3
    assert rep["cka_between_languages"]["languages"] == ["en", "de"]
