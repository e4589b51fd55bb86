"""One route's share of a task's outputs as packets, in one numba call (`TaskSends._emit`): the nonzero elements,
their values, and per packet its flits, tag and the cycle it is made in.
`packetise_plain` is the plain-numpy twin the tests compare with."""

from __future__ import annotations

import numpy as np
from numba import njit

from coresim.util import cdiv


@njit(cache=True)
def packetise(full, ypos, grp, per, item, header, flit_bytes, tag0, start, cycles, neuron_cycles, n_groups,
              update_cycles):
    """(nz, vals, flits, tags, made): the positions in `ypos` whose element of `full` is nonzero and those values;
    per packet (`per` items each, the last the rest) its flits (`header` + its bytes in `flit_bytes` flits), tag
    (tag0 + its number) and cycle made (the cycle after the neuron-unit group that completes its last item; a task
    without cycles makes them as it starts)."""
    m = ypos.size
    nz = np.empty(m, np.int64)
    vals = np.empty(m, np.int64)
    cnt = 0
    for i in range(m):
        v = full[ypos[i]]
        if v != 0:
            nz[cnt], vals[cnt] = i, v
            cnt += 1
    npk = (cnt + per - 1) // per
    flits, tags, made = np.empty(npk, np.int64), np.empty(npk, np.int64), np.empty(npk, np.int64)
    for p in range(npk):
        a = p * per
        items = min(per, cnt - a)
        flits[p] = header + (items * item + flit_bytes - 1) // flit_bytes
        tags[p] = tag0 + p
        if cycles == 0:
            made[p] = start
            continue
        last = grp[nz[a]]
        for j in range(a + 1, a + items):
            last = max(last, grp[nz[j]])
        made[p] = max(start, start + cycles - min(neuron_cycles, (n_groups - 1 - last) * update_cycles))
    return nz[:cnt], vals[:cnt], flits, tags, made


def packetise_plain(full, ypos, grp, per, item, header, flit_bytes, tag0, start, cycles, neuron_cycles, n_groups,
                    update_cycles):
    """`packetise` in numpy (what `TaskSends._emit` did before the kernel)."""
    vals = full[ypos]
    nz = np.flatnonzero(vals)
    npk = -(-nz.size // per)
    flits = np.full(npk, header + cdiv(per * item, flit_bytes), np.int64)
    if npk:
        flits[-1] = header + cdiv((nz.size - per * (npk - 1)) * item, flit_bytes)
    tags = tag0 + np.arange(npk, dtype=np.int64)
    groups = grp[nz]
    if cycles == 0 or groups.size == 0:
        return nz, vals[nz], flits, tags, np.full(npk, start, np.int64)
    last = groups if per == 1 else np.maximum.reduceat(groups, np.arange(0, groups.size, per))
    before_end = np.minimum(neuron_cycles, (n_groups - 1 - last) * update_cycles)
    return nz, vals[nz], flits, tags, np.maximum(start, start + cycles - before_end)
