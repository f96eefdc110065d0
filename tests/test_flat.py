"""Flat parameter layout (model.flat_params): the same training as the plain layout, plain state
dicts, and exports and checkpoints readable by either layout."""
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


def tiny_model(flat: bool, attn: str = "sdpa"):
    cfg = ModelConfig(name="", init_config=dict(TINY), attn_implementation=attn)
    model = build_model(cfg, HEADS, TASKS, "pretrained", seed=0)
    if flat:
        model.flatten_params(decays)
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


def test_far_fewer_tensors_same_values():
    plain, flat = tiny_model(False), tiny_model(True)
    n_plain = sum(1 for _ in plain.parameters())
    n_flat = sum(1 for _ in flat.parameters())
    # embeddings (decay + no-decay), 3 layers x 2, 4 heads (the MLM head has both classes)
    assert n_plain > 60 and n_flat <= 2 + 3 * 2 + 4 * 2
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in flat.parameters())
    a, b = plain.state_dict(), flat.state_dict()
    assert a.keys() == b.keys(), "the flat model's state dict keeps the plain names"
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_training_is_the_plain_layouts():
    plain, flat = tiny_model(False), tiny_model(True)
    losses_plain, losses_flat = train(plain), train(flat)
    assert losses_flat == pytest.approx(losses_plain, rel=1e-5, abs=1e-6)
    a, b = plain.state_dict(), flat.state_dict()
    for k in a:
        if k.endswith(ZERO_GRADIENT):
            continue
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6, msg=k)


def test_optimizer_groups_hold_the_same_elements_in_the_same_order():
    """ZeRO-2 flattens each optimizer group: the same elements in the same order means the same
    partitions, so optimizer states are interchangeable between the layouts."""
    plain, flat = tiny_model(False), tiny_model(True)
    for gp, gf in zip(param_groups(plain, 0.01), param_groups(flat, 0.01)):
        assert gp["weight_decay"] == gf["weight_decay"]
        assert torch.equal(torch.cat([p.detach().reshape(-1) for p in gp["params"]]),
                           torch.cat([p.detach().reshape(-1) for p in gf["params"]]))


def test_plain_state_loads_into_flat_and_back():
    plain, flat = tiny_model(False), tiny_model(True)
    train(plain, steps=4)
    flat.load_state_dict(plain.state_dict())
    for k, v in plain.state_dict().items():
        assert torch.equal(flat.state_dict()[k], v), k
    fresh = tiny_model(False)
    fresh.load_state_dict(flat.state_dict())
    b = next(batches(1))[1]
    plain.eval(), fresh.eval()
    assert torch.equal(plain("xnli", b)[1], fresh("xnli", b)[1])


def test_flat_checkpoint_weights_expand_to_plain_names():
    """A DeepSpeed checkpoint's fp32 weights are named after the tensors the engine saw (the flat
    ones); the export turns them back into the plain model's names."""
    plain, flat = tiny_model(False), tiny_model(True)
    named = {n: p.detach() for n, p in flat.named_parameters()}
    assert any(n.endswith("flat_decay") for n in named)
    expanded = tiny_model(False).plain_state(named, decays)
    want = dict(plain.named_parameters())
    assert expanded.keys() == want.keys()
    for k, v in want.items():
        assert torch.equal(expanded[k], v.detach()), k


ENGINE_PARITY = """
import json, sys, torch
sys.path.insert(0, 'tests')
from test_flat import batches, tiny_model
from trainer.config import Config
from trainer.engine.build import build_engine, fill_ds_config, load_ds_json
from trainer.runtime import dist
dist.init(dist.discover(), '', 60, False)
out = {}
for flat in (False, True):
    ds = fill_ds_config(load_ds_json('ds_configs/zero2_bf16.json'), Config(), lr=1e-3, global_batch=8,
                        world_size=1, total_steps=8, device='cpu')
    ds['bf16']['enabled'] = False
    engine = build_engine(tiny_model(flat), ds)
    engine.train()
    torch.manual_seed(3)
    losses = []
    for task, b in batches(8):
        loss, _ = engine(task, b)
        engine.backward(loss)
        engine.step()
        losses.append(loss.item())
    out[str(flat)] = {"losses": losses, "tensors": sum(1 for _ in engine.module.parameters()),
                      "state": {k: v.float().tolist() for k, v in engine.module.state_dict().items()}}
print(json.dumps(out))
dist.shutdown()
"""


@pytest.mark.slow
def test_zero2_engine_trains_both_layouts_alike(repo_root):
    """Through DeepSpeed ZeRO-2 (one rank, fp32 on CPU; a child process, as torch.distributed
    would leak into other tests): the same losses and weights, with far fewer hooked tensors."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", ENGINE_PARITY], cwd=repo_root, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    plain, flat = res["False"], res["True"]
    assert flat["tensors"] < plain["tensors"] / 4
    assert flat["losses"] == pytest.approx(plain["losses"], rel=1e-5, abs=1e-6)
    assert flat["state"].keys() == plain["state"].keys()
    for k, v in plain["state"].items():
        if not k.endswith(ZERO_GRADIENT):
            torch.testing.assert_close(torch.tensor(flat["state"][k]), torch.tensor(v), rtol=1e-5, atol=1e-6,
                                       msg=k)

