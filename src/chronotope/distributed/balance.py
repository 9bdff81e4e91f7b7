"""Which rank trains which pack: balance both tokens (the linear layers, memory) and attention
cost (the sum of squared segment lengths), so no rank waits on another at the gradient sync.

Two packs of 4096 tokens cost the same in the MLPs, but one 4096-token clip costs 64x the
attention of 64 images of 64 tokens. Balancing tokens alone can leave one rank with all the long
clips; balancing attention alone can leave one with all the tokens. So each pack is a vector
(tokens, attention) normalized by the batch totals, and the greedy longest-processing-time rule
(largest pack first, onto the rank whose larger normalized load stays smallest) balances both.
"""

from __future__ import annotations

from collections.abc import Sequence

from chronotope.errors import UsageError


def pack_load(seqlens: Sequence[int]) -> tuple[int, int]:
    """(tokens, attention cost = sum of squared segment lengths) of one pack."""
    return sum(seqlens), sum(n * n for n in seqlens)


def balance_packs(
    packs: Sequence[Sequence[int]], world_size: int, *, same_count: bool = True
) -> list[list[int]]:
    """Assign packs (each given by its segment lengths) to ranks: a list of pack indices per rank.

    `same_count` gives every rank ceil or floor of len(packs)/world_size packs: needed when a
    rank runs one forward per pack under FSDP (every rank must join the same collectives).
    Deterministic: every rank computes the same answer from the same batch.
    """
    if world_size < 1:
        raise UsageError(f"world_size must be >= 1, got {world_size}")
    loads = [pack_load(p) for p in packs]
    total_tok = max(sum(t for t, _ in loads), 1)
    total_att = max(sum(a for _, a in loads), 1)
    norm = [(t / total_tok, a / total_att) for t, a in loads]
    if same_count:  # caps sum to len(packs): the first `extra` ranks take one pack more
        base, extra = divmod(len(packs), world_size)
        caps = [base + (r < extra) for r in range(world_size)]
    else:
        caps = [len(packs)] * world_size
    order = sorted(range(len(packs)), key=lambda i: (-max(norm[i]), -sum(norm[i]), i))
    tok, att = [0.0] * world_size, [0.0] * world_size
    out: list[list[int]] = [[] for _ in range(world_size)]
    for i in order:
        dt, da = norm[i]
        open_ranks = [r for r in range(world_size) if len(out[r]) < caps[r]]
        # ties go to the rank with fewer free slots: big packs there, small ones fill the rest
        r = min(
            open_ranks,
            key=lambda r: (
                max(tok[r] + dt, att[r] + da),
                caps[r] - len(out[r]),
                tok[r] + att[r],
                r,
            ),
        )
        out[r].append(i)
        tok[r] += dt
        att[r] += da
    _improve_by_swaps(out, norm)
    return [sorted(ranks) for ranks in out]


def _improve_by_swaps(out: list[list[int]], norm: list[tuple[float, float]]) -> None:
    """Greedy leaves slack with few packs per rank; swap pairs of packs between two ranks while
    that lowers the larger load of the two (counts stay equal). Ends: each swap strictly helps."""

    def load(ranks: list[int]) -> float:
        return max(sum(norm[i][0] for i in ranks), sum(norm[i][1] for i in ranks))

    improved = True
    while improved:
        improved = False
        for a in range(len(out)):
            for b in range(a + 1, len(out)):
                best = max(load(out[a]), load(out[b]))
                for x in range(len(out[a])):
                    for y in range(len(out[b])):
                        ra, rb = out[a].copy(), out[b].copy()
                        ra[x], rb[y] = rb[y], ra[x]
                        if max(load(ra), load(rb)) < best - 1e-12:
                            out[a], out[b], best, improved = ra, rb, max(load(ra), load(rb)), True
