from types import SimpleNamespace

import torch

from chronotope.flow import TaskMix, flow_loss
from chronotope.training import Trainer, get_preset, make_batch
from chronotope.utils.precision import autocast

# one clip: 3 frames of 8x8 pixels of one colour (pixel space, no VAE)
CLIP = torch.tensor([0.7, -0.5, 0.2])[:, None, None, None].expand(3, 3, 8, 8).contiguous()


def one_clip(position):
    while True:
        yield SimpleNamespace(video=CLIP, text="an orange screen", meta={})


def _loss(trainer, batch) -> float:
    p = batch.packed
    with torch.no_grad(), autocast():
        pred = trainer.model(p.tokens, p.sigma, p.positions, p.segments, p.text, p.text_segments)
    return flow_loss(pred, batch.target, batch.weight, p.segments)[0].item()


def test_a_tiny_model_overfits_one_clip(tmp_path, text_encoder):
    text_only = TaskMix(none=1, first=0, last=0, first_last=0, prefix=0, suffix=0, random=0, ends=0)
    cfg = get_preset("test").override(
        out=str(tmp_path),
        depth=1,
        token_budget=96,
        buffer_size=2,
        lr=3e-3,
        steps=100,
        caption_dropout=0.0,
        tasks=text_only,
        min_lr_ratio=0.1,
    )
    trainer = Trainer(cfg, stream_factory=one_clip, text_encoder=text_encoder)
    # a fixed evaluation batch: 8 copies of the clip at 8 noise levels, the same before/after
    items = [trainer.packer._read() for _ in range(8)]
    held = make_batch(
        items, cfg=cfg, encode_text=text_encoder.encode, generator=torch.Generator().manual_seed(99)
    )
    before = _loss(trainer, held)
    for _ in range(cfg.steps):
        trainer.train_step(trainer.next_batch())
    after = _loss(trainer, held)
    assert after < before / 10, (before, after)
