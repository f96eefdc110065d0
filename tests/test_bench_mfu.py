"""The MFU benchmark's FLOP count: 6 x non-embedding parameters + attention, per token."""
from benchmarks import mfu
from trainer.config import ModelConfig
from trainer.model.build import build_model
from trainer.model.multitask import HeadSpec

SHAPE = dict(vocab_size=500, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
             intermediate_size=64, max_position_embeddings=70, pad_token_id=1)


def test_flops_per_token_counts_layers_head_and_attention_not_embeddings():
    model = build_model(ModelConfig(name="", init_config=dict(SHAPE)),
                        {"cls": HeadSpec("classification", 3), "mlm": HeadSpec("mlm", 500)},
                        {"cls": "cls", "mlm": "mlm"}, "pretrained")
    d, ff, layers = 32, 64, 3
    per_layer = 4 * (d * d + d) + (d * ff + ff) + (ff * d + d) + 2 * (2 * d)  # attn, FFN, 2 LayerNorms
    cls_head = (d * d + d) + (d * 3 + 3)
    n = layers * per_layer + cls_head
    seq = 20
    assert mfu.flops_per_token(model, seq, mlm=False) == 6 * n + 12 * layers * d * seq
    extra = mfu.MLM_PROB * 6 * (d * d + d * 500)
    assert abs(mfu.flops_per_token(model, seq, mlm=True) - (6 * n + 12 * layers * d * seq + extra)) < 1e-6


def test_datasheet_peak_by_device_name():
    assert mfu.datasheet_peak("NVIDIA H200") == 989.4
    assert mfu.datasheet_peak("NVIDIA H100 80GB HBM3") == 989.4
    assert mfu.datasheet_peak("cpu") is None
