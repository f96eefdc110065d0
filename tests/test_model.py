"""Heads by kind on a tiny encoder; export loads with plain transformers and round-trips."""
import pytest
import torch

from trainer.config import ModelConfig
from trainer.model import HeadSpec, build_model, load_export, save_export

TINY = dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=70, pad_token_id=1)
HEADS = {"nli": HeadSpec("classification", 3, ["entailment", "neutral", "contradiction"]),
         "mc": HeadSpec("multiple_choice", 1), "qa": HeadSpec("span", 2),
         "pos": HeadSpec("tagging", 5, list("ABCDE")), "mlm": HeadSpec("mlm", 97)}
TASKS = {"mnli": "nli", "xnli": "nli", "csqa": "mc", "squad": "qa", "udpos": "pos", "mlm": "mlm"}


def tiny_model(seed=0):
    cfg = ModelConfig(name="", init_config=dict(TINY), attn_implementation="eager")
    return build_model(cfg, HEADS, TASKS, "pretrained", seed=seed)


def batch(b=3, l=7, choices=None):
    g = torch.Generator().manual_seed(0)
    shape = (b, choices, l) if choices else (b, l)
    ids = torch.randint(5, 97, shape, generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def test_each_head_kind_gives_loss_and_logits():
    m = tiny_model()
    b = batch() | {"labels": torch.tensor([0, 2, 1])}
    loss, logits = m("xnli", b)
    assert logits.shape == (3, 3) and loss.ndim == 0 and torch.isfinite(loss)
    loss, logits = m("csqa", batch(choices=4) | {"labels": torch.tensor([0, 3, 1])})
    assert logits.shape == (3, 4) and torch.isfinite(loss)
    b = batch() | {"start_positions": torch.tensor([1, 2, 0]), "end_positions": torch.tensor([2, 4, 0])}
    loss, logits = m("squad", b)
    assert logits.shape == (3, 7, 2) and torch.isfinite(loss)
    labels = torch.full((3, 7), -100)
    labels[:, 1] = 2
    loss, logits = m("udpos", batch() | {"labels": labels})
    assert logits.shape == (3, 7, 5) and torch.isfinite(loss)
    labels = torch.full((3, 7), -100)
    labels[0, 3], labels[2, 5] = 11, 12
    loss, logits = m("mlm", batch() | {"labels": labels})
    assert logits.shape == (2, 97), "MLM logits only at the 2 masked positions"


def test_shared_head_and_unknown_task():
    m = tiny_model()
    b = batch()
    m.eval()
    assert torch.equal(m("mnli", b)[1], m("xnli", b)[1])
    with pytest.raises(KeyError, match="no head mapped"):
        m("nope", b)


def test_same_seed_same_heads():
    a, b = tiny_model(0), tiny_model(0)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), n


def test_export_loads_with_transformers_and_round_trips(tmp_path):
    import transformers

    m = tiny_model().eval()
    save_export(m, str(tmp_path / "export"), None, phase="t", step=5)
    enc = transformers.AutoModel.from_pretrained(tmp_path / "export")
    assert isinstance(enc, transformers.XLMRobertaModel)
    assert (tmp_path / "export" / "model.safetensors").exists()
    back = load_export(str(tmp_path / "export"), attn_implementation="eager")
    b = batch()
    for task in ("xnli", "squad", "udpos"):
        assert torch.allclose(m(task, b)[1], back(task, b)[1], atol=1e-6)
    emb = back.embed(b, layer=1)
    assert emb.shape == (3, 32) and torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_reuse_matching_heads_from_export(tmp_path):
    m = tiny_model(seed=1)
    save_export(m, str(tmp_path / "e"), None)
    cfg = ModelConfig(name="", init_config=dict(TINY), attn_implementation="eager")
    new = build_model(cfg, {"nli": HEADS["nli"], "x": HeadSpec("classification", 2)},
                      {"xnli": "nli", "paws": "x"}, str(tmp_path / "e"), seed=7)
    assert torch.equal(new.heads["nli"].out_proj.weight, m.heads["nli"].out_proj.weight)
    assert torch.equal(new.encoder.embeddings.word_embeddings.weight,
                       m.encoder.embeddings.word_embeddings.weight)
