import json

import torch

from chronotope.autoencoder import CausalVAE
from chronotope.autoencoder.train import VAETrainConfig, train_vae


def _cfg(out, **kw) -> VAETrainConfig:
    base = dict(
        out=out,
        preset="tiny",
        steps=6,
        batch=2,
        lr=3e-3,
        warmup=1,
        sample_every=3,
        save_every=3,
        stats_batches=2,
        progress=False,
    )
    return VAETrainConfig(**{**base, **kw})


def _recon_l1(vae: CausalVAE, video: torch.Tensor) -> float:
    with torch.no_grad():
        return (vae.eval().decode(vae.encode(video)[0]) - video).abs().mean().item()


def test_training_reduces_loss(tmp_path, shapes):
    held = shapes(seed=99, batch_size=4).batch(0)  # clips never trained on
    torch.manual_seed(0)
    before = _recon_l1(CausalVAE.from_preset("tiny"), held)  # train_vae's init (same seed)
    final = train_vae(
        _cfg(tmp_path, steps=60, save_every=100, sample_every=60), source=shapes(batch_size=4)
    )
    vae = CausalVAE.from_pretrained(final)
    assert _recon_l1(vae, held) < 0.85 * before  # measured (fp32): 0.50 -> 0.35 in 60 steps
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 60 and all(r["loss"] > 0 for r in log)
    assert (tmp_path / "samples" / "step-00000060.png").is_file()
    std = vae.config.latent_stats["std"]
    assert len(std) == 4 and min(std) > 0


def test_resume_is_bit_exact(tmp_path, shapes):
    straight = train_vae(_cfg(tmp_path / "a"), source=shapes())
    # an interrupted run: stops after 3 steps (its checkpoint), then resumes to 6
    train_vae(_cfg(tmp_path / "b", steps=3), source=shapes())
    resumed = train_vae(_cfg(tmp_path / "b", resume=True), source=shapes())
    a = CausalVAE.from_pretrained(straight).state_dict()
    b = CausalVAE.from_pretrained(resumed).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    la = (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()
    lb = (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(x)["loss"] for x in la] == [json.loads(x)["loss"] for x in lb]


def test_checkpoint_whose_header_starts_with_0x80_is_read(tmp_path):
    from chronotope.utils.checkpoint import load_checkpoint as read_checkpoint
    from chronotope.utils.checkpoint import save_checkpoint

    for n in range(1, 300):  # key length moves the header length through every value mod 256
        tensors = {"k" * n: torch.arange(3.0)}
        ckpt = save_checkpoint(tmp_path, n, {"optimizer": tensors}, {"x": 1})
        if (ckpt / "optimizer.safetensors").read_bytes()[0] == 0x80:
            break
    assert (ckpt / "optimizer.safetensors").read_bytes()[0] == 0x80
    files, meta = read_checkpoint(ckpt)
    assert torch.equal(files["optimizer"]["k" * n], torch.arange(3.0)) and meta["x"] == 1


def test_cosine_schedule_warms_up_then_decays_to_the_floor(tmp_path):
    from chronotope.autoencoder.train import learning_rate

    cfg = _cfg(tmp_path, steps=1000, warmup=100, lr=1e-3, schedule="cosine", min_lr_ratio=0.05)
    lrs = [learning_rate(cfg, s) for s in range(1000)]
    assert lrs[0] == 1e-5 and abs(lrs[99] - 1e-3) < 1e-12  # linear warmup
    assert all(a >= b for a, b in zip(lrs[100:], lrs[101:], strict=False))  # then only decays
    assert abs(lrs[550] - 1e-3 * (0.05 + 0.95 * 0.5)) < 1e-6  # half way: the mean of both ends
    assert abs(learning_rate(cfg, 1000) - 5e-5) < 1e-12  # ends at min_lr_ratio * lr
    const = _cfg(tmp_path, steps=1000, warmup=100, lr=1e-3)
    assert {learning_rate(const, s) for s in range(100, 1000)} == {1e-3}


def test_unknown_schedule_is_refused(tmp_path):
    import pytest

    from chronotope.errors import UsageError

    with pytest.raises(UsageError, match="'constant' or 'cosine'"):
        _cfg(tmp_path, schedule="linear")


def test_freeze_encoder_keeps_latents_bit_exact_while_the_decoder_trains(tmp_path, shapes):
    first = CausalVAE.from_pretrained(train_vae(_cfg(tmp_path, steps=3), source=shapes()))
    a = {k: v.clone() for k, v in first.state_dict().items()}
    stats = first.config.latent_stats
    cfg = _cfg(tmp_path, steps=6, resume=True, freeze_encoder=True)
    b = CausalVAE.from_pretrained(train_vae(cfg, source=shapes())).state_dict()
    enc = [k for k in a if k.startswith("encoder.")]
    dec = [k for k in a if k.startswith("decoder.")]
    assert enc and dec and len(enc) + len(dec) == len(a)
    assert all(torch.equal(a[k], b[k]) for k in enc)  # the latent space did not move
    assert any(not torch.equal(a[k], b[k]) for k in dec)  # the decoder did
    vae = CausalVAE.from_pretrained(tmp_path / "final")
    assert vae.config.latent_stats == stats


def test_init_starts_from_a_trained_vae_and_refuses_another_preset(tmp_path, shapes):
    import pytest

    from chronotope.errors import UsageError

    first = CausalVAE.from_pretrained(train_vae(_cfg(tmp_path / "a", steps=3), source=shapes()))
    a = {k: v.clone() for k, v in first.state_dict().items()}
    stats = first.config.latent_stats
    cfg = _cfg(tmp_path / "b", steps=1, init=tmp_path / "a" / "final", freeze_encoder=True, lr=0.1)
    b = CausalVAE.from_pretrained(train_vae(cfg, source=shapes())).state_dict()
    enc = [k for k in a if k.startswith("encoder.")]
    assert all(torch.equal(a[k], b[k]) for k in enc)  # started from it, encoder frozen
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("decoder."))
    vae = CausalVAE.from_pretrained(tmp_path / "b" / "final")
    assert vae.config.latent_stats == stats
    with pytest.raises(UsageError, match="--init"):
        train_vae(_cfg(tmp_path / "c", preset="world", init=tmp_path / "a" / "final"))


def test_decoder_blocks_grow_the_init_decoder_from_its_exact_output(tmp_path, shapes):
    import pytest

    from chronotope.errors import UsageError

    first = CausalVAE.from_pretrained(train_vae(_cfg(tmp_path / "a", steps=3), source=shapes()))
    init = dict(init=tmp_path / "a" / "final", freeze_encoder=True, steps=2)
    plain = train_vae(_cfg(tmp_path / "b", **init), source=shapes())
    grown = train_vae(_cfg(tmp_path / "c", decoder_blocks=4, **init), source=shapes())
    vae = CausalVAE.from_pretrained(grown)
    assert (
        vae.config.decoder_res_blocks == 4
        and CausalVAE.from_pretrained(plain).config["decoder_res_blocks"] is None
    )
    size = [sum(p.numel() for p in m.decoder.parameters()) for m in (first, vae)]
    assert size[1] > 1.2 * size[0]
    video = shapes(seed=5, batch_size=2).batch(0)
    with torch.no_grad():  # the encoder (and so the latent space) is the init's
        assert torch.equal(vae.encode(video)[0], first.encode(video)[0])
    # the extra blocks start as the identity: the first step's loss (computed before any update,
    # same batch and posterior noise) is the plain fine-tune's; the second differs
    logs = [
        [json.loads(x)["loss"] for x in (tmp_path / r / "train_log.jsonl").read_text().splitlines()]
        for r in ("b", "c")
    ]
    assert logs[0][0] == pytest.approx(logs[1][0], rel=1e-6, abs=1e-7)
    assert logs[0][1] != logs[1][1]
    again = _cfg(tmp_path / "e", init=grown, freeze_encoder=True, steps=1)  # keeps its depth
    assert (
        CausalVAE.from_pretrained(train_vae(again, source=shapes())).config["decoder_res_blocks"]
        == 4
    )
    with pytest.raises(UsageError, match="grown, not shrunk"):
        train_vae(_cfg(tmp_path / "d", init=grown, decoder_blocks=3))
    with pytest.raises(UsageError, match="decoder_blocks=4"):  # a resume keeps the depth
        train_vae(_cfg(tmp_path / "c", steps=4, resume=True), source=shapes())


def test_a_checkpoint_loads_as_the_vae_it_was_at_that_step(tmp_path, shapes):
    import pytest

    from chronotope.autoencoder.train import load_checkpoint_model
    from chronotope.cli.vae import load_model
    from chronotope.errors import CorruptFileError
    from chronotope.utils.checkpoint import is_checkpoint

    first = train_vae(_cfg(tmp_path / "a", steps=3), source=shapes())
    init = dict(init=first, freeze_encoder=True, decoder_blocks=3, steps=3)
    final = CausalVAE.from_pretrained(train_vae(_cfg(tmp_path / "b", **init), source=shapes()))
    ckpt = tmp_path / "b" / "checkpoints" / "step-00000003"  # the last step: the final weights
    assert is_checkpoint(ckpt) and not is_checkpoint(tmp_path / "b" / "final")
    vae = load_checkpoint_model(ckpt)
    assert vae.decoder.blocks_per_level == 3  # the grown depth, read from the weights' names
    a, b = vae.state_dict(), final.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert isinstance(load_model(ckpt), CausalVAE)  # `vae eval --model` takes it too
    # weights of another network are refused, not half-loaded
    from chronotope.utils.checkpoint import load_checkpoint, save_checkpoint

    files, meta = load_checkpoint(ckpt)
    files["model"] = {"other.weight": torch.zeros(2)}
    bad = save_checkpoint(tmp_path / "c", 1, files, meta)
    with pytest.raises(CorruptFileError, match="no 'tiny' VAE of any depth"):
        load_checkpoint_model(bad)


def test_latent_noise_is_scaled_per_channel_by_the_latent_std_and_bounded(shapes):
    """The denoising pass feeds the decoder the posterior sample plus noise of one level per
    clip, in units of each channel's latent std; level 0 is the plain training pass."""
    from chronotope.autoencoder.train import _noisy_pass

    torch.manual_seed(0)
    vae = CausalVAE.from_preset("tiny")
    std = torch.tensor([0.1, 1.0, 10.0, 100.0])
    vae.set_latent_stats(torch.zeros(4), std)
    video = shapes(batch_size=3, frames=9, size=(32, 32)).batch(0)
    seen = []
    vae.decoder.register_forward_hook(lambda m, args, out: seen.append(args[0].detach()))
    torch.manual_seed(1)
    plain = vae(video)
    torch.manual_seed(1)
    zero = _noisy_pass(vae, video, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(plain, zero, strict=True))
    torch.manual_seed(2)
    _noisy_pass(vae, video, 0.0)  # the clean sample of the draw below (same posterior noise)
    torch.manual_seed(2)
    _noisy_pass(vae, video, 0.5)
    diff = (seen[-1] - seen[-2]) / std.view(1, -1, 1, 1, 1)  # in latent stds
    per = diff.flatten(2).std(dim=2)  # (clip, channel): the clip's level in every channel
    assert per.shape == (3, 4)
    assert (per.max(dim=1).values / per.min(dim=1).values < 1.5).all()  # the same in each
    assert (per < 0.5 * 1.3).all() and per.max() > 0.05  # drawn from [0, 0.5]
    assert per.mean(dim=1).std() > 0.01  # one level per clip, not one per batch


def test_resume_keeps_the_latent_noise(tmp_path, shapes):
    import pytest

    from chronotope.errors import UsageError

    train_vae(_cfg(tmp_path, steps=3, latent_noise=0.3), source=shapes())
    with pytest.raises(UsageError, match="latent_noise=0.3"):
        train_vae(_cfg(tmp_path, steps=6, resume=True), source=shapes())
    train_vae(_cfg(tmp_path, steps=6, resume=True, latent_noise=0.3), source=shapes())
    assert len((tmp_path / "train_log.jsonl").read_text().splitlines()) == 6  # 3 + 3 steps


def test_latent_noise_must_be_zero_or_more(tmp_path):
    import pytest

    from chronotope.errors import UsageError

    with pytest.raises(UsageError, match="latent-noise must be 0 or more"):
        _cfg(tmp_path, latent_noise=-0.1)
    with pytest.raises(UsageError, match="latent-noise"):
        _cfg(tmp_path, latent_noise=float("nan"))
