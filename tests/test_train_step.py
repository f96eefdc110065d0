"""The loop's step (trainer.training.loop.train_step): what it hands the engine."""
import torch

from tests.test_flat import tiny_model


def test_unpadded_micro_batches_drop_the_mask_with_the_same_outputs():
    """The loop's step leaves the attention mask out when the host knows no row is padded (so
    transformers does not read the mask back from the device to find that out); the outputs are
    the same. Padded and multiple-choice batches keep theirs."""
    from trainer.data.feeder import Micro
    from trainer.training.loop import unmasked

    model = tiny_model(True).eval()
    ids = torch.randint(5, 97, (4, 9), generator=torch.Generator().manual_seed(2))
    full = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "start_positions": torch.tensor([1, 2, 0, 3]),
            "end_positions": torch.tensor([2, 4, 0, 5])}
    lean = unmasked(Micro(full, 36, 4))
    assert "attention_mask" not in lean
    for task, labels in (("xnli", torch.zeros(4, dtype=torch.long)), ("squad", None),
                         ("udpos", torch.zeros(4, 9, dtype=torch.long))):
        extra = {} if labels is None else {"labels": labels}
        (loss_a, out_a), (loss_b, out_b) = model(task, full | extra), model(task, lean | extra)
        torch.testing.assert_close(out_a, out_b)
        torch.testing.assert_close(loss_a, loss_b)
    assert "attention_mask" in unmasked(Micro(full, 35, 4))  # one pad token
    choice = {"input_ids": ids.view(2, 2, 9), "attention_mask": torch.ones(2, 2, 9)}
    assert "attention_mask" in unmasked(Micro(choice, 36, 2))
