import numpy as np
import pytest

from edgedepth.train.curriculum import CurriculumBatchSampler


def make(**kw):
    args = dict(complexity=list(np.linspace(1.0, 0.0, 30)), batch_size=4, total_steps=30, seed=3)
    args.update(kw)
    return CurriculumBatchSampler(**args)


def test_pool_grows_from_simplest_to_all():
    s = make(curriculum=True, stages=3, warmup_fraction=0.6)
    sizes = [s.pool_size(step) for step in range(30)]
    assert sizes[0] == 10 and sizes[-1] == 30
    assert sizes == sorted(sizes)
    assert set(sizes) == {10, 20, 30}
    # During stage one only the ten simplest samples (lowest complexity = highest index here) are drawn.
    for step in range(6):
        assert all(i >= 20 for i in s.indices(step))


def test_without_curriculum_whole_dataset_is_used():
    s = make(curriculum=False)
    assert all(s.pool_size(step) == 30 for step in range(30))
    drawn = {i for batch in s for i in batch}
    assert len(drawn) > 20


def test_resume_draws_exactly_the_same_batches():
    full = list(make(curriculum=True))
    resumed = list(make(curriculum=True, start_step=17))
    assert resumed == full[17:]
    assert len(make(start_step=17)) == 13


def test_ranks_get_disjoint_slices_of_one_draw():
    r0 = make(rank=0, world_size=2)
    r1 = make(rank=1, world_size=2)
    for step in range(30):
        a, b = r0.indices(step), r1.indices(step)
        assert len(a) == len(b) == 4
        assert not set(a) & set(b)


def test_small_pool_samples_with_replacement():
    s = make(complexity=[0.5, 0.1], batch_size=4)
    assert sorted(set(s.indices(0))) <= [0, 1]


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        make(complexity=[])
    with pytest.raises(ValueError):
        make(stages=0)
