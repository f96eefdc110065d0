"""Task streams: global batches independent of world size, rank shares disjoint, exact resume."""
import datasets
import numpy as np
import pytest
import torch

from trainer.data.load import TaskStream


def feats(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return datasets.Dataset.from_dict({"length": rng.integers(3, 100, n).tolist(), "idx": list(range(n))})


def stream(world, rank, n=200, gb=16, mb=4, **kw):
    return TaskStream("t", feats(n), gb, mb, world, rank, seed=1, **kw)


def consume(s, steps):
    return [s.next_step() for _ in range(steps)]


def test_ranks_partition_each_global_batch_and_world_size_does_not_matter():
    one = consume(stream(1, 0), 30)
    two = [consume(stream(2, r), 30) for r in range(2)]
    for step in range(30):
        all1 = sorted(i for mb in one[step] for i in mb)
        all2 = sorted(i for r in range(2) for mb in two[r][step] for i in mb)
        assert all1 == all2 and len(all1) == 16
        assert not set(i for mb in two[0][step] for i in mb) & set(i for mb in two[1][step] for i in mb)


def test_epoch_covers_each_example_at_most_once_and_rolls_over():
    s = stream(1, 0, n=200, gb=16)
    assert s.batches_per_epoch == 12
    seen = [i for mbs in consume(s, 12) for mb in mbs for i in mb]
    assert len(seen) == len(set(seen)) == 192
    nxt = consume(s, 1)
    assert s.state.epoch == 1 and s.state.position == 1
    assert sorted(i for mb in nxt[0] for i in mb) != sorted(seen[:16])


def test_grouping_by_length_reduces_padding():
    def waste(s):
        pad = real = 0
        for mbs in consume(s, 12):
            for mb in mbs:
                lens = [s.lengths[i] for i in mb]
                pad += max(lens) * len(lens)
                real += sum(lens)
        return 1 - real / pad
    assert waste(stream(1, 0)) < waste(stream(1, 0, group_by_length=False)) / 2


def test_resume_from_state_is_exact():
    a = stream(2, 1)
    consume(a, 17)
    state = a.state_dict()
    rest = consume(a, 10)
    b = stream(2, 1)
    b.load_state_dict(state)
    assert consume(b, 10) == rest
    c = stream(1, 0)  # another world size resumes at the same examples
    c.load_state_dict(state)
    got = sorted(i for mb in c.next_step() for i in mb)
    ref = stream(1, 0)
    consume(ref, 17)
    assert got == sorted(i for mb in ref.next_step() for i in mb)


def test_refuses_too_few_examples_and_bad_split():
    with pytest.raises(ValueError, match="fewer than one global batch"):
        stream(1, 0, n=10, gb=16)
    with pytest.raises(ValueError, match="multiple"):
        stream(3, 0, gb=16, mb=4)


# ---------------------------------------------------------------- the feeder (batches prepared ahead)


class Streams:
    """Two task streams with a collate that records its calls."""

    def __init__(self):
        from trainer.data.load import TaskStream

        self.calls = []
        self.streams = {}
        for name, n in (("a", 96), ("b", 160)):
            s = TaskStream(name, feats(n, seed=len(name) + n), 16, 4, 1, 0, seed=1)
            s.collate = (lambda rows, step, name=name: self.calls.append((name, step))
                         or {"ids": torch.tensor([r["idx"] for r in rows]), "step": step})
            self.streams[name] = s


class Sampler:
    def task_at(self, step: int) -> str:
        return "ab"[step % 3 == 2]


def feed(ahead: int, start: int = 0, stop: int = 12, streams=None):
    from trainer.data.feeder import Feeder

    st = streams or Streams()
    f = Feeder(st.streams, Sampler(), start, stop, ahead, pin_memory=False)
    out = []
    for step in range(start, stop):
        name, micros = f.next(step)
        out.append((name, [m.batch["ids"].tolist() for m in micros], [m.batch["step"] for m in micros],
                    [(m.tokens, m.rows) for m in micros], f.stream_states()))
    f.close()
    return out, st


def test_feeder_prepares_the_same_batches_ahead_and_reports_trained_positions():
    plain, _ = feed(0)
    for ahead in (1, 3):
        got, st = feed(ahead)
        assert got == plain, ahead
        # it prepared ahead but never past the last step
        assert len(st.calls) == sum(len(m) for _, m, *_ in plain)
    # the positions reported after step k are those of a plain loop after step k
    ref = Streams()
    for k, (name, micros, steps, _, states) in enumerate(plain):
        assert ref.streams[name].next_step() == [list(m) for m in micros]  # the same rows
        assert states == {n: s.state_dict() for n, s in ref.streams.items()}, k
        assert set(steps) == {k}  # collated for its own step (MLM masks are seeded by it)
    # resumed from the positions saved after step 5, it goes on as the uninterrupted run
    saved = plain[5][4]
    fresh = Streams()
    for n, s in fresh.streams.items():
        s.load_state_dict(saved[n])
    rest, _ = feed(2, start=6, streams=fresh)
    assert [r[:2] for r in rest] == [r[:2] for r in plain[6:]]


def test_feeder_counts_tokens_pins_on_gpu_and_raises_collate_errors(monkeypatch):
    import trainer.data.feeder as feeder

    got, _ = feed(1, stop=2)
    lengths = {n: s.lengths for n, s in Streams().streams.items()}
    name, micros, _, counts, _ = got[0]
    assert counts == [(int(lengths[name][m].sum()), len(m)) for m in micros]
    pinned = []
    monkeypatch.setattr(feeder, "pin", lambda b: pinned.append(1) or b)
    st = Streams()
    f = feeder.Feeder(st.streams, Sampler(), 0, 3, 1, pin_memory=True)
    f.next(0)
    f.close()
    assert pinned  # every prepared micro-batch goes through pin() when asked
    st = Streams()
    st.streams["a"].collate = lambda rows, step: 1 / 0
    f = feeder.Feeder(st.streams, Sampler(), 0, 3, 1, pin_memory=False)
    with pytest.raises(ZeroDivisionError):
        f.next(0)
    f.close()
    assert feeder.prefetch_depth(-1, "cuda") == 1 and feeder.prefetch_depth(-1, "cpu") == 0
    assert feeder.prefetch_depth(3, "cpu") == 3

