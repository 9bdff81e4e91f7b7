import pytest
import torch

from chronotope.errors import UsageError
from chronotope.flow import TASK_KINDS, TaskMix, per_token_sigma, random_task_mask, sample_task
from chronotope.flow.masks import task_mask


def _classify(mask: torch.Tensor) -> set[str]:
    """Every kind a mask is consistent with (an oracle written independently of masks.py)."""
    m = mask.tolist()
    n, k = len(m), sum(m)
    kinds = set()
    if k == 0:
        kinds.add("none")
    if m == [i == 0 for i in range(n)]:
        kinds.add("first")
    if m == [i == n - 1 for i in range(n)]:
        kinds.add("last")
    if m == [i in (0, n - 1) for i in range(n)]:
        kinds.add("first_last")
    if 0 < k < n and m == [i < k for i in range(n)]:
        kinds.add("prefix")
    if 0 < k < n and m == [i >= n - k for i in range(n)]:
        kinds.add("suffix")
    if 0 < k < n:
        kinds.add("random")
    runs = [i for i in range(1, n) if m[i] != m[i - 1]]  # where the mask switches
    if n >= 3 and m[0] and m[-1] and len(runs) == 2:
        kinds.add("ends")
    return kinds


def test_every_kind_appears_and_every_mask_is_valid():
    g = torch.Generator().manual_seed(0)
    seen = {k: 0 for k in TASK_KINDS}
    for i in range(2000):
        n = 2 + i % 9
        kind, mask = sample_task(n, g)
        assert mask.dtype == torch.bool and mask.shape == (n,)
        assert int(mask.sum()) < n, "all frames conditioned"
        assert kind in _classify(mask), (kind, mask)
        seen[kind] += 1
    assert all(c > 0 for c in seen.values()), seen
    # the default mix: about half of the clips are unconditioned
    assert 0.4 < seen["none"] / 2000 < 0.6


def test_images_are_never_conditioned():
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        assert not random_task_mask(1, g).any()


def test_two_frames_never_get_both_ends():
    g = torch.Generator().manual_seed(0)
    for kind in ("first_last", "ends"):
        mix = TaskMix(**{k: int(k == kind) for k in TASK_KINDS})  # ints ok
        for _ in range(50):
            mask = random_task_mask(2, g, mix)
            assert int(mask.sum()) < 2
        with pytest.raises(UsageError):
            task_mask(kind, 2)


def test_ends_pins_both_ends_and_leaves_a_gap_of_every_length():
    g = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(400):
        m = task_mask("ends", 6, g).tolist()
        a = m.index(False)
        b = 6 - 1 - max(i for i, x in enumerate(m) if not x)
        assert a >= 1 and b >= 1, m  # a head and a tail pinned
        assert m == [i < a or i >= 6 - b for i in range(6)], m  # one gap of noisy frames between
        seen.add((a, b))
    assert seen == {(a, b) for a in range(1, 5) for b in range(1, 6 - a)}


def test_prefix_and_suffix_lengths_cover_the_valid_range():
    g = torch.Generator().manual_seed(0)
    lengths = {int(task_mask("prefix", 5, g).sum()) for _ in range(200)}
    assert lengths == {1, 2, 3, 4}
    assert task_mask("suffix", 5, g)[-1] and not task_mask("suffix", 5, g)[0]


def test_per_token_sigma_zero_on_conditioning_frames():
    mask = torch.tensor([True, False, False, True])
    s = per_token_sigma(0.7, mask, tokens_per_frame=3)
    expected = torch.tensor([0.0] * 3 + [0.7] * 6 + [0.0] * 3)
    torch.testing.assert_close(s, expected)
    s2 = per_token_sigma(torch.tensor([0.1, 0.2, 0.3, 0.4]), mask, tokens_per_frame=2)
    torch.testing.assert_close(s2, torch.tensor([0, 0, 0.2, 0.2, 0.3, 0.3, 0, 0.0]))


def test_bad_mix_rejected():
    with pytest.raises(UsageError):
        TaskMix(none=-1)
    with pytest.raises(UsageError):
        task_mask("sideways", 4)


def test_a_run_config_keeps_its_task_mix():
    from chronotope.training.config import TrainConfig

    assert TrainConfig.from_dict(TrainConfig().to_dict()).tasks == TaskMix()


def _only(**weights) -> TaskMix:
    return TaskMix(**{k: weights.get(k, 0.0) for k in TASK_KINDS})


def test_a_kind_of_weight_zero_takes_no_share_and_no_draw():
    """Giving one kind's weight to another moves no draw: zero-weight kinds are skipped, not
    drawn over (so a kind added later with weight 0 leaves an old run's masks as they were).
    `first` and `last` masks draw nothing themselves, so the streams must match kind for kind."""
    a, b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    mix_a = _only(none=0.3, first=0.7)  # first next to none
    mix_b = _only(none=0.3, last=0.7)  # first (and first_last, prefix, ...) weight 0 between
    kinds_a = [sample_task(4, a, mix_a)[0] for _ in range(400)]
    kinds_b = [sample_task(4, b, mix_b)[0] for _ in range(400)]
    assert kinds_b == ["last" if k == "first" else k for k in kinds_a]
    assert 0.2 < kinds_a.count("none") / 400 < 0.4
    # and the draws sit where the weights say: one uniform per clip against the cumulative sum
    g, oracle = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for _ in range(200):
        u = float(torch.rand((), generator=oracle, dtype=torch.float64))
        assert sample_task(4, g, mix_a)[0] == ("none" if u < 0.3 else "first")
