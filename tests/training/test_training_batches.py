import torch

from chronotope.flow import flow_loss
from chronotope.tokens import patchify
from chronotope.training import LatentCodec, Packer, build_model, get_preset, make_batch


def _packer(stream, budget=64, buffer=6):
    return Packer(stream, LatentCodec(), token_budget=budget, buffer_size=buffer, patch=(1, 2, 2))


def test_packs_fit_the_budget_and_every_clip_is_used_once(clips):
    packer = _packer(clips)
    seen, fills = [], []
    for _ in range(30):
        items = packer.next()
        fills.append(sum(it.num_tokens for it in items))
        seen += [it.latent for it in items]
    assert max(fills) <= 64 and sum(fills) / len(fills) > 0.9 * 64
    # every clip read from the stream was emitted once or is still waiting, none twice
    stream = clips(0)
    expected = [next(stream).video for _ in range(packer.position)]
    got = seen + [it.latent for it in packer.buffer]
    assert len(got) == len(expected)
    key = lambda t: tuple(t.flatten()[:4].tolist())  # noqa: E731  random pixels: unique
    assert sorted(map(key, got)) == sorted(map(key, expected))


def test_packer_state_round_trip_continues_identically(clips):
    a = _packer(clips)
    for _ in range(5):
        a.next()
    tensors, meta = a.state_dict()
    b = _packer(clips)
    b.load_state_dict(tensors, meta)
    for _ in range(10):
        xa, xb = a.next(), b.next()
        assert [it.text for it in xa] == [it.text for it in xb]
        assert all(torch.equal(p.latent, q.latent) for p, q in zip(xa, xb))


def test_make_batch_keeps_conditioning_tokens_clean(clips, text_encoder):
    cfg = get_preset("test")
    items = _packer(clips, budget=256, buffer=16).next()
    g = torch.Generator().manual_seed(0)
    batch = make_batch(items, cfg=cfg, encode_text=text_encoder.encode, generator=g)
    clean = torch.cat([patchify(it.latent, (1, 2, 2))[0] for it in items])
    cond = batch.weight == 0
    assert torch.equal(batch.packed.sigma[cond], torch.zeros(int(cond.sum())))
    assert torch.equal(batch.packed.tokens[cond], clean[cond])
    assert (batch.packed.sigma[~cond] > 0).all()
    # x_sigma - sigma * v recovers the data on every token
    recovered = batch.packed.tokens - batch.packed.sigma[:, None] * batch.target
    torch.testing.assert_close(recovered, clean, atol=1e-5, rtol=0)
    # one noise level per sample (all its noisy tokens share it)
    for s, w in zip(batch.packed.unpack(batch.packed.sigma), batch.packed.unpack(batch.weight)):
        assert s[w > 0].unique().numel() <= 1


def test_batch_loss_is_the_mean_of_each_sample_run_alone(clips, text_encoder):
    cfg = get_preset("test")
    torch.manual_seed(0)
    model = build_model(cfg, LatentCodec()).eval()
    for p in model.parameters():  # leave adaLN-zero init so the output depends on the input
        p.data.add_(0.05 * torch.randn_like(p))
    items = _packer(clips, budget=256, buffer=16).next()
    assert len(items) >= 3
    batch = make_batch(items, cfg=cfg, encode_text=text_encoder.encode, generator=torch.Generator())
    p = batch.packed
    with torch.no_grad():
        pred = model(p.tokens, p.sigma, p.positions, p.segments, p.text, p.text_segments)
        loss, per = flow_loss(pred, batch.target, batch.weight, p.segments)
        alone = []
        texts = p.text_segments.split(p.text)
        parts = zip(
            *(p.unpack(t) for t in (p.tokens, p.sigma, p.positions, batch.target, batch.weight))
        )
        for (x, s, pos, tgt, w), txt in zip(parts, texts):
            seg = type(p.segments)((x.shape[0],))
            v = model(x, s, pos, seg, txt, type(p.segments)((txt.shape[0],)))
            alone.append(flow_loss(v, tgt, w, seg)[0])
    torch.testing.assert_close(per, torch.stack(alone), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(loss, torch.stack(alone).mean(), rtol=1e-4, atol=1e-6)
