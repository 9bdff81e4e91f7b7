"""LoRA fine-tuning through the one trainer: a tiny adapter trained on a folder of captioned
clips, written in diffusers' layout, loaded back into a pipeline, fused and unfused; resumed."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from chronotope.cli.main import main
from chronotope.data import write_video
from chronotope.errors import UsageError
from chronotope.pipeline import ChronotopePipeline
from chronotope.pipeline.loading import load_pipeline
from chronotope.pipeline.lora import adapter_vocabulary
from chronotope.tokens.segments import Segments
from chronotope.training import Trainer
from chronotope.training.config import get_preset
from chronotope.training.lora import TARGETS

RANK = 4


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny random pipeline saved as a folder (`--init` takes it): a 2-block DiT of width 64
    over the tiny VAE (ft 4, fs 8: 16 px tokens)."""
    folder = tmp_path_factory.mktemp("base")
    ChronotopePipeline.from_random(seed=0, width=64, depth=2, heads=1).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Four captioned 16x16 clips of a pink square sliding right, and one clip without a
    caption (skipped)."""
    folder = tmp_path_factory.mktemp("clips")
    for i in range(5):
        frames = np.zeros((9, 16, 16, 3), np.uint8)
        for t in range(9):
            frames[t, 4:12, i + t // 2 : i + t // 2 + 6] = (255, 0, 160)
        write_video(folder / f"c{i}.mp4", frames, fps=8)
        if i < 4:
            (folder / f"c{i}.txt").write_text(f"a pink square moves right {i}")
    return folder


def lora_cfg(base, clips, out, **kw):
    settings = dict(
        init=str(base), lora=RANK, vae=str(base / "vae"), data=str(clips), out=str(out),
        sizes=((16, 16),), seconds=(0.5, 1.0), steps=6, checkpoint_every=3, lr=3e-3,
    )  # fmt: skip
    return get_preset("test").override(**{**settings, **kw})


@pytest.fixture(scope="module")
def trained(base, clips, tmp_path_factory, text_encoder):
    out = tmp_path_factory.mktemp("run")
    trainer = Trainer(lora_cfg(base, clips, out), text_encoder=text_encoder)
    result = trainer.run()
    return trainer, result.final_dir


def velocity(transformer, seed: int = 0) -> torch.Tensor:
    """The DiT's velocity on fixed random inputs (two samples of 8 tokens, 5 text tokens)."""
    g = torch.Generator().manual_seed(seed)
    c = transformer.config
    n = c.in_channels * c.patch[0] * c.patch[1] * c.patch[2]
    positions = torch.stack(torch.meshgrid(*(torch.arange(k) for k in (2, 2, 2)), indexing="ij"))
    positions = positions.reshape(3, -1).T.repeat(2, 1)  # (16, 3)
    with torch.no_grad():
        return transformer(
            torch.randn(16, n, generator=g), torch.rand(16, generator=g), positions,
            Segments((8, 8)), torch.randn(10, c.text_dim, generator=g),
            Segments((5, 5)),
        )  # fmt: skip


def test_the_adapter_is_diffusers_layout_and_only_it_trained(trained, base):
    trainer, final = trained
    file = final / "pytorch_lora_weights.safetensors"
    assert sorted(p.name for p in final.iterdir()) == [file.name, "training.json"]
    with safe_open(str(file), "pt") as f:
        keys, meta = set(f.keys()), json.loads(f.metadata()["lora_adapter_metadata"])
        dtypes = {f.get_tensor(k).dtype for k in keys}
    expect = {
        f"transformer.blocks.{b}.{m}.lora_{ab}.weight"
        for b in range(2)
        for m in TARGETS
        for ab in "AB"
    }
    assert keys == expect and dtypes == {torch.float16}
    assert meta["transformer.r"] == RANK and meta["transformer.lora_alpha"] == RANK
    assert adapter_vocabulary(final) == {"pink", "square", "moves", "right"}  # its captions
    # the frozen base is the --init weights, bit for bit; the adapter moved
    init = load_pipeline(base).transformer.state_dict()
    for name, p in trainer.inner.named_parameters():
        plain = name.replace(".base_layer", "")
        if "lora_" in name:
            assert p.requires_grad
        else:
            assert not p.requires_grad and torch.equal(p.detach(), init[plain]), name
    assert any(p.abs().sum() > 0 for n, p in trainer.inner.named_parameters() if "lora_B" in n)


def test_loaded_fused_and_unfused_match_the_trained_model_and_scale_0_is_the_base(trained, base):
    trainer, final = trained
    pipe = load_pipeline(base)
    pipe.autocast = False
    pipe.set_progress_bar_config(disable=True)

    def frames():
        return pipe("a pink square moves right", width=16, height=16, num_frames=5, seed=3,
                    steps=2, candidates=1).frames  # fmt: skip

    base_v, base_f = velocity(pipe.transformer), frames()
    assert pipe.load_lora_weights(final) == "default_0"
    loaded_v, loaded_f = velocity(pipe.transformer), frames()
    trained_v = velocity(trainer.ema_model())  # the EMA adapter in fp32, before saving
    assert (loaded_v - base_v).abs().max() > 1e-3  # the adapter changes the model
    torch.testing.assert_close(loaded_v, trained_v, rtol=0, atol=2e-3)  # fp16 storage
    pipe.set_adapters(["default_0"], [0.0])  # weight 0: the base model, bit for bit
    assert torch.equal(velocity(pipe.transformer), base_v)
    assert np.array_equal(frames(), base_f)
    pipe.set_adapters(["default_0"], [1.0])
    assert torch.equal(velocity(pipe.transformer), loaded_v)
    # fusing adds B @ A to each weight (unfusing subtracts it: equal up to rounding)
    pipe.fuse_lora()
    torch.testing.assert_close(velocity(pipe.transformer), loaded_v, rtol=0, atol=1e-5)
    assert np.abs(frames().astype(int) - loaded_f).max() <= 1
    pipe.unfuse_lora()
    torch.testing.assert_close(velocity(pipe.transformer), loaded_v, rtol=0, atol=1e-5)
    assert np.abs(frames().astype(int) - loaded_f).max() <= 1
    pipe.unload_lora_weights()
    torch.testing.assert_close(velocity(pipe.transformer), base_v, rtol=0, atol=1e-5)


def test_a_run_resumes_and_refuses_another_rank(trained, base, clips, text_encoder):
    trainer, _ = trained
    out = trainer.out
    again = Trainer(lora_cfg(base, clips, out, steps=9), text_encoder=text_encoder)
    assert again.resumed_from is not None and again.step == 6
    assert again.summary().count("4 ok, 1 skipped (1 without a caption: c4.mp4)") == 1
    with pytest.raises(UsageError, match="--lora is 2 but the checkpoint"):
        Trainer(lora_cfg(base, clips, out).override(lora=2), text_encoder=text_encoder)


def test_lora_needs_a_trained_dit(capsys):
    with pytest.raises(UsageError, match="--init"):
        get_preset("test").override(lora=4).validate()
    assert main(["train", "--preset", "test", "--lora", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--lora" in err and "--init" in err


def test_the_lora_flag_starts_from_the_lora_preset():
    from chronotope.cli.main import build_parser
    from chronotope.cli.train import config_from_args

    cfg = config_from_args(build_parser().parse_args(["train", "--lora", "4"]))
    assert (cfg.lora, cfg.init, cfg.lr) == (4, "bundled", get_preset("lora").lr)
    plain = config_from_args(build_parser().parse_args(["train"]))
    assert plain == get_preset("world-tiny")
    tiny = config_from_args(build_parser().parse_args(["train", "--preset", "world-tiny",
                                                       "--init", "bundled", "--lora", "2"]))  # fmt: skip
    assert tiny == get_preset("world-tiny").override(init="bundled", lora=2)


def test_preserve_distils_world_clips_to_the_base_and_resumes_exactly(base, clips, tmp_path,
                                                                       text_encoder):  # fmt: skip
    """`--preserve 0.5`: every other clip of the stream is a world clip whose target is the
    frozen base's own prediction, so before the adapter moves (B = 0) their loss is exactly 0
    and the user clips' is not; the stream reopens at any position as it ran, and a run
    paused and resumed ends with the adapter of one that was not."""
    from itertools import islice

    cfg = lora_cfg(base, clips, tmp_path / "a", preserve=0.5, steps=4, checkpoint_every=2)
    trainer = Trainer(cfg, text_encoder=text_encoder)
    stream = trainer.packer.stream_factory
    run = [(s.text, getattr(s, "teacher", False), s.latent) for s in islice(stream(0), 12)]
    assert [t for _, t, _ in run] == [False, True] * 6
    again = [(s.text, getattr(s, "teacher", False), s.latent) for s in islice(stream(5), 7)]
    assert all(a[:2] == b[:2] and torch.equal(a[2], b[2]) for a, b in zip(again, run[5:]))

    batch = trainer.next_batch()
    _, per_sample, _ = trainer.train_step(batch)
    flags = []
    for b in batch.packs:
        seg = b.packed.segments
        hits = torch.zeros(len(seg)).index_add(0, seg.segment_ids(), b.teacher.float())
        flags.append(hits[: seg.num_samples] > 0)
    teacher = torch.cat(flags)
    assert teacher.any() and (~teacher).any()
    assert torch.all(per_sample[teacher] == 0) and torch.all(per_sample[~teacher] > 0)

    whole = Trainer(cfg, text_encoder=text_encoder)  # out "a" has no checkpoint yet: fresh
    whole.run()
    paused = Trainer(cfg.override(out=str(tmp_path / "b")), text_encoder=text_encoder)
    paused.run(max_steps=2)
    resumed = Trainer(cfg.override(out=str(tmp_path / "b")), text_encoder=text_encoder)
    assert resumed.step == 2
    resumed.run()
    for (name, p), q in zip(whole.inner.named_parameters(), resumed.inner.parameters()):
        assert torch.equal(p, q), name


def test_preserve_needs_lora():
    with pytest.raises(UsageError, match="--preserve"):
        get_preset("test").override(preserve=0.3).validate()
