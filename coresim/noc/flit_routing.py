"""Dimension-order routing of the flit kernel (XY or YX per packet): the output ports a packet takes at a router,
for unicast one port, for a tree multicast every port towards a destination whose path crosses the router."""

from __future__ import annotations

import numpy as np
from numba import njit

from coresim.noc.flit_state import MC_BITS


def _port_table() -> np.ndarray:
    """Unicast dimension-order output port by [yx, sign(dx - rx) + 1, sign(dy - ry) + 1] (4: the local router),
    so that `route_mask` takes the port without data-dependent branches."""
    tab = np.zeros((2, 3, 3), np.int64)
    for yx in range(2):
        for sx in range(3):
            for sy in range(3):
                tab[yx, sx, sy] = 4 if sx == sy == 1 else _port_towards.py_func(1, 1, sx, sy, yx == 1)
    return tab


@njit(cache=True, inline="always")
def _port_towards(rx, ry, dx, dy, yx):
    """Dimension-order output port at router (rx, ry) towards router (dx, dy): 0 +x, 1 -x, 2 +y, 3 -y."""
    if yx:
        if dy != ry:
            return 2 if dy > ry else 3
        return 0 if dx > rx else 1
    if dx != rx:
        return 0 if dx > rx else 1
    return 2 if dy > ry else 3


@njit(cache=True, inline="always")
def _on_path(rx, ry, sx, sy, dx, dy, yx):
    """Is router (rx, ry) on the dimension-order path from (sx, sy) to (dx, dy)?"""
    if yx:
        if rx == sx and min(sy, dy) <= ry <= max(sy, dy):
            return True
        return ry == dy and min(sx, dx) <= rx <= max(sx, dx)
    if ry == sy and min(sx, dx) <= rx <= max(sx, dx):
        return True
    return rx == dx and min(sy, dy) <= ry <= max(sy, dy)


@njit(cache=True, inline="always")
def _mc_port(r, core, sr, W, C, yx):
    """Multicast: the port bit towards destination `core` at router r, or 0 if r is not on its path."""
    rx, ry, dr = r % W, r // W, core // C
    dx, dy = dr % W, dr // W
    if not _on_path(rx, ry, sr % W, sr // W, dx, dy, yx):
        return np.int64(0)
    if dr == r:
        return np.int64(1) << (4 + core % C)
    return np.int64(1) << _port_towards(rx, ry, dx, dy, yx)


@njit(cache=True, _nrt=False)
def _mc_route_mask(r, sr, words, W, C, yx):
    """Multicast from router sr to the cores set in `words`: the bit mask of its output ports at router r."""
    mask = np.int64(0)
    for w in range(words.shape[0]):
        word = words[w]
        b = 0
        while word != 0:
            if word & 1:
                mask |= _mc_port(r, w * MC_BITS + b, sr, W, C, yx)
            word >>= 1
            b += 1
    return mask


PORT_TAB = _port_table()


@njit(cache=True, inline="always")
def route_mask(r, pid, W, C, pk, rx, ry):
    """Bit mask of output ports packet `pid` takes at router r (bit 4 + i: eject to local core i); rx, ry: the
    routers' coordinates."""
    yx = pk.route[pid] == 1
    d = pk.dst[pid]
    if d < 0:
        return _mc_route_mask(r, pk.src[pid] // C, pk.mc_mask[pk.mc[pid]], W, C, yx)
    dr = d if C == 1 else d // C
    x0, y0, x1, y1 = rx[r], ry[r], rx[dr], ry[dr]
    port = PORT_TAB[pk.route[pid], (x1 > x0) - (x1 < x0) + 1, (y1 > y0) - (y1 < y0) + 1]
    if C != 1 and port == 4:
        port += d - dr * C
    return np.int64(1) << port
