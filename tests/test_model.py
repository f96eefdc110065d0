"""Heads by kind on a tiny encoder; export loads with plain transformers and round-trips."""
import pytest
import torch

from trainer.config import ModelConfig
from trainer.model.build import build_model
from trainer.model.export import load_export, save_export
from trainer.model.multitask import HeadSpec

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


def _ce(logits, target):
    """Cross-entropy written out: mean over rows of logsumexp minus the target's logit."""
    logits = logits.double()
    return (torch.logsumexp(logits, -1) - logits.gather(-1, target[:, None]).squeeze(-1)).mean()


@torch.no_grad()  # values only: float() of a tensor that needs grad warns
def test_each_head_kind_gives_the_right_loss():
    m = tiny_model()
    b = batch() | {"labels": torch.tensor([0, 2, 1])}
    loss, logits = m("xnli", b)
    assert logits.shape == (3, 3) and loss.ndim == 0
    assert float(loss) == pytest.approx(float(_ce(logits, b["labels"])), rel=1e-5)
    labels = torch.tensor([0, 3, 1])
    loss, logits = m("csqa", batch(choices=4) | {"labels": labels})
    assert logits.shape == (3, 4) and float(loss) == pytest.approx(float(_ce(logits, labels)), rel=1e-5)
    starts, ends = torch.tensor([1, 2, 0]), torch.tensor([2, 4, 0])
    loss, logits = m("squad", batch() | {"start_positions": starts, "end_positions": ends})
    assert logits.shape == (3, 7, 2)
    want = (_ce(logits[..., 0], starts) + _ce(logits[..., 1], ends)) / 2  # start and end averaged
    assert float(loss) == pytest.approx(float(want), rel=1e-5)
    labels = torch.full((3, 7), -100)
    labels[:, 1], labels[0, 4] = 2, 3
    loss, logits = m("udpos", batch() | {"labels": labels})
    keep = labels != -100  # -100 positions are left out of the mean
    assert logits.shape == (3, 7, 5)
    assert float(loss) == pytest.approx(float(_ce(logits[keep], labels[keep])), rel=1e-5)
    labels = torch.full((3, 7), -100)
    labels[0, 3], labels[2, 5] = 11, 12
    loss, logits = m("mlm", batch() | {"labels": labels})
    assert logits.shape == (2, 97), "MLM logits only at the 2 masked positions"
    assert float(loss) == pytest.approx(float(_ce(logits, torch.tensor([11, 12]))), rel=1e-5)


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


def _padded(b=4, l=9, choices=None):
    """A batch whose rows have different lengths (padding at the end, as collate makes it)."""
    out = batch(b, l, choices)
    lengths = torch.tensor([l, 3, 6, 1][:b] if choices is None else [[l, 2, 5, 4][:choices]] * b)
    mask = (torch.arange(l) < lengths.unsqueeze(-1)).long()
    out["attention_mask"] = mask
    out["input_ids"] = out["input_ids"].masked_fill(mask == 0, 1)
    return out


@pytest.mark.parametrize("arch,attn", [("xlm-roberta", "sdpa"), ("xlm-roberta", "eager"), ("bert", "sdpa")])
def test_first_token_last_layer_gives_the_full_encoders_loss_and_gradients(arch, attn):
    """Sentence-level heads: the last layer computed for the first token alone must give the
    same logits, loss and gradients as the whole encoder (eval mode: no dropout)."""
    cfg = ModelConfig(name="", arch=arch, init_config=dict(TINY, num_hidden_layers=3), attn_implementation=attn)
    model = build_model(cfg, HEADS, TASKS, "pretrained", seed=3).double().eval()
    assert model.first_token_shortcut
    cases = [("xnli", _padded() | {"labels": torch.tensor([0, 2, 1, 1])}),
             ("csqa", _padded(b=2, choices=4) | {"labels": torch.tensor([3, 0])})]
    for task, b in cases:
        results = []
        for on in (True, False):
            model.set_first_token_shortcut(on)
            model.zero_grad()
            loss, logits = model(task, b)
            loss.backward()
            grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
            results.append((loss.detach(), logits.detach(), grads))
        (l1, g1, d1), (l0, g0, d0) = results
        assert torch.allclose(l1, l0, atol=1e-12) and torch.allclose(g1, g0, atol=1e-12)
        assert d1.keys() == d0.keys()
        for n in d0:
            assert torch.allclose(d1[n], d0[n], atol=1e-10), n
        # the last layer's feed-forward saw one token per row; its gradient is still the full one
        assert any("layer.2.output.dense" in n for n in d1)


@pytest.mark.parametrize("arch", ["xlm-roberta", "bert"])
@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("flat", ["", "layer", "encoder"])
def test_direct_layer_loop_is_transformers_forward(arch, train, flat):
    """``model.direct_layers``: the project's loop over the layers' own modules gives transformers'
    outputs and gradients for every head kind, padded or not, with dropout drawing the same masks
    in training (same seed), and with the first-token shortcut on top. In the flat layout (either
    unit) the loop makes one product of the joined query, key and value projections."""
    from trainer.engine.build import decays

    cfg = ModelConfig(name="", arch=arch, init_config=dict(TINY, num_hidden_layers=3), attn_implementation="sdpa")
    model = build_model(cfg, HEADS, TASKS, "pretrained", seed=3).double().train(train)
    assert model.direct_layers
    if flat:
        model.flatten_params(decays, flat)
        assert model._flat.joined == 2 * 3  # weights and biases of each of the 3 layers
    span = {"start_positions": torch.tensor([1, 2, 0, 3]), "end_positions": torch.tensor([2, 4, 0, 5])}
    cases = [("xnli", _padded() | {"labels": torch.tensor([0, 2, 1, 1])}), ("squad", _padded() | span),
             ("squad", batch(b=4) | span), ("udpos", _padded() | {"labels": torch.randint(0, 5, (4, 9))}),
             ("csqa", _padded(b=2, choices=4) | {"labels": torch.tensor([3, 0])})]
    if arch == "bert":  # mBERT's pairs carry segment ids
        for _, b in cases:
            b["token_type_ids"] = (torch.arange(b["input_ids"].shape[-1]) >= 4).long().expand_as(b["input_ids"])
    calls, queries = [], []
    layer_call = type(model.encoder.encoder.layer[0]).__call__
    first_query = model.encoder.encoder.layer[0].attention.self.query
    first_query.register_forward_hook(lambda *a: queries.append(model.direct_layers))
    for task, b in cases:
        results = []
        for direct in (True, False):
            model.set_direct_layers(direct)
            model.zero_grad()
            torch.manual_seed(11)
            type(model.encoder.encoder.layer[0]).__call__ = lambda *a, **k: calls.append(direct) or layer_call(*a, **k)
            try:
                loss, logits = model(task, b)
            finally:
                type(model.encoder.encoder.layer[0]).__call__ = layer_call
            loss.backward()
            results.append((loss.detach(), logits.detach(),
                            {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
        (l1, g1, d1), (l0, g0, d0) = results
        assert torch.allclose(l1, l0, rtol=1e-12, atol=1e-12), task
        assert torch.allclose(g1, g0, rtol=1e-12, atol=1e-12), task
        assert d1.keys() == d0.keys() and len(d0) > (1 if flat else 20)
        for n in d0:
            assert torch.allclose(d1[n], d0[n], rtol=1e-10, atol=1e-12), (task, n)
    assert True not in calls and False in calls  # the direct loop never went through a layer's call
    # the joined projections replace the query's own product in the direct loop
    assert (True in queries) is not bool(flat) and False in queries
    if train:  # dropout acted: the training loss differs from the evaluation one
        model.eval()
        with torch.no_grad():
            assert not torch.allclose(model(*cases[0])[0], l1)


@torch.no_grad()
def test_hidden_states_of_every_layer_come_from_transformers_forward():
    """Retrieval embeds from a middle layer (``output_hidden_states``): those passes keep
    transformers' forward, whose states the direct loop's last layer equals."""
    cfg = ModelConfig(name="", init_config=dict(TINY, num_hidden_layers=3), attn_implementation="sdpa")
    model = build_model(cfg, HEADS, TASKS, "pretrained", seed=3).double().eval()
    assert model.direct_layers
    b = _padded()
    states = model.encode(b, output_hidden_states=True).hidden_states
    assert len(states) == 4
    assert torch.allclose(states[-1], model.encode(b).last_hidden_state, rtol=1e-12, atol=1e-12)
    embedded = model.embed(b, 2)
    model.set_direct_layers(False)
    assert torch.equal(embedded, model.embed(b, 2))


def test_direct_layers_off_for_eager_attention_other_encoders_by_config_and_under_compile():
    assert not tiny_model().direct_layers  # eager attention: transformers' own forward
    import transformers as tf

    from trainer.model.multitask import MultiTaskModel

    electra = tf.ElectraModel(tf.ElectraConfig(**TINY, embedding_size=16))
    electra.config._attn_implementation = "sdpa"
    model = MultiTaskModel(electra, HEADS, TASKS)
    assert model._first_token is not None and not model.direct_layers  # it projects its embeddings
    cfg = ModelConfig(name="", init_config=dict(TINY), direct_layers=False)
    assert not build_model(cfg, HEADS, TASKS, "pretrained").direct_layers
    cfg = ModelConfig(name="", init_config=dict(TINY))
    model = build_model(cfg, HEADS, TASKS, "pretrained")
    assert model.direct_layers
    from trainer.model.multitask import compile_layers

    compile_layers(model, "eager")
    assert not model.direct_layers


def test_first_token_shortcut_off_for_other_heads_and_by_config():
    m = tiny_model()
    calls = []
    original = m.encode_first_token
    m.encode_first_token = lambda b: calls.append(1) or original(b)
    b = batch() | {"start_positions": torch.tensor([1, 2, 0]), "end_positions": torch.tensor([2, 4, 0])}
    m("squad", b)
    assert not calls  # span, tagging and MLM heads need every position
    m("xnli", batch() | {"labels": torch.tensor([0, 2, 1])})
    assert calls == [1]
    cfg = ModelConfig(name="", init_config=dict(TINY), first_token_shortcut=False)
    assert not build_model(cfg, HEADS, TASKS, "pretrained").first_token_shortcut
    # the layer list is restored after each call: every layer is still in the model
    assert len(m.encoder.encoder.layer) == TINY["num_hidden_layers"]


def test_first_token_shortcut_trains_with_dropout():
    m = tiny_model()
    b = _padded() | {"labels": torch.tensor([0, 2, 1, 1])}

    def eval_loss() -> float:
        m.eval()
        with torch.no_grad():
            return float(m("xnli", b)[0])

    before = eval_loss()
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(30):
        opt.zero_grad()
        m("xnli", b)[0].backward()
        opt.step()
    assert eval_loss() < 0.5 * before


def test_compiled_layers_keep_names_loss_and_gradients():
    """``model.compile``: each layer compiled in place (aot_eager here: the autograd graph
    capture without code generation); parameter names, the loss and every gradient are those
    of the eager model, for lengths that change between batches and on the first-token path."""
    import torch._dynamo

    from trainer.model.multitask import compile_layers

    torch._dynamo.reset()
    eager, compiled = tiny_model(seed=5).eval(), tiny_model(seed=5).eval()
    assert compile_layers(compiled, "aot_eager") == TINY["num_hidden_layers"]
    assert list(compiled.state_dict()) == list(eager.state_dict())
    cases = [("udpos", _padded(l=9) | {"labels": torch.randint(0, 5, (4, 9))}),
             ("udpos", _padded(l=6) | {"labels": torch.randint(0, 5, (4, 6))}),
             ("xnli", _padded(l=11) | {"labels": torch.tensor([0, 2, 1, 1])}),
             ("csqa", _padded(b=2, l=8, choices=4) | {"labels": torch.tensor([3, 0])})]
    torch._dynamo.utils.counters.clear()
    for task, b in cases:
        for m in (eager, compiled):
            m.zero_grad()
            m(task, b)[0].backward()
        assert torch.allclose(compiled(task, b)[0], eager(task, b)[0], atol=1e-6), task
        for (n, p), q in zip(eager.named_parameters(), compiled.parameters()):
            assert (p.grad is None) == (q.grad is None), n
            if p.grad is not None:
                assert torch.allclose(p.grad, q.grad, atol=1e-6), (task, n)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # it did compile
