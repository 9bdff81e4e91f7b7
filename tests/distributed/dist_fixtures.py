"""A tiny DiT and a pack mixing an image, a short clip and a long clip, shared by the
distributed tests (each spawned rank rebuilds them from the same seed)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from chronotope.model import DiT
from chronotope.tokens.segments import Segments
from chronotope.utils.checkpoint import MARKER
from chronotope.utils.weights import check_safetensors

IN_CHANNELS, TEXT_DIM = 4, 16
# (t, h, w) token grids: an image, a short clip, a long clip; 3 + 12 + 72 = 87 tokens (odd:
# sequence parallelism on 2 ranks must pad)
GRIDS = ((1, 1, 3), (3, 2, 2), (8, 3, 3))
TEXT_LENS = (3, 5, 2)


def tiny_dit(seed: int = 0, depth: int = 2) -> DiT:
    torch.manual_seed(seed)
    model = DiT(in_channels=IN_CHANNELS, width=48, depth=depth, heads=4, text_dim=TEXT_DIM)
    with torch.no_grad():  # move the adaLN-zero / zero-init layers off zero: real gradients
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def grid_positions(grid: tuple[int, int, int]) -> torch.Tensor:
    t, h, w = (torch.arange(n) for n in grid)
    return torch.stack(torch.meshgrid(t, h, w, indexing="ij"), -1).reshape(-1, 3)  # (n, 3)


def make_pack(seed: int = 1, grids=GRIDS, text_lens=TEXT_LENS) -> dict:
    """Model inputs plus a target and weight for `flow_loss`, as a dict of one pack."""
    g = torch.Generator().manual_seed(seed)
    lens = [a * b * c for a, b, c in grids]
    n = sum(lens)
    in_dim = IN_CHANNELS * 4
    sigma = torch.cat([torch.rand(1, generator=g).expand(k) for k in lens])  # one per sample
    return dict(
        x=torch.randn(n, in_dim, generator=g),
        sigma=sigma.contiguous(),
        positions=torch.cat([grid_positions(gr) for gr in grids]),
        segments=Segments(tuple(lens)),
        text=torch.randn(sum(text_lens), TEXT_DIM, generator=g),
        text_segments=Segments(tuple(text_lens)),
        target=torch.randn(n, in_dim, generator=g),
        weight=(torch.rand(n, generator=g) > 0.2).float(),
    )


def model_args(pack: dict) -> tuple:
    keys = ("x", "sigma", "positions", "segments", "text", "text_segments")
    return tuple(pack[k] for k in keys)


# ---- the Trainer on tiny data (no VAE, no text model: fast to start in every spawned rank) ----


class FakeTextEncoder:
    """Deterministic per-text states of the DiT's text width: what the trainer needs of one."""

    name = "fake"

    def encode(self, texts: list[str]) -> list[torch.Tensor]:
        import zlib

        out = []
        for t in texts:
            g = torch.Generator().manual_seed(zlib.crc32(t.encode()))
            out.append(torch.randn(1 + len(t) % 3, 384, generator=g))
        return out


def random_clips(position: int):
    """A resumable stand-in stream: clip i (1-4 frames of 8x8 pixels) depends only on i."""
    from types import SimpleNamespace

    i = position
    while True:
        g = torch.Generator().manual_seed(i)
        frames = 1 + int(torch.randint(0, 4, (), generator=g))
        video = torch.rand(3, frames, 8, 8, generator=g) * 2 - 1
        yield SimpleNamespace(video=video, text=f"clip number {i % 5}", meta={"index": i})
        i += 1


def train_config(out, **changes):
    """The "test" preset shrunk further: 2 blocks of width 64 with 2 heads (sequence
    parallelism on 2 ranks splits heads), 128-token packs, a checkpoint every 2 steps."""
    from chronotope.training import get_preset

    base = dict(out=str(out), steps=4, checkpoint_every=2, log_every=1, heads=2, token_budget=128)
    return get_preset("test").override(**{**base, **changes})


def make_trainer(out, **changes):
    """The one `Trainer` on this process's group (or one process), `changes` to its config."""
    from chronotope.training import Trainer

    return Trainer(
        train_config(out, **changes), stream_factory=random_clips, text_encoder=FakeTextEncoder()
    )


def trainer_state(trainer) -> dict[str, torch.Tensor]:
    """Full model and EMA weights (an all-gather under FSDP2: every rank calls it)."""
    from chronotope.training.ema import full_tensor

    state = {
        f"model.{k}": full_tensor(v).detach().clone() for k, v in trainer.inner.state_dict().items()
    }
    for k, v in trainer.ema.state_dict().items():
        state[f"ema.{k}"] = full_tensor(v).detach().clone()
    return state


def assert_no_pickle(folder: Path) -> None:
    """Every file of a checkpoint is safetensors (its header parses), JSON or the marker;
    none starts as a pickle (0x80) or a torch.save zip ("PK") unless a safetensors header
    length happens to begin with 0x80."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for path in files:
        head = path.read_bytes()[:2]
        if path.suffix == ".safetensors":
            check_safetensors(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        else:
            assert path.name == MARKER and path.read_text() == "ok\n", path
        assert head != b"PK" and (head[:1] != b"\x80" or path.suffix == ".safetensors"), path
