"""Every task through the real pipeline code path (random tiny weights: the checks here are
structural: lengths, exact splices, pinned latents, determinism, packing equalities)."""

import numpy as np
import pytest
import torch

from chronotope.data import fit_frames
from chronotope.errors import MemoryBudgetError, UsageError
from chronotope.flow.settings import SamplingSettings
from chronotope.pipeline import ChronotopePipeline
from chronotope.pipeline.sampler import Draw, sample_draws


@pytest.fixture(scope="module")
def clip(tiny_pipe):
    return tiny_pipe("a red circle moves left", num_frames=9, seed=1).frames


def test_text_to_video_shape_and_determinism(tiny_pipe, clip):
    assert clip.shape == (9, 64, 112, 3) and clip.dtype == np.uint8
    again = tiny_pipe("a red circle moves left", num_frames=9, seed=1).frames
    other = tiny_pipe("a red circle moves left", num_frames=9, seed=2).frames
    assert np.array_equal(clip, again)
    assert not np.array_equal(clip, other)


def test_image_is_one_frame(tiny_pipe):
    out = tiny_pipe("a blue square", num_frames=1, width=64, height=64, seed=0)
    assert out.frames.shape == (1, 64, 64, 3) and out.metadata["task"] == "text_to_image"


def test_extend_forward_keeps_original_bit_exact(tiny_pipe, clip):
    out = tiny_pipe("x", video=clip, extend="forward", num_frames=8, seed=3)
    assert out.frames.shape[0] == 9 + 8
    assert np.array_equal(out.frames[:9], clip)
    assert out.metadata["frames"] == 17 and out.metadata["new_frames"] == 8  # the source's 9 kept
    assert out.metadata["new_seconds"] == 8 / out.metadata["fps"]


def test_extend_backward_keeps_original_bit_exact(tiny_pipe, clip):
    out = tiny_pipe("x", video=clip, extend="backward", num_frames=9, seed=3)
    assert out.frames.shape[0] == 9 + 9
    assert np.array_equal(out.frames[-9:], clip)


@pytest.mark.parametrize("new", [1, 3, 5, 6])
def test_extend_forward_makes_exactly_the_frames_asked(tiny_pipe, clip, new):
    # any count: the window makes the next multiple of ft (4 or 8 here) and the frames after
    # `new` are dropped, so the result is the start of that extension with the same seed
    aligned = -(-new // 4) * 4
    whole = tiny_pipe("x", video=clip, extend="forward", num_frames=aligned, seed=3).frames
    out = tiny_pipe("x", video=clip, extend="forward", num_frames=new, seed=3)
    assert out.metadata["new_frames"] == new and len(out.frames) == 9 + new
    np.testing.assert_array_equal(out.frames, whole[: 9 + new])


@pytest.mark.parametrize("new", [2, 4, 8])
def test_extend_backward_makes_exactly_the_frames_asked(tiny_pipe, clip, new):
    # the next 1 + k*ft frames are made before the clip (5 or 9 here), the earliest dropped
    aligned = 1 + -(-(new - 1) // 4) * 4
    whole = tiny_pipe("x", video=clip, extend="backward", num_frames=aligned, seed=3).frames
    out = tiny_pipe("x", video=clip, extend="backward", num_frames=new, seed=3)
    assert out.metadata["new_frames"] == new and len(out.frames) == new + 9
    np.testing.assert_array_equal(out.frames, whole[aligned - new :])


def test_extend_seconds_give_exact_new_frames(tiny_pipe, clip):
    fps = tiny_pipe.config.fps
    for direction in ("forward", "backward"):
        out = tiny_pipe("x", video=clip, extend=direction, seconds=3 / fps, seed=3)
        assert out.metadata["new_frames"] == 3 and len(out.frames) == 9 + 3


def test_long_backward_extension_is_windowed(tiny_pipe, clip, monkeypatch):
    # window_frames=17: 30 frames before the clip take several windows, each leading into the
    # earliest frames made so far; none is longer than a window
    import chronotope.pipeline.window as pw

    lengths = []
    real = pw.sample_draws

    def spy(model, draws, **kw):
        lengths.append(draws[0].start.shape[0])
        return real(model, draws, **kw)

    monkeypatch.setattr(pw, "sample_draws", spy)
    out = tiny_pipe("x", video=clip, extend="backward", num_frames=30, seed=3).frames
    assert len(out) == 30 + 9 and np.array_equal(out[-9:], clip)
    window_latents = 1 + (tiny_pipe.tasks.window_frames - 1) // tiny_pipe.ft
    assert len(lengths) > 1 and max(lengths) <= window_latents


def test_extend_refuses_a_count_below_one(tiny_pipe, clip):
    for bad in (0, -4, 2.5, "8", float("nan")):
        with pytest.raises(UsageError, match="frames must be a whole number >= 1"):
            tiny_pipe("x", video=clip, extend="forward", num_frames=bad, seed=3)


def test_long_extension_is_windowed(tiny_pipe, clip):
    # window_frames=17: 40 new frames need several windows, each continuing the last
    out = tiny_pipe("x", video=clip, extend="forward", num_frames=40, seed=3)
    assert out.frames.shape[0] == 9 + 40 and np.array_equal(out.frames[:9], clip)
    odd = tiny_pipe("x", video=clip, extend="forward", num_frames=41, seed=3).frames
    assert len(odd) == 9 + 41 and np.array_equal(odd[:9], clip)


def test_connect_starts_with_a_and_ends_with_b(tiny_pipe, clip):
    b = clip[::-1].copy()
    result = tiny_pipe("x", connect=(clip, b), seed=4)
    out = result.frames
    bridge = len(out) - 2 * len(clip)
    assert bridge > 0 and bridge % 4 == 0 and result.metadata["new_frames"] == bridge
    assert np.array_equal(out[:9], clip) and np.array_equal(out[-9:], b)


def test_connect_bridge_is_a_whole_number_of_latent_frames(tiny_pipe, clip):
    b = clip[::-1].copy()
    out = tiny_pipe("x", connect=(clip, b), num_frames=8, seed=4)
    assert out.metadata["new_frames"] == 8 and len(out.frames) == 9 + 8 + 9
    with pytest.raises(UsageError, match="multiple of 4 frames.*nearest valid: 8 or 12, got 9"):
        tiny_pipe("x", connect=(clip, b), num_frames=9, seed=4)
    with pytest.raises(UsageError, match="nearest valid: 4, got 3"):
        tiny_pipe("x", connect=(clip, b), num_frames=3, seed=4)
    # seconds snap to the nearest whole latent frames (7 frames -> 8)
    fps = tiny_pipe.config.fps
    assert tiny_pipe("x", connect=(clip, b), seconds=7 / fps, seed=4).metadata["new_frames"] == 8
    # 10.4 frames are 2.6 latent frames: 12, not 10 frames first and then 2.5 rounded to even
    assert (
        tiny_pipe("x", connect=(clip, b), seconds=1.3, fps=8, seed=4).metadata["new_frames"] == 12
    )


def _scene(background, x: int, n: int = 5) -> np.ndarray:
    """n frames (64x112) of one background with a 10 px white square moving right from x."""
    frames = np.empty((n, 64, 112, 3), np.uint8)
    frames[:] = np.asarray(background, np.uint8)
    for t in range(n):
        frames[t, 20:30, x + 3 * t : x + 3 * t + 10] = 255
    return frames


def test_scene_change_reads_backgrounds_not_objects():
    from chronotope.tasks.windows import connect_transition, scene_change

    gray, black = _scene((128, 128, 128), 10), _scene((0, 0, 0), 10)
    later = _scene((128, 128, 128), 60)  # the same scene, its object elsewhere
    assert scene_change(gray[-1], later[0]) == 0.0  # objects move over few pixels
    assert abs(scene_change(gray[-1], black[0]) - 128 / 255) < 1e-6  # every background pixel
    assert connect_transition(gray, later, "auto", 0.05) == "bridge"
    assert connect_transition(gray, black, "auto", 0.05) == "dissolve"
    assert connect_transition(gray, black, "auto", 0.6) == "bridge"  # the model's threshold
    assert connect_transition(gray, later, "dissolve", 0.05) == "dissolve"  # asked for: kept
    assert connect_transition(gray, black, "bridge", 0.05) == "bridge"
    with pytest.raises(UsageError, match="auto, bridge, dissolve") as e:
        connect_transition(gray, black, "fade", 0.05)
    assert e.value.param == "transition"


def test_cross_fade_eases_from_a_to_b():
    from chronotope.tasks.windows import cross_fade

    a = np.full((8, 4, 4, 3), 10, np.uint8)
    b = np.full((8, 4, 4, 3), 190, np.uint8)
    out = cross_fade(a, b)
    u = np.arange(8) / 7  # frame k is s(k / 7) of the way, s = smoothstep
    expected = [round(10 + 180 * (3 * x**2 - 2 * x**3)) for x in u]
    assert out.dtype == np.uint8 and out[:, 0, 0, 0].tolist() == expected
    # unmixed ends: the seams beside the fade are the extensions' own
    assert out[0, 0, 0, 0] == 10 and out[-1, 0, 0, 0] == 190
    # the steps inside: symmetric, smallest at both ends, largest mid-way
    steps = np.diff(out[:, 0, 0, 0].astype(int))
    assert steps.sum() == 180 and abs(steps[0] - steps[-1]) <= 1
    assert steps[0] == steps.min() and steps[3] == steps.max() and steps[0] < 180 / 7 < steps[3]
    ramp = (np.arange(8, dtype=np.uint8) * 9)[:, None, None, None] * np.ones_like(a)
    mixed = cross_fade(ramp, b)[:, 0, 0, 0]  # frame by frame: a's frame k with b's frame k
    w = 3 * u**2 - 2 * u**3
    assert mixed.tolist() == [round((1 - w[k]) * 9 * k + w[k] * 190) for k in range(8)]
    one = cross_fade(a[:1], b[:1])[0, 0, 0, 0]  # a one-frame fade is half of each
    assert one == 100


def test_connect_across_scenes_dissolves_two_extensions(tiny_pipe):
    """A connect of two scenes (another background) is A extended forward and B backward, each
    without prompt or guidance (the run's windows: seed and seed + 1), then cross-faded."""
    from chronotope.tasks.windows import cross_fade

    a, b = _scene((128, 128, 128), 10, n=9), _scene((0, 0, 0), 40, n=9)
    out = tiny_pipe("a white square moves right", connect=(a, b), num_frames=8, seed=4)
    assert out.metadata["transition"] == "dissolve" and out.metadata["new_frames"] == 8
    plain = dict(guidance=1.0, early_guidance=1.0, num_frames=8)
    after_a = tiny_pipe("", video=a, extend="forward", seed=4, **plain).frames[9:]
    before_b = tiny_pipe("", video=b, extend="backward", seed=5, **plain).frames[:8]
    assert np.array_equal(out.frames, np.concatenate([a, cross_fade(after_a, before_b), b]))
    other = tiny_pipe("a red circle", connect=(a, b), num_frames=8, seed=4).frames
    assert np.array_equal(other, out.frames)  # the prompt does not steer a dissolve
    bridge = tiny_pipe("x", connect=(a, b), num_frames=8, seed=4, transition="bridge")
    assert bridge.metadata["transition"] == "bridge"
    assert not np.array_equal(bridge.frames, out.frames)
    assert np.array_equal(bridge.frames[:9], a) and np.array_equal(bridge.frames[-9:], b)
    same = tiny_pipe("x", connect=(a, _scene((128, 128, 128), 60, n=9)), num_frames=8, seed=4)
    assert same.metadata["transition"] == "bridge"  # one scene: the bridge
    assert tiny_pipe("x", num_frames=5, seed=4).metadata["transition"] is None
    with pytest.raises(UsageError) as e:
        tiny_pipe("x", num_frames=5, transition="dissolve")
    assert e.value.param == "transition"
    with pytest.raises(UsageError, match="auto, bridge, dissolve"):
        tiny_pipe("x", connect=(a, b), transition="wipe")
    with pytest.raises(UsageError, match="dissolve_above must be in"):
        ChronotopePipeline.from_random(dissolve_above=1.5)


def test_image_to_video_first_frame_is_the_image(tiny_pipe, clip):
    out = tiny_pipe("x", image=clip[4], num_frames=9, seed=5).frames
    assert np.array_equal(out[0], clip[4])
    both = tiny_pipe("x", image=clip[0], last_image=clip[8], num_frames=9, seed=5).frames
    assert np.array_equal(both[0], clip[0]) and np.array_equal(both[-1], clip[8])


def test_loop_is_one_circle_of_latent_frames(tiny_pipe):
    out = tiny_pipe("x", num_frames=9, loop=True, seed=6)
    assert out.metadata["task"] == "loop"
    assert out.frames.shape == (8, 64, 112, 3)  # the 2 latent frames after the first: 2 x 4
    assert np.array_equal(out.frames, tiny_pipe("x", num_frames=9, loop=True, seed=6).frames)
    plain = tiny_pipe("x", num_frames=9, seed=6).frames
    assert not np.array_equal(out.frames, plain[1:])  # sampled as a circle, not cut from a clip


def test_loop_period_starts_half_a_latent_frame_into_the_circle(tiny_pipe):
    from chronotope.pipeline.window import WindowSampler, autocast, to_uint8
    from chronotope.tasks.request import GenerationRequest, resolve

    request = GenerationRequest("x", width=64, height=64, num_frames=9, seed=0)
    run = WindowSampler(tiny_pipe, resolve(request, tiny_pipe.defaults))
    vae, ft = tiny_pipe.vae, tiny_pipe.ft
    z = torch.randn(vae.config.latent_channels, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    out = run.decode(z, circle_from=1)  # the causal first frame + a circle of 2 latent frames
    # oracle: the circle decoded three times after the first frame; the period is the second
    # pass's 2 x ft frames taken from ft // 2 frames in, so its wrap is a step inside a latent
    # frame of the third pass, decoded after the second pass's last frame
    circle = z[:, 1:]
    full = torch.cat([z, circle, circle, circle], dim=1)
    with autocast(enabled=tiny_pipe.autocast):  # as the pipeline decodes
        parts = list(vae.decode_iter(vae.denormalize(full[None])))
    frames = np.concatenate([to_uint8(p[0]) for p in parts])
    period = 2 * ft
    start = 1 + period + ft // 2
    assert out.shape[0] == 1 + period
    assert np.array_equal(out[0], frames[0])
    assert np.array_equal(out[1:], frames[start : start + period])
    with pytest.raises(UsageError, match="latent frame 1"):
        run.decode(z, circle_from=0)  # a circle through the causal first frame has no period


def test_loop_of_a_multiple_of_ft_frames_is_exactly_that_period(tiny_pipe):
    out = tiny_pipe("x", num_frames=8, loop=True, seed=6)
    assert out.metadata["task"] == "loop" and out.frames.shape == (8, 64, 112, 3)
    # the same circle as asking for 1 + 8 frames: the count names the period, nothing else
    assert np.array_equal(out.frames, tiny_pipe("x", num_frames=9, loop=True, seed=6).frames)
    for bad in (6, 10):  # neither a period (k*ft) nor 1 + k*ft
        with pytest.raises(UsageError, match="nearest valid"):
            tiny_pipe("x", num_frames=bad, loop=True, seed=6)
    with pytest.raises(UsageError, match="nearest valid"):  # not a loop: 1 + k*ft only
        tiny_pipe("x", num_frames=8, seed=6)


def test_loop_of_a_given_clip_appends_a_bridge_back_to_its_start(tiny_pipe, clip):
    out = tiny_pipe("x", image=clip[0], num_frames=9, loop=True, seed=6)
    plain = tiny_pipe("x", image=clip[0], num_frames=9, seed=6)
    assert out.metadata["task"] == "image_to_video+loop"
    assert np.array_equal(out.frames[:9], plain.frames)  # the clip itself, then the bridge
    assert len(out.frames) > 9


def test_circular_model_fn_rolls_whole_frames_of_the_circle_and_back():
    from chronotope.flow.guidance import Circle, circular_model_fn

    x = torch.randn(20, 3)  # tokens 0-3 another sample; 4-19 a circle of 4 frames x 4 tokens
    seen = []

    def model(xr, sigma):  # a model that answers by position: what each position holds
        seen.append(xr.clone())
        return xr * 2 + torch.arange(20.0)[:, None]

    fn = circular_model_fn(model, [Circle(start=4, end=20, per=4, seed=0)])
    shifts = set()
    for _ in range(12):
        v = fn(x, torch.ones(20))
        xr = seen[-1]
        assert torch.equal(xr[:4], x[:4])  # outside the circle nothing moves
        frames, rolled = x[4:].reshape(4, 4, 3), xr[4:].reshape(4, 4, 3)
        (k,) = [k for k in range(4) if torch.equal(rolled, frames.roll(-k, dims=0))]
        shifts.add(k)
        # each token gets back the answer given to it: its own value, at the position it was at
        where = 4 + (torch.arange(16) - 4 * k) % 16
        assert torch.equal(v[4:], x[4:] * 2 + where[:, None].float())
    assert len(shifts) > 1  # the offset changes from evaluation to evaluation


def test_a_circle_job_packed_with_others_equals_it_alone(tiny_pipe):
    jobs = _jobs(0)
    jobs[2].circle_from = 1  # the 5-frame job loops over its last 4 latent frames
    settings = SamplingSettings(steps=3, guidance=3.0)
    kw = dict(uncond_text=torch.randn(2, 384), settings=settings, autocast=False)
    together = sample_draws(tiny_pipe.transformer, jobs, **kw)
    (alone,) = sample_draws(tiny_pipe.transformer, [jobs[2]], **kw)
    assert torch.allclose(together[2], alone, atol=1e-4)
    jobs[2].circle_from = None
    (plain,) = sample_draws(tiny_pipe.transformer, [jobs[2]], **kw)
    assert not torch.allclose(plain, alone, atol=1e-3)


def test_restyle_keeps_length(tiny_pipe, clip):
    out = tiny_pipe("a green circle", video=clip, strength=0.5, seed=7).frames
    assert out.shape == clip.shape


def test_multishot_and_long_video_lengths(tiny_pipe):
    shots = tiny_pipe(["a red circle", "a blue square"], shot_seconds=2, seed=8)
    assert shots.frames.shape[0] == 2 * 17 and shots.metadata["task"] == "multi_shot"
    chunks = []
    out = tiny_pipe("x", seconds=6, seed=9, frame_sink=chunks.append)
    assert out.frames.shape[0] == 0
    assert sum(len(c) for c in chunks) == 49 and len(chunks) >= 3  # 1 + 6*8 frames, windowed


def test_sizes_padded_to_the_token_grid_and_cropped_back(tiny_pipe):
    out = tiny_pipe("x", num_frames=5, width=72, height=40, seed=0).frames
    assert out.shape == (5, 40, 72, 3)


def test_bad_sizes_and_frames_are_refused_with_nearest_valid(tiny_pipe):
    with pytest.raises(UsageError, match="nearest valid: 96x64, 104x64"):
        tiny_pipe("x", width=100, height=64, num_frames=5)
    with pytest.raises(UsageError, match="nearest valid: 5 or 9"):
        tiny_pipe("x", num_frames=7)


def test_memory_budget_refuses_before_allocating(tiny_pipe):
    with pytest.raises(MemoryBudgetError, match="GiB"):
        tiny_pipe.validate_request(width=4096, height=4096, num_frames=481, guidance=4.0)
    est = tiny_pipe.validate_request(width=64, height=64, num_frames=9)
    assert 0 < est.total < 1024**3


def _jobs(seed):
    g = torch.Generator().manual_seed(seed)
    shapes = [(4, 3, 4, 6), (4, 1, 6, 4), (4, 5, 2, 2)]  # video 16:9-ish, image 9:16, long thin
    jobs = []
    for i, s in enumerate(shapes):
        start = torch.ones(s[1])
        start[0] = 0.0 if s[1] > 1 else 1.0  # pin the first frame of videos
        jobs.append(
            Draw(torch.randn(s, generator=g), start, torch.randn(3 + i, 384, generator=g), 10 + i)
        )
    return jobs


@pytest.mark.parametrize("early", [1.0, 2.5])  # early guidance rescales per sample
def test_packed_batch_equals_each_job_alone_and_pins_are_exact(tiny_pipe, early):
    jobs = _jobs(0)
    uncond = torch.randn(2, 384)
    settings = SamplingSettings(steps=3, guidance=3.0, early_guidance=early)
    kw = dict(uncond_text=uncond, settings=settings, autocast=False)
    together = sample_draws(tiny_pipe.transformer, jobs, **kw)
    for job, z in zip(jobs, together):
        (alone,) = sample_draws(tiny_pipe.transformer, [job], **kw)
        assert torch.allclose(z, alone, atol=1e-4)
        pinned = job.start == 0
        assert torch.equal(z[:, pinned], job.z_ref[:, pinned])


def test_early_guidance_is_the_stronger_guidance_of_tokens_above_its_level(tiny_pipe):
    """Per token: at or below `level` the velocity is the one of guidance g; above it, the one
    of guidance 1 + f (g - 1), rescaled per sample to the spread of the conditional velocity
    over those tokens; one packed call, whatever mix of noise levels the tokens are at."""
    from chronotope.flow.guidance import guided_model_fn
    from chronotope.pipeline.sampler import _info, _start_tokens
    from chronotope.tokens import PackedBatch

    jobs, patch = _jobs(1), tuple(tiny_pipe.transformer.config.patch)
    toks = [_start_tokens(j, patch) for j in jobs]
    batch = PackedBatch.build(
        [t[0] for t in toks],
        [t[2] for t in toks],
        [_info(j, patch) for j in jobs],
        text=[j.text for j in jobs],
    )
    uncond, x = torch.randn(2, 384), batch.tokens.float()
    sigma = torch.rand(x.shape[0], generator=torch.Generator().manual_seed(0))

    def fn(g, early=(1.0, 1.0, 1.0)):
        f, level, phi = early
        settings = SamplingSettings(
            guidance=g, early_guidance=f, early_sigma=level, early_rescale=phi
        )
        model_fn = guided_model_fn(tiny_pipe.transformer, batch, uncond, settings, autocast=False)
        return model_fn(x, sigma)

    early, low, high, cond = fn(3.0, (2.5, 0.5, 1.0)), fn(3.0), fn(1 + 2.5 * 2.0), fn(1.0)
    unscaled, half = fn(3.0, (2.5, 0.5, 0.0)), fn(3.0, (2.5, 0.5, 0.5))
    above = sigma > 0.5
    assert 0 < int(above.sum()) < len(sigma)
    assert torch.equal(early[~above], low[~above]) and torch.equal(half[~above], low[~above])
    assert torch.allclose(unscaled[above], high[above], atol=1e-5)  # phi 0: no rescale
    offsets = batch.segments.offsets
    for a, b in zip(offsets[:-1], offsets[1:]):
        m = above[a:b]
        e, h, c = early[a:b][m], high[a:b][m], cond[a:b][m]
        assert torch.allclose(e.std(), c.std(), rtol=1e-5)  # the conditional spread
        assert torch.allclose(e, h * (e.std() / h.std()), atol=1e-6)  # the guided direction
        assert not torch.allclose(e, c, atol=1e-3)  # not the conditional velocity itself
        assert not torch.allclose(e, h, atol=1e-3)  # strong guidance alone is longer
        assert torch.allclose(half[a:b][m], (e + h) / 2, atol=1e-5)  # phi 0.5: halfway


def test_early_guidance_of_a_call(tiny_pipe):
    prompt, kw = "a red circle moves left", dict(num_frames=9, seed=1, guidance=3.0)
    plain = tiny_pipe(prompt, **kw).frames
    assert np.array_equal(tiny_pipe(prompt, early_guidance=1.0, **kw).frames, plain)
    early = tiny_pipe(prompt, early_guidance=2.0, **kw)
    assert early.metadata["early_guidance"] == 2.0
    assert not np.array_equal(early.frames, plain)
    # no token is ever noisier than 1: with the level there, nothing changes
    pipe = ChronotopePipeline.from_random(
        seed=0, steps=3, window_frames=17, context_frames=5, early_guidance=2.0, early_sigma=1.0
    )
    assert np.array_equal(pipe(prompt, **kw).frames, plain)
    # a loop's circle keeps plain guidance: early guidance changes nothing there
    loop = dict(num_frames=8, loop=True, seed=2, guidance=3.0)
    assert np.array_equal(
        tiny_pipe(prompt, early_guidance=3.0, **loop).frames, tiny_pipe(prompt, **loop).frames
    )
    for bad in (dict(early_guidance=-1.0), dict(early_sigma=1.5), dict(early_rescale=2.0)):
        with pytest.raises(UsageError, match="early_"):
            ChronotopePipeline.from_random(**bad)
    with pytest.raises(UsageError) as e:
        tiny_pipe(prompt, early_guidance=float("nan"))
    assert e.value.param == "early_guidance"


def test_restyle_guidance_is_the_default_guidance_of_a_restyle_only(clip):
    """A model's `restyle_guidance` replaces its guidance in a restyle the call gives none for:
    the same frames as the plain model called with that guidance; other tasks and an explicit
    guidance are untouched."""
    kw = dict(seed=0, steps=3, window_frames=17, context_frames=5, guidance=3.0)
    plain = ChronotopePipeline.from_random(**kw)
    tuned = ChronotopePipeline.from_random(**kw, restyle_guidance=6.0)
    prompt, src = "a red circle moves left", clip[:9]
    out = tuned(prompt, video=src, strength=0.6, seed=4)
    assert out.metadata["guidance"] == 6.0
    assert np.array_equal(
        out.frames, plain(prompt, video=src, strength=0.6, seed=4, guidance=6.0).frames
    )
    assert not np.array_equal(out.frames, plain(prompt, video=src, strength=0.6, seed=4).frames)
    given = tuned(prompt, video=src, strength=0.6, seed=4, guidance=3.0)  # the call's own wins
    assert np.array_equal(given.frames, plain(prompt, video=src, strength=0.6, seed=4).frames)
    t2v = dict(num_frames=9, seed=5)
    assert np.array_equal(tuned(prompt, **t2v).frames, plain(prompt, **t2v).frames)
    ext = dict(video=src, extend="forward", num_frames=4, seed=6)
    assert np.array_equal(tuned(prompt, **ext).frames, plain(prompt, **ext).frames)
    with pytest.raises(UsageError, match="guidance"):
        ChronotopePipeline.from_random(restyle_guidance=float("nan"))


def test_metadata_counts_the_whole_output(tiny_pipe, clip):
    out = tiny_pipe("x", video=clip, extend="forward", num_frames=8, seed=3)
    assert out.metadata["frames"] == len(out.frames) == 17
    sunk = []
    out = tiny_pipe("x", video=clip, extend="forward", num_frames=8, seed=3, frame_sink=sunk.append)
    assert out.metadata["frames"] == sum(len(c) for c in sunk) == 17 and len(out.frames) == 0


def test_condition_of_an_off_grid_size_sets_the_nearest_size_below(tiny_pipe):
    image = np.random.default_rng(0).integers(0, 255, (70, 101, 3), dtype=np.uint8)
    out = tiny_pipe("x", image=image, num_frames=5, seed=0).frames
    assert out.shape == (5, 64, 96, 3)


@pytest.mark.parametrize("hw", [(7, 5), (40, 12), (24, 4400)])
def test_condition_outside_every_output_size_gives_the_models_size(tiny_pipe, hw):
    """A 7x5 image rounds to 8x8, and 4400 px is over 4096: no size fits, so the output takes
    the model's own size (the image is scaled to cover it) instead of an error about a size
    the user never asked for."""
    image = np.random.default_rng(0).integers(0, 255, (*hw, 3), dtype=np.uint8)
    out = tiny_pipe("x", image=image, num_frames=5, seed=0)
    assert out.frames.shape == (5, 64, 112, 3)  # the tiny pipeline's 112x64
    assert np.array_equal(out.frames[0], fit_frames(image, 112, 64))


@pytest.mark.parametrize("length", [6, 11])
def test_restyle_of_any_length_keeps_it(tiny_pipe, clip, length):
    source = np.concatenate([clip, clip[::-1]])[:length]  # not of the form 1 + k*ft
    out = tiny_pipe("a green circle", video=source, strength=0.5, seed=7)
    assert out.frames.shape == source.shape and out.metadata["task"] == "restyle"


def test_long_restyle_is_windowed_and_deterministic(tiny_pipe, clip, monkeypatch):
    source = np.concatenate([clip, clip[::-1], clip, clip[::-1]])  # 36 frames; windows of 17
    windows = []
    from chronotope.pipeline.window import WindowSampler

    real_one = WindowSampler.__call__

    def counting(self, prompt, window):
        windows.append((window.canvas.num_frames, int(window.canvas.known.sum())))
        return real_one(self, prompt, window)

    monkeypatch.setattr(WindowSampler, "__call__", counting)
    out = tiny_pipe("a green circle", video=source, strength=0.5, seed=7).frames
    assert out.shape == source.shape
    assert len(windows) >= 3 and all(n <= 17 for n, _ in windows)
    assert windows[0][1] == 0 and all(k > 0 for _, k in windows[1:])  # later ones pin context
    again = tiny_pipe("a green circle", video=source, strength=0.5, seed=7).frames
    assert np.array_equal(out, again)


def test_restyle_strength_is_checked_before_work(tiny_pipe, clip):
    with pytest.raises(UsageError, match="strength"):
        tiny_pipe("x", video=clip, strength=1.5)


def test_bridge_start_applies_to_bridges_only(clip, monkeypatch):
    from chronotope.pipeline import ChronotopePipeline
    from chronotope.pipeline import window as pw

    pipe = ChronotopePipeline.from_random(
        seed=0, steps=2, window_frames=17, context_frames=5, bridge_start=0.7
    )
    starts = []
    real = pw.sample_draws

    def spy(model, draws, **kw):
        starts.append(draws[0].start.tolist())
        return real(model, draws, **kw)

    monkeypatch.setattr(pw, "sample_draws", spy)
    pipe("x", connect=(clip, clip[::-1].copy()), num_frames=8, seed=0)
    # A's tail (5 frames: latents 0, 1), a bridge of 2 latents, B's head (4 frames: 1 latent)
    assert starts[-1] == [0.0, 0.0, 0.7, 0.7, 0.0]
    pipe("x", video=clip, extend="forward", num_frames=8, seed=0)
    assert starts[-1] == [0.0, 0.0, 1.0, 1.0]  # nothing after the new frames: from noise
    with pytest.raises(UsageError, match="bridge_start"):
        ChronotopePipeline.from_random(bridge_start=0.0)


def test_image_to_video_at_a_size_off_the_token_grid(tiny_pipe, clip):
    image = clip[0][:56, :88]  # 88x56: on the VAE's grid (8), not on the tokens' (16)
    out = tiny_pipe("x", image=image, num_frames=5, seed=0).frames  # at the model's scale
    assert out.shape == (5, 56, 88, 3) and np.array_equal(out[0], image)


@pytest.mark.parametrize(
    "kwargs, param",
    [
        (dict(steps=0), "steps"),
        (dict(fps=0), "fps"),
        (dict(seconds=0), "seconds"),
        (dict(seconds=float("inf")), "seconds"),
        (dict(guidance=float("nan")), "guidance"),
        (dict(seed=2**70), "seed"),
        (dict(width=0), "size"),
        (dict(strength=0.5), "strength"),  # no video to restyle
        (dict(extend="forward"), "extend"),
        (dict(loop=True, num_frames=1), "loop"),
    ],
)
def test_zero_nan_or_unused_arguments_are_refused_not_defaulted(tiny_pipe, kwargs, param):
    with pytest.raises(UsageError) as e:
        tiny_pipe("x", **kwargs)
    assert e.value.param == param


def test_arguments_a_task_would_ignore_are_refused(tiny_pipe, clip):
    cases = [
        (dict(video=clip, strength=0.5, image=clip[0]), "image"),
        (dict(video=clip, extend="forward", last_image=clip[0]), "last_image"),
        (dict(video=clip, strength=0.5, num_frames=5), "frames"),
        (dict(video=clip, connect=(clip, clip)), "connect"),
    ]
    for kwargs, param in cases:
        with pytest.raises(UsageError) as e:
            tiny_pipe("x", **kwargs)
        assert e.value.param == param, kwargs
    with pytest.raises(UsageError) as e:
        tiny_pipe(["a", "b"], shot_seconds=1, image=clip[0])
    assert e.value.param == "image"


def test_frames_held_in_memory_count_in_the_estimate(tiny_pipe):
    streamed = tiny_pipe.validate_request(width=1024, height=1024, num_frames=481)
    held = tiny_pipe.validate_request(width=1024, height=1024, num_frames=481, kept_frames=481)
    assert held.frames - streamed.frames == 481 * 1024 * 1024 * 3  # uint8 RGB each


def test_a_call_without_a_sink_counts_its_whole_output(tiny_pipe, monkeypatch):
    seen = []

    class Stop(Exception):
        pass

    def spy(**kw):
        seen.append(kw["kept_frames"])
        raise Stop

    monkeypatch.setattr(tiny_pipe, "validate_request", spy)
    for sink in (None, lambda frames: None):
        with pytest.raises(Stop):
            tiny_pipe("x", seconds=60, frame_sink=sink)
    with pytest.raises(Stop):
        tiny_pipe(["a", "b"], shot_seconds=2)
    assert seen == [481, 0, 2 * 17]  # returned whole: every frame is held; streamed: none


def test_negative_prompt_replaces_the_unconditional_branch(tiny_pipe, clip):
    prompt = "a red circle moves left"
    same = tiny_pipe(prompt, num_frames=9, seed=1, negative_prompt="").frames
    assert np.array_equal(same, clip)  # "" is the default unconditional prompt
    steered = tiny_pipe(prompt, num_frames=9, seed=1, negative_prompt="a blue square").frames
    assert not np.array_equal(steered, clip)
    # negative = prompt: both branches agree, so guidance changes nothing (as guidance 1)
    flat = tiny_pipe(prompt, num_frames=9, seed=1, negative_prompt=prompt, guidance=6.0).frames
    plain = tiny_pipe(prompt, num_frames=9, seed=1, guidance=1.0).frames
    assert np.abs(flat.astype(int) - plain).max() <= 1
    assert np.abs(clip.astype(int) - plain).max() > 4  # guidance does change the default
    with pytest.raises(UsageError, match="negative_prompt must be a string"):
        tiny_pipe(prompt, num_frames=9, negative_prompt=["x"])


def test_images_of_a_video_longer_than_a_window_are_its_first_and_last_frames(tiny_pipe, clip):
    """Longer than a window (17 frames here), image-to-video is windowed like a long video: the
    first window starts on the image, the last ends on the last image (neither is dropped)."""
    out = tiny_pipe("x", image=clip[0], last_image=clip[8], num_frames=29, seed=2)
    assert out.metadata["task"] == "long_video" and out.frames.shape[0] == 29
    assert np.array_equal(out.frames[0], clip[0])
    assert np.array_equal(out.frames[-1], clip[8])
    first = tiny_pipe("x", image=clip[0], num_frames=29, seed=2).frames
    assert np.array_equal(first[0], clip[0]) and not np.array_equal(first[-1], clip[8])
    last = tiny_pipe("x", last_image=clip[8], num_frames=29, seed=2).frames
    assert np.array_equal(last[-1], clip[8]) and not np.array_equal(last[0], clip[0])


def test_a_loop_longer_than_a_window_streams_after_its_bridge(tiny_pipe):
    kept = tiny_pipe("x", num_frames=24, loop=True, seed=3)
    assert kept.metadata["task"] == "long_video+loop"
    chunks = []
    sunk = tiny_pipe("x", num_frames=24, loop=True, seed=3, frame_sink=chunks.append)
    assert len(sunk.frames) == 0 and sunk.metadata["frames"] == len(kept.frames)
    assert np.array_equal(np.concatenate(chunks), kept.frames)
