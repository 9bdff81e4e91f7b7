"""Ulysses sequence parallelism on 2 gloo ranks equals one process (forward, input and
parameter gradients) within 1e-5 in fp32."""

from __future__ import annotations

import torch
import torch.distributed as dist
from dist_fixtures import make_pack, model_args, tiny_dit

from chronotope.distributed.launch import spawn
from chronotope.distributed.parallelize import parallelize
from chronotope.distributed.sequence import all_reduce_gradients, shard_pack
from chronotope.flow import flow_loss

TOL = 1e-5


def _oracle():
    model, pack = tiny_dit(), make_pack()
    x = pack["x"].clone().requires_grad_(True)
    out = model(x, *model_args(pack)[1:])
    loss, _ = flow_loss(out, pack["target"], pack["weight"], pack["segments"])
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return out.detach(), x.grad, grads


def _rank(rank: int, world: int, path: str) -> None:
    model, pack = parallelize(tiny_dit(), mode="none", sequence_parallel=True), make_pack()
    shard = shard_pack(*model_args(pack))
    x = shard.x.clone().requires_grad_(True)
    out_local = model(x, *shard.model_args()[1:])
    out = shard.gather(out_local)  # (L, in_dim) on every rank
    loss, _ = flow_loss(out, pack["target"], pack["weight"], pack["segments"])
    loss.backward()
    all_reduce_gradients(model)
    xgrad = [torch.empty_like(x.grad) for _ in range(world)]
    dist.all_gather(xgrad, x.grad)
    if rank == 0:
        grads = {n: p.grad for n, p in model.named_parameters()}
        torch.save({"out": out.detach(), "xgrad": torch.cat(xgrad), "grads": grads}, path)


def test_ulysses_matches_single_process(tmp_path):
    path = str(tmp_path / "rank0.pt")
    spawn(_rank, 2, path)
    got = torch.load(path)
    out, xgrad, grads = _oracle()
    n = out.shape[0]
    assert n % 2 == 1  # the pack was padded
    torch.testing.assert_close(got["out"], out, rtol=0, atol=TOL)
    torch.testing.assert_close(got["xgrad"][:n], xgrad, rtol=0, atol=TOL)
    assert got["xgrad"][n:].abs().max() == 0  # padding carries no gradient
    assert grads.keys() == got["grads"].keys()
    for name, g in grads.items():
        assert g.abs().max() > 0, name  # every parameter is actually exercised
        torch.testing.assert_close(got["grads"][name], g, rtol=0, atol=TOL, msg=name)


def test_sequence_parallel_attention_is_set_on_the_model_instance_only():
    from chronotope.distributed.sequence import sequence_parallel_attention
    from chronotope.model.attention import attention

    model, other = tiny_dit(), tiny_dit()
    assert parallelize(model, mode="none", sequence_parallel=True) is model
    assert model.attention is sequence_parallel_attention
    assert other.attention is attention  # nothing global changed
    pack = make_pack()  # plain segments: the parallel attention is the ordinary one
    torch.testing.assert_close(model(*model_args(pack)), other(*model_args(pack)), rtol=0, atol=0)
