"""Finite core-side buffers of the flit NoC: the receive buffer behind each ejection port, the send queue in
front of each injection port, and the SRAM port window the receive buffer drains through (inlined into
`flit_kernel.noc_run`).

Receive buffer (cfg.RB flits; RB < 0: none, the terminal takes every flit at once as BookSim's does). Flits
arriving at a core queue in one FIFO. The first RB of them are in the buffer: their credit goes back to the
router at once; the others still occupy the router's ejection VC (no credit) until the buffer has room, so a
full buffer stalls ejection and, credit by credit, the routers upstream. The core writes one flit a cycle
from the head of the FIFO into SRAM, in cycles its SRAM ports are free of the running task's own accesses; a
packet is delivered when its tail is written.

Send queue (cfg.SB flits; SB < 0: unbounded). A packet of the source queue is planned at its creation cycle
(`Packets.ctime`, the neuron unit's output); it is made, in queue order, once the queue holds room for all its
flits. A packet made late delays the neuron unit: every later packet of the core is made that much later too
(`shift`), and the task's end with them (the engine reads `shift`).

Deadlock. A receive FIFO always drains (the port window of a task ends), so ejection is never blocked for good
and the routers' deadlock freedom (see `flit_kernel`) stands; a send queue always drains into its router. The
one deadlock finite buffers add is a packet longer than the send queue, which could never be made:
`Noc.inject` reports it (`BufferDeadlock`) naming the core and the buffer.

SRAM port window (per core, set by the engine when a task starts): cycles [a, a + len) of which `use` are taken
by the task's operand, neuron-state and output accesses, spread evenly (cycle a + i is taken when
floor((i + 1) use / len) > floor(i use / len)).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from coresim.noc.flit_router import post_credit
from coresim.noc.flit_state import FL_EJ, FSH, LAST_MOVE, NET_FLITS, RX_FLITS, RX_GROW


class CoreBuffers(NamedTuple):
    """Per core: the receive FIFO, the send queue, the SRAM port window."""

    rx_buf: np.ndarray      # [core, cap] flit codes in arrival order (a ring)
    rx_vc: np.ndarray       # [core, cap] the ejection VC each came on
    rx_hd: np.ndarray       # ring head
    rx_n: np.ndarray        # flits in the FIFO (in the buffer: the first RB)
    sq: np.ndarray          # flits made and not yet injected
    mk: np.ndarray          # first packet of the source queue not yet made, or -1
    shift: np.ndarray       # cycles the packets being made run late (send-queue stalls)
    made: np.ndarray        # packets made so far
    swatch: np.ndarray      # stop the kernel when `made` reaches this (0: never)
    pw_a: np.ndarray        # SRAM port window start
    pw_len: np.ndarray      # ... its length
    pw_use: np.ndarray      # ... its cycles taken by the task


def new_buffers(n_cores: int, cap: int) -> CoreBuffers:
    def full(shape, v):
        return np.full(shape, v, np.int64)
    return CoreBuffers(rx_buf=full((n_cores, cap), -1), rx_vc=full((n_cores, cap), -1), rx_hd=full(n_cores, 0),
                       rx_n=full(n_cores, 0), sq=full(n_cores, 0), mk=full(n_cores, -1), shift=full(n_cores, 0),
                       made=full(n_cores, 0), swatch=full(n_cores, 0), pw_a=full(n_cores, 0),
                       pw_len=full(n_cores, 0), pw_use=full(n_cores, 0))


def grow_rx(buf: CoreBuffers) -> CoreBuffers:
    """`buf` with receive FIFO rings twice as long (each ring's head moved to slot 0)."""
    n_cores, cap = buf.rx_buf.shape
    rx_buf, rx_vc = np.full((n_cores, 2 * cap), -1, np.int64), np.full((n_cores, 2 * cap), -1, np.int64)
    for core in range(n_cores):
        idx = (buf.rx_hd[core] + np.arange(buf.rx_n[core])) % cap
        rx_buf[core, :idx.size], rx_vc[core, :idx.size] = buf.rx_buf[core, idx], buf.rx_vc[core, idx]
    buf.rx_hd[:] = 0
    return buf._replace(rx_buf=rx_buf, rx_vc=rx_vc)


@njit(cache=True, inline="always")
def port_free(core, t, buf):
    """Is a port of the core's SRAM free of its task's own accesses in cycle t?"""
    i = t - buf.pw_a[core]
    n = buf.pw_len[core]
    if i < 0 or i >= n:
        return True
    u = buf.pw_use[core]
    return (i + 1) * u // n == i * u // n


@njit(cache=True, inline="always")
def _credit(core, vc, t, cfg, wires):
    gp = (core // cfg.C) * cfg.P + 4 + core % cfg.C
    post_credit(gp, (t + 2 + cfg.CRD) % cfg.DC, vc, wires)


@njit(cache=True, inline="always")
def rx_arrive(core, t, es, cfg, sc, wires, pk, buf):
    """The flit arriving at the core in cycle t joins its receive FIFO (credit back if it is in the buffer)."""
    f = wires.ej_flit[core, es]
    if f < 0:
        return
    wires.ej_flit[core, es] = -1
    vc = wires.ej_vc[core, es]
    sc[FL_EJ] += 1
    sc[NET_FLITS] -= 1
    sc[RX_FLITS] += 1
    sc[LAST_MOVE] = t
    cap = buf.rx_buf.shape[1]
    n = buf.rx_n[core]
    at = (buf.rx_hd[core] + n) % cap
    buf.rx_buf[core, at] = f
    buf.rx_vc[core, at] = vc
    buf.rx_n[core] = n + 1
    if n + 1 == cap:
        sc[RX_GROW] = 1             # the ring is full: the kernel stops after this cycle and `grow_rx` doubles it
    if n < cfg.RB:
        _credit(core, vc, t, cfg, wires)
    pk.ejf[f >> FSH] += 1


@njit(cache=True, inline="always")
def rx_drain(core, t, cfg, sc, wires, buf):
    """The core writes the FIFO's head flit into SRAM if a port is free; returns its code (-1: none written).
    A flit waiting outside the buffer gets its credit as it moves in (or as it is written, with no buffer)."""
    n = buf.rx_n[core]
    if n == 0:
        return -1
    sc[LAST_MOVE] = t               # a backlog waiting for a port is waiting on its task, not deadlocked
    if not port_free(core, t, buf):
        return -1
    cap = buf.rx_buf.shape[1]
    hd = buf.rx_hd[core]
    f = buf.rx_buf[core, hd]
    if cfg.RB == 0:
        _credit(core, buf.rx_vc[core, hd], t, cfg, wires)
    elif n > cfg.RB:
        _credit(core, buf.rx_vc[core, (hd + cfg.RB) % cap], t, cfg, wires)
    buf.rx_hd[core] = (hd + 1) % cap
    buf.rx_n[core] = n - 1
    sc[RX_FLITS] -= 1
    return f


@njit(cache=True, inline="always")
def make_packets(core, t, cfg, pk, buf):
    """Make the core's planned packets whose time has come while the send queue has room; True if the count of
    made packets reached the watched one."""
    pid = buf.mk[core]
    hit = False
    while pid >= 0 and pk.ctime[pid] + buf.shift[core] <= t and buf.sq[core] + pk.flits[pid] <= cfg.SB:
        buf.shift[core] = t - pk.ctime[pid]
        pk.ctime[pid] = t
        pk.made[pid] = 1
        buf.sq[core] += pk.flits[pid]
        buf.made[core] += 1
        if buf.made[core] == buf.swatch[core]:
            hit = True
        pid = pk.next[pid]
    buf.mk[core] = pid
    return hit


@njit(cache=True, inline="always")
def next_make(t, cfg, term, pk, buf):
    """The earliest cycle >= t a packet may be made or sent (an idle network jumps there)."""
    nxt = -1
    for core in range(cfg.NC):
        pid = term.q_head[core]
        if pid < 0:
            continue
        c = pk.ctime[pid]
        if cfg.SB >= 0 and pk.made[pid] == 0:
            c += buf.shift[core]
        if nxt < 0 or c < nxt:
            nxt = c
    return nxt


@njit(cache=True)
def makes_now(core, t, sb, mk, sq, shift, flits, ctime, nxt):
    """Does the core's send queue take all its packets not yet made in cycle t (not yet run)? Each must be due
    then (not late already) and have room (`sb` flits), in queue order (`Noc.makes_now`, the timing loop)."""
    pid, q = mk[core], sq[core]
    while pid >= 0:
        q += flits[pid]
        if ctime[pid] + shift[core] != t or q > sb:
            return False
        pid = nxt[pid]
    return True
