import json

import torch

from chronotope.autoencoder import CausalVAE
from chronotope.autoencoder.train import TrainConfig, train_vae


def _cfg(out, **kw) -> TrainConfig:
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
    return TrainConfig(**{**base, **kw})


def _recon_l1(vae: CausalVAE, video: torch.Tensor) -> float:
    with torch.no_grad():
        return (vae.eval().decode(vae.encode(video)[0]) - video).abs().mean().item()


def test_training_reduces_loss(tmp_path, shapes):
    held = shapes(seed=99, batch_size=4).batch(0)  # clips never trained on
    torch.manual_seed(0)
    before = _recon_l1(CausalVAE.from_preset("tiny"), held)  # train_vae's init (same seed)
    final = train_vae(
        _cfg(tmp_path, steps=30, save_every=100, sample_every=30), source=shapes(batch_size=4)
    )
    vae = CausalVAE.from_pretrained(final)
    assert _recon_l1(vae, held) < 0.85 * before  # measured: 0.50 -> 0.40 in 30 steps
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 30 and all(r["loss"] > 0 for r in log)
    assert (tmp_path / "samples" / "step-00000030.png").is_file()
    assert len(vae.config.latents_std) == 4 and min(vae.config.latents_std) > 0


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
