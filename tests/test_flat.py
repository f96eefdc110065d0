"""Flat parameter layout (model.flat_params, per layer or for the whole encoder: model.flat_unit):
the same training as the plain layout, plain state dicts, and exports and checkpoints readable by
any layout."""
import pytest
import torch

from trainer.config import ModelConfig
from trainer.engine.build import decays, param_groups
from trainer.model.build import build_model
from trainer.model.multitask import HeadSpec

TINY = dict(vocab_size=97, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=70, pad_token_id=1)
HEADS = {"nli": HeadSpec("classification", 3), "qa": HeadSpec("span", 2),
         "pos": HeadSpec("tagging", 5), "mlm": HeadSpec("mlm", 97)}
TASKS = {"xnli": "nli", "squad": "qa", "udpos": "pos", "mlm": "mlm"}


# parameters whose exact gradient is zero (a softmax does not see a constant added to all its
# inputs: the attention's key bias, the span head's bias over positions): their gradients are
# rounding noise, which Adam scales to steps of the learning rate's size in either layout
ZERO_GRADIENT = ("attention.self.key.bias", "qa_outputs.bias")


# "span2": flat_unit "layer" with 2 layers per flat tensor (3 layers: spans 0-1 and 2)
UNITS = ("layer", "encoder", "span2")


def tiny_model(flat: bool, attn: str = "sdpa", unit: str = "layer"):
    cfg = ModelConfig(name="", init_config=dict(TINY), attn_implementation=attn)
    model = build_model(cfg, HEADS, TASKS, "pretrained", seed=0)
    if flat:
        model.flatten_params(decays, *(("layer", 2) if unit == "span2" else (unit,)))
    return model


def batches(steps: int):
    g = torch.Generator().manual_seed(1)
    for step in range(steps):
        ids = torch.randint(5, 97, (4, 9), generator=g)
        mask = torch.ones_like(ids)
        mask[0, 6:] = 0  # one padded row
        b = {"input_ids": ids, "attention_mask": mask}
        task = ("xnli", "squad", "udpos", "mlm")[step % 4]
        if task == "xnli":
            b["labels"] = torch.randint(0, 3, (4,), generator=g)
        elif task == "squad":
            b["start_positions"], b["end_positions"] = torch.tensor([1, 2, 0, 3]), torch.tensor([2, 4, 0, 5])
        else:
            labels = torch.full((4, 9), -100)
            labels[:, 2] = torch.randint(0, 5 if task == "udpos" else 97, (4,), generator=g)
            b["labels"] = labels
        yield task, b


def train(model, steps: int = 8) -> list[float]:
    """AdamW with the trainer's parameter groups and clipping; dropout on (same seed both runs)."""
    opt = torch.optim.AdamW(param_groups(model, 0.01), lr=1e-3)
    torch.manual_seed(3)
    model.train()
    losses = []
    for task, b in batches(steps):
        loss, _ = model(task, b)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("unit", UNITS)
def test_far_fewer_tensors_same_values(unit):
    plain, flat = tiny_model(False), tiny_model(True, unit=unit)
    n_plain = sum(1 for _ in plain.parameters())
    names = [n for n, _ in flat.named_parameters()]
    # 4 heads x 2 decay classes; the encoder: per layer, 3 layers x 2 and the embeddings' 2; whole, 2
    encoder = [n for n in names if n.startswith("encoder.")]
    assert n_plain > 60 and len(names) - len(encoder) == 8
    embeddings = [f"encoder.embeddings.{f}" for f in ("flat_decay", "flat_no_decay")]
    if unit == "layer":
        assert sorted(encoder) == sorted(embeddings + [f"encoder.encoder.layer.{i}.{f}" for i in range(3)
                                                       for f in ("flat_decay", "flat_no_decay")])
    elif unit == "span2":
        assert sorted(encoder) == sorted(embeddings + [f"encoder.encoder.{f}_layers_{span}"
                                                       for span in ("0_1", "2_2")
                                                       for f in ("flat_decay", "flat_no_decay")])
    else:
        assert sorted(encoder) == ["encoder.flat_decay", "encoder.flat_no_decay"]
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in flat.parameters())
    a, b = plain.state_dict(), flat.state_dict()
    assert a.keys() == b.keys(), "the flat model's state dict keeps the plain names"
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("unit", UNITS)
def test_query_key_value_joined_where_side_by_side(unit):
    """Each layer's query, key and value weights (and biases) lie side by side in their flat
    tensor: the layout also gives them as one view of it, and each projection reads its slice.
    Decay rules that put them apart get no join (or the weights' alone), and the same outputs."""
    plain = tiny_model(False)
    with torch.no_grad():  # no zero biases: a lost bias must show in the outputs
        g = torch.Generator().manual_seed(5)
        for p in plain.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    b = next(batches(1))[1]
    plain.eval()
    want = plain("xnli", b)[1]
    model = tiny_model(True, unit=unit)
    model.load_state_dict(plain.state_dict())
    assert model._flat.joined == 2 * 3
    layer = model.encoder.encoder.layer[1]
    attn = layer.attention.self
    model.eval()
    torch.testing.assert_close(model("xnli", b)[1], want)
    weight, bias = attn.qkv_weight, attn.qkv_bias
    assert weight.shape == (96, 32) and bias.shape == (96,)
    flat = {"layer": lambda: layer.flat_decay, "encoder": lambda: model.encoder.flat_decay,
            "span2": lambda: model.encoder.encoder.flat_decay_layers_0_1}[unit]()
    assert weight.untyped_storage().data_ptr() == flat.untyped_storage().data_ptr()
    for i, proj in enumerate((attn.query, attn.key, attn.value)):
        assert proj.weight.shape == (32, 32) and proj.weight.data_ptr() == weight[32 * i].data_ptr()
        assert proj.bias.data_ptr() == bias[32 * i:].data_ptr()
    plain_attn = plain.encoder.encoder.layer[1].attention.self
    assert torch.equal(weight[32:64], plain_attn.key.weight) and torch.equal(bias[64:], plain_attn.value.bias)
    # other decay rules: one class for all (query's weight and bias interleave with key's); the
    # value bias decaying (the weights stay side by side, the biases do not); the key projection
    # in the other class (the query's weight is followed by the value's and the output's)
    rules = {"one class": (lambda name, p: True, 0),
             "value bias decays": (lambda name, p: decays(name, p) or name.endswith("value.bias"), 3),
             "key apart": (lambda name, p: decays(name, p) and ".key." not in name, 0)}
    for what, (rule, joined) in rules.items():
        other = tiny_model(False)
        other.flatten_params(rule, *(("layer", 2) if unit == "span2" else (unit,)))
        other.load_state_dict(plain.state_dict())
        assert other._flat.joined == joined, what
        assert ("qkv_weight" in vars(other.encoder.encoder.layer[1].attention.self)) is bool(joined), what
        assert "qkv_bias" not in vars(other.encoder.encoder.layer[1].attention.self), what
        other.eval()
        torch.testing.assert_close(other("xnli", b)[1], want, msg=what)


def test_unknown_unit_refused():
    with pytest.raises(ValueError, match="flat unit 'layers': expected layer or encoder"):
        tiny_model(True, unit="layers")
    for layers in (0, 1.5, True):
        with pytest.raises(ValueError, match="flat layers .*: expected a whole number >= 1"):
            tiny_model(False).flatten_params(decays, "layer", layers)


def test_spans_of_layers_longer_than_the_encoder_hold_it_in_one():
    """More layers per span than the encoder has: one span of all (the embeddings apart)."""
    model = tiny_model(False)
    model.flatten_params(decays, "layer", 8)
    names = [n for n, _ in model.named_parameters() if n.startswith("encoder.encoder.")]
    assert names == ["encoder.encoder.flat_decay_layers_0_2", "encoder.encoder.flat_no_decay_layers_0_2"]


@pytest.mark.parametrize("unit", UNITS)
def test_training_is_the_plain_layouts(unit):
    plain, flat = tiny_model(False), tiny_model(True, unit=unit)
    losses_plain, losses_flat = train(plain), train(flat)
    assert losses_flat == pytest.approx(losses_plain, rel=1e-5, abs=1e-6)
    a, b = plain.state_dict(), flat.state_dict()
    for k in a:
        if k.endswith(ZERO_GRADIENT):
            continue
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6, msg=k)


@pytest.mark.parametrize("unit", UNITS)
def test_optimizer_groups_hold_the_same_elements_in_the_same_order(unit):
    """ZeRO-2 flattens each optimizer group: the same elements in the same order means the same
    partitions, so optimizer states are interchangeable between the layouts."""
    plain, flat = tiny_model(False), tiny_model(True, unit=unit)
    for gp, gf in zip(param_groups(plain, 0.01), param_groups(flat, 0.01), strict=True):
        assert gp["weight_decay"] == gf["weight_decay"]
        assert torch.equal(torch.cat([p.detach().reshape(-1) for p in gp["params"]]),
                           torch.cat([p.detach().reshape(-1) for p in gf["params"]]))


@pytest.mark.parametrize("unit", UNITS)
def test_plain_state_loads_into_flat_and_back(unit):
    plain, flat = tiny_model(False), tiny_model(True, unit=unit)
    train(plain, steps=4)
    flat.load_state_dict(plain.state_dict())
    for k, v in plain.state_dict().items():
        assert torch.equal(flat.state_dict()[k], v), k
    fresh = tiny_model(False)
    fresh.load_state_dict(flat.state_dict())
    b = next(batches(1))[1]
    plain.eval(), fresh.eval()
    assert torch.equal(plain("xnli", b)[1], fresh("xnli", b)[1])


@pytest.mark.parametrize("unit", UNITS)
def test_flat_checkpoint_weights_expand_to_plain_names(unit):
    """A DeepSpeed checkpoint's fp32 weights are named after the tensors the engine saw (the flat
    ones, of either unit); the export turns them back into the plain model's names."""
    plain, flat = tiny_model(False), tiny_model(True, unit=unit)
    train(flat, steps=2)  # values that differ from a fresh model's
    named = {n: p.detach().clone() for n, p in flat.named_parameters()}
    assert any(n.endswith("flat_decay") for n in named)
    expanded = tiny_model(False).plain_state(named, decays)
    want = flat.state_dict()
    assert expanded.keys() == dict(plain.named_parameters()).keys()
    for k, v in expanded.items():
        assert torch.equal(v, want[k]), k


ENGINE_PARITY = """
import json, sys, tempfile, torch
sys.path.insert(0, 'tests')
from test_flat import batches, tiny_model
from trainer.config import Config
from trainer.engine import checkpoint
from trainer.engine.build import build_engine, fill_ds_config, load_ds_json
from trainer.engine.checkpoint import CheckpointError
from trainer.runtime import dist
dist.init(dist.discover(), '', 60, False)


def engine_of(flat, unit):
    ds = fill_ds_config(load_ds_json('ds_configs/zero2_bf16.json'), Config(), lr=1e-3, global_batch=8,
                        world_size=1, total_steps=8, device='cpu')
    ds['bf16']['enabled'] = False
    engine = build_engine(tiny_model(flat, unit=unit), ds)
    engine.train()
    return engine


out, engines = {}, {}
for flat, unit in ((False, 'layer'), (True, 'layer'), (True, 'encoder'), (True, 'span2')):
    engine = engines[f"{flat}-{unit}"] = engine_of(flat, unit)
    torch.manual_seed(3)
    losses = []
    for task, b in batches(8):
        loss, _ = engine(task, b)
        engine.backward(loss)
        engine.step()
        losses.append(loss.item())
    out[f"{flat}-{unit}"] = {"losses": losses, "tensors": sum(1 for _ in engine.module.parameters()),
                             "state": {k: v.float().tolist() for k, v in engine.module.state_dict().items()}}
# a checkpoint resumes with the layout that wrote it, and is refused by name with another
ckpt = tempfile.mkdtemp()
checkpoint.save(engines['True-layer'], ckpt, 8, {"step": 8}, dist.DistInfo())
out["same_layout"] = checkpoint.load(engine_of(True, 'layer'), ckpt)
for other in ('encoder', 'span2'):
    try:
        checkpoint.load(engine_of(True, other), ckpt)
        out[f"other_layout_{other}"] = None
    except CheckpointError as e:
        out[f"other_layout_{other}"] = str(e)
print(json.dumps(out))
dist.shutdown()
"""


@pytest.mark.slow
def test_zero2_engine_trains_every_layout_alike(repo_root):
    """Through DeepSpeed ZeRO-2 (one rank, fp32 on CPU; a child process, as torch.distributed
    would leak into other tests): the same losses and weights, with far fewer hooked tensors; a
    checkpoint of one layout is refused by name by another."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", ENGINE_PARITY], cwd=repo_root, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    plain = res["False-layer"]
    assert res["True-layer"]["tensors"] < plain["tensors"] / 4
    assert res["True-encoder"]["tensors"] == 2 + 8  # the encoder's two, two per head
    assert res["True-span2"]["tensors"] == 2 + 2 * 2 + 8  # the embeddings', two per span, the heads'
    for unit in ("layer", "encoder", "span2"):
        flat = res[f"True-{unit}"]
        assert flat["losses"] == pytest.approx(plain["losses"], rel=1e-5, abs=1e-6)
        assert flat["state"].keys() == plain["state"].keys()
        for k, v in plain["state"].items():
            # atol: the flat layout's one product of the joined query, key and value projections
            # rounds differently from the plain layout's three in float32; Adam turns a last-bit
            # difference in a near-zero gradient into up to a few thousandths of a step (lr 1e-3)
            if not k.endswith(ZERO_GRADIENT):
                torch.testing.assert_close(torch.tensor(flat["state"][k]), torch.tensor(v), rtol=1e-5,
                                           atol=5e-6, msg=f"{unit}: {k}")
    assert res["same_layout"]["step"] == 8
    for other in ("encoder", "span2"):
        assert "written with other parameter tensors" in res[f"other_layout_{other}"]
        assert "model.flat_params, model.flat_unit and model.flat_layers settings" in res[f"other_layout_{other}"]
