import torch

from chronotope.flow import flow_loss
from chronotope.tokens.segments import Segments


def test_packed_loss_equals_mean_of_samples_computed_alone():
    g = torch.Generator().manual_seed(0)
    lens = [5, 17, 2, 9]
    pred, target = torch.randn(33, 6, generator=g), torch.randn(33, 6, generator=g)
    w = (torch.rand(33, generator=g) > 0.3).float()
    w[:2] = 1  # every sample keeps a noisy token
    w[5], w[22], w[24] = 1, 1, 1
    loss, per = flow_loss(pred, target, w, Segments(tuple(lens)))
    alone, start = [], 0
    for n in lens:
        p, t, ww = pred[start : start + n], target[start : start + n], w[start : start + n]
        err = ((p - t) ** 2).mean(dim=1)
        alone.append((err * ww).sum() / ww.sum())
        start += n
    torch.testing.assert_close(per, torch.stack(alone))
    torch.testing.assert_close(loss, torch.stack(alone).mean())


def test_short_and_long_samples_count_equally_and_padding_is_skipped():
    pred = torch.zeros(12, 2)
    target = torch.cat([torch.ones(10, 2), 3 * torch.ones(1, 2), 100 * torch.ones(1, 2)])
    segs = Segments((10, 1, 1), padding=True)
    loss, per = flow_loss(pred, target, torch.ones(12), segs)
    torch.testing.assert_close(per, torch.tensor([1.0, 9.0]))
    torch.testing.assert_close(loss, torch.tensor(5.0))  # not (10*1 + 9)/11


def test_conditioning_tokens_do_not_contribute_and_grad_flows():
    pred = torch.zeros(4, 3, requires_grad=True)
    target = torch.tensor([[1.0] * 3, [1.0] * 3, [50.0] * 3, [1.0] * 3])
    w = torch.tensor([1.0, 1.0, 0.0, 1.0])
    loss, _ = flow_loss(pred, target, w, Segments((4,)))
    assert loss.item() == 1.0
    loss.backward()
    assert pred.grad[2].abs().sum() == 0 and pred.grad[0].abs().sum() > 0


def test_bf16_predictions_give_a_float32_loss():
    pred = torch.randn(6, 4).bfloat16()
    loss, per = flow_loss(pred, torch.zeros(6, 4), torch.ones(6), Segments((3, 3)))
    assert loss.dtype == torch.float32 and per.shape == (2,)
