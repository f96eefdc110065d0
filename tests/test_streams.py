"""Task streams: global batches independent of world size, rank shares disjoint, exact resume."""
import datasets
import numpy as np
import pytest

from trainer.data import TaskStream


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
