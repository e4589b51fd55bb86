"""Entry points of the numba kernel of `coresim.kernels.event_chip`: the message tables, the oversize check and
one window (`window`), which runs the clock of `event_chip_stages` on the tables of `event_chip_state`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from coresim.kernels.event_chip_stages import run
from coresim.kernels.event_chip_state import (
    C_CUR,
    C_CWAKE,
    C_GNEXT,
    C_HEND,
    C_HENT,
    C_HTAKE,
    C_HWAKE,
    C_M2,
    C_M4,
    C_MH,
    C_NH,
    C_NT,
    C_OP,
    C_OPEND,
    C_PORT,
    C_RXCAP,
    C_SH,
    C_ST,
    GA_CNT,
    GA_WAIT,
    H_DXYL,
    H_F,
    H_NEXT,
    H_RDY,
    I_BASE,
    I_CAP,
    I_ELIG,
    I_FREE,
    I_OCC,
    I_RPOS,
    I_UP,
    I_WANT,
    I_X,
    I_Y,
    K_C,
    K_H,
    K_NEXT_CAP,
    K_W,
    L_ELIG,
    N_CS,
    N_H,
    N_PT,
    N_X,
    N_Z,
    NC_MAX,
    NEAR,
    O_BUSY,
    O_DOWN,
    O_FLITS,
    O_REQ,
    S_SOMA_END,
    X_DONE,
    X_DST,
    X_EJECT,
    X_GATE,
    X_GEN,
    X_SENT,
    X_SRC,
    X_WORK,
    Z_CAP,
    Z_FMAX,
    Z_FREE,
    Z_NEXT_CAP,
    Z_WMASK,
    dxyl,
    out_port,
    wiring,
)
from coresim.util import sources_digest

# the files these kernels are compiled from: each closes over their hash (`coresim.util.sources_digest`) and over
# nothing else (numba's cache key holds a closure's values; a function's differ from process to process), so the
# functions that `tables` and `window` call are module globals, made by a factory of their own
KERNEL_SOURCES = ("event_chip_jit.py", "event_chip_stages.py", "event_chip_state.py")
DIGEST = sources_digest(__file__, KERNEL_SOURCES)


def _helpers(digest: int):
    """`_rows`, `_host_queues`, `calendar_size`, `_networks`."""

    @njit(cache=True, nogil=True, inline="always")
    def _rows(MH, MS, m0, cyc, dst, flits, work, gate, W, C, lo):
        """Rows m0.. of the message tables from one set of columns; `lo` (min dst, max dst, min flits, min cycles,
        max flits, max work, max gate, min gate) updated; returns the largest of `cyc`."""
        hi_c = 0
        d0, d1, f0, c0, f1, w1, g1, g0 = lo[0], lo[1], lo[2], lo[3], lo[4], lo[5], lo[6], lo[7]   # in registers: the
        for x in range(dst.size):                                   # tables' stores could alias `lo`, forcing reloads
            m, d, F, w, c, g = m0 + x, dst[x], flits[x], work[x], cyc[x], gate[x]
            MS[m, X_SRC], MS[m, X_DST], MS[m, X_WORK], MS[m, X_GEN], MS[m, X_GATE] = -1, d, w, c, g
            MS[m, X_SENT], MS[m, X_EJECT], MS[m, X_DONE] = -1, -1, -1     # the results and links, as `window` expects
            MH[m, H_NEXT], MH[m, H_RDY], MH[m, H_F] = -1, -1, F
            r = d // C                              # router, then its y: two divisions (d % C = d - r * C)
            y = r // W
            MH[m, H_DXYL] = dxyl(r - y * W, y, d - r * C)
            d0, d1, f0, f1 = min(d0, d), max(d1, d), min(f0, F), max(f1, F)
            c0, w1, hi_c = min(c0, c, w), max(w1, w), max(hi_c, c)
            g1, g0 = max(g1, g), min(g0, g)
        lo[0], lo[1], lo[2], lo[3], lo[4], lo[5], lo[6], lo[7] = d0, d1, f0, c0, f1, w1, g1, g0
        return hi_c

    @njit(cache=True, nogil=True)
    def _host_queues(CS, MS, hs):
        """Host message rows by core, each core's in arrival order; CS's host-port columns set."""
        _ = digest                      # in numba's cache key (`coresim.util.sources_digest`)
        HQ = np.empty(hs.size, np.int64)
        for x in range(hs.size):
            CS[MS[hs[x], X_DST], C_HEND] += 1
        base = 0
        for c in range(CS.shape[0]):
            CS[c, C_HTAKE] = base
            CS[c, C_HENT] = base
            base += CS[c, C_HEND]
            CS[c, C_HEND] = base
        fill = CS[:, C_HTAKE].copy()
        for x in range(hs.size):
            c = MS[hs[x], X_DST]
            HQ[fill[c]] = hs[x]
            fill[c] += 1
        return HQ

    @njit(cache=True, nogil=True)
    def _networks(wired, M, RP):
        """`wiring`'s (down, up) repeated for M independent networks: a FIFO feeds and is fed within its own network;
        a local output ejects into the same core whichever network it belongs to."""
        _ = digest                      # in numba's cache key (`coresim.util.sources_digest`)
        down = np.empty(M * RP, np.int64)
        up = np.empty(M * RP, np.int64)
        for k in range(M):
            for x in range(RP):
                d, u = wired[0][x], wired[1][x]
                down[k * RP + x] = d + k * RP if d >= 0 else d
                up[k * RP + x] = u + k * RP if u >= 0 else u
        return down, up

    @njit(cache=True, nogil=True)
    def calendar_size(n, NC, ports, horizon):
        """(event nodes, wheel buckets): at most that many events are pending at once (see `push`'s callers); the
        wheel is longer than the longest delay."""
        _ = digest                      # in numba's cache key (`coresim.util.sources_digest`)
        size = 1
        while size <= horizon:
            size *= 2
        return n + 4 * NC + 4 * ports + 64, size

    return _rows, _host_queues, calendar_size, _networks


_rows, _host_queues, calendar_size, _networks = _helpers(DIGEST)


def _entries(digest: int):
    """The entry points."""

    @njit(cache=True, nogil=True)
    def tables(op_ptr, msg_ptr, gen, dst, flits, work, gate, h_cyc, h_dst, h_flits, h_work, h_gate, W, C, mem):
        """The message tables `MH`, `MS` from the program's message columns (gen, dst, flits, work, gate) and the host
        ones (cycle, dst, flits, work, gate), in `mem` (scratch of at least (N_H + N_X) * messages values), and (min
        destination, max destination, min flits, min cycles, max flits, max work, max gen of a program message,
        max gate, min gate)."""
        _ = digest                      # in numba's cache key (`coresim.util.sources_digest`)
        n, nh = dst.size, h_dst.size
        MH = mem[:(n + nh) * N_H].reshape((n + nh, N_H))
        MS = mem[(n + nh) * N_H:(n + nh) * (N_H + N_X)].reshape((n + nh, N_X))
        lo = np.array([NC_MAX, -1, NC_MAX, 0, 1, 0, -1, -1])
        hi_g = _rows(MH, MS, 0, gen, dst, flits, work, gate, W, C, lo)
        _rows(MH, MS, n, h_cyc, h_dst, h_flits, h_work, h_gate, W, C, lo)
        for c in range(op_ptr.size - 1):
            for k in range(op_ptr[c], op_ptr[c + 1]):
                for j in range(msg_ptr[k], msg_ptr[k + 1]):
                    MS[j, X_SRC] = c
        return MH, MS, np.array([lo[0], lo[1], lo[2], lo[3], lo[4], lo[5], hi_g, lo[6], lo[7]])

    @njit(cache=True, nogil=True)
    def results(MS, n):
        """The per-message result columns in one pass over `MS`: (sent, eject, done) of the n program messages,
        (eject, done) of the host ones."""
        _ = digest                      # in numba's cache key (`coresim.util.sources_digest`)
        nh = MS.shape[0] - n
        sent, eject, done = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
        h_eject, h_done = np.empty(nh, np.int64), np.empty(nh, np.int64)
        for m in range(n):
            sent[m], eject[m], done[m] = MS[m, X_SENT], MS[m, X_EJECT], MS[m, X_DONE]
        for m in range(nh):
            h_eject[m], h_done[m] = MS[n + m, X_EJECT], MS[n + m, X_DONE]
        return sent, eject, done, h_eject, h_done

    @njit(cache=True, nogil=True)
    def oversize(MH, MS, n_prog, in_cap, rx_cap, down, W, C, yx):
        """First message (program ones by index, then host ones) larger than a buffer it must enter, and that
        buffer: (message, kind 0 send buffer / 1 router input FIFO / 2 receive buffer, core or FIFO); (-1, 0, 0)."""
        _ = digest                      # in numba's cache key (`coresim.util.sources_digest`)
        P = 4 + C
        for m in range(MS.shape[0]):
            F, dst, src = MH[m, H_F], MS[m, X_DST], MS[m, X_SRC]
            if m < n_prog and src != dst:
                r = src // C
                if F > in_cap[r * P + 4 + src % C]:
                    return m, 0, src
                port = out_port(r % W, r // W, MH[m, H_DXYL], yx)
                while port < 4:
                    nxt = down[r * P + port]
                    if F > in_cap[nxt]:
                        return m, 1, nxt
                    r = nxt // P
                    port = out_port(r % W, r // W, MH[m, H_DXYL], yx)
            if F > rx_cap[dst]:
                return m, 2, dst
        return -1, 0, 0

    @njit(cache=True, nogil=True)
    def window(MH, MS, OPS, GT, op_ptr, hs, in_cap, rx_cap, K, horizon, kr, mem):
        """Time one window (module docstring of `event_chip`). `MH`, `MS`: messages, program ones then host ones (as
        `tables` leaves them: H_DXYL, H_F and X_SRC .. X_GATE filled, X_GEN a host message's arrival, H_NEXT,
        H_RDY and the result columns -1), `OPS`, `GT` (GA_NEED filled): ops and gates, `op_ptr`: ops per core
        (CSR), `hs`: host message rows by arrival, `in_cap`: per input FIFO, `rx_cap`: per core (`in_cap`
        holds every network's FIFOs, network by network: its size gives their number), `K`: configuration
        (K_*; K_NEXT_CAP: room on a near-cycle event list, 0 the most), `horizon`: longest delay an event is
        scheduled ahead, `kr`: ring length, at least max flits * flit cycles + credit delay + 1, `mem`:
        scratch for the event calendar, at least 2 * (nodes + buckets) values (`calendar_size(...)`). Fills
        MS's result columns and returns (status, cycle, CS (statistics in S_* columns), PT (link flits in
        O_FLITS))."""
        _ = digest                      # in numba's cache key (`coresim.util.sources_digest`)
        W, H, C = K[K_W], K[K_H], K[K_C]
        R, P = W * H, 4 + C
        NC, n = R * C, MS.shape[0]
        M = in_cap.size // (R * P)              # physical networks: network k's FIFOs are rows k * R * P + ...
        down, up = _networks(wiring(W, H, C), M, R * P)
        CS = np.zeros((NC, N_CS), np.int64)
        for col in (C_CUR, C_NH, C_NT, C_SH, C_ST, C_HWAKE, C_CWAKE, C_MH, C_M2, C_M4):
            CS[:, col] = -1
        CS[:, C_GNEXT] = -2
        CS[:, S_SOMA_END] = -1
        for c in range(NC):     # element by element: an array assigned to a slice compiles numba's shape error (~4 s)
            CS[c, C_PORT] = (c // C) * P + 4 + c % C
            CS[c, C_OP], CS[c, C_OPEND], CS[c, C_RXCAP] = op_ptr[c], op_ptr[c + 1], rx_cap[c]
        HQ = _host_queues(CS, MS, hs)
        PT = np.full((M * R * P, N_PT + 2 * kr), -1, np.int64)
        for col in (I_FREE, I_OCC, I_ELIG, I_RPOS, I_WANT, O_BUSY, O_REQ, O_FLITS):
            PT[:, col] = 0
        for x in range(M * R * P):
            PT[x, I_CAP], PT[x, I_UP], PT[x, O_DOWN] = in_cap[x], up[x], down[x]
            PT[x, I_BASE] = (x // P) * P
            PT[x, I_X] = (x // P) % W
            PT[x, I_Y] = (x // P) % R // W
        GT[:, GA_CNT] = 0
        GT[:, GA_WAIT] = -1
        cap, size = calendar_size(n, NC, M * R * P, horizon)
        EV = mem[:2 * (cap + size)].reshape((cap + size, 2))
        EV[cap:, 0] = -1
        Q = np.empty((L_ELIG + NEAR, max(M * R * P, NC, N_Z)), np.int64)     # rows 0-3: every entity once a cycle
        Q[4, :] = 0
        Q[4, Z_NEXT_CAP] = Q.shape[1] if K[K_NEXT_CAP] <= 0 else min(K[K_NEXT_CAP], Q.shape[1])
        Q[4, Z_WMASK], Q[4, Z_CAP], Q[4, Z_FREE] = size - 1, cap, -1
        Q[4, Z_FMAX] = np.max(MH[:, H_F]) if n else 1
        Kt = (K[0], K[1], K[2], K[3], K[4], K[5], K[6], K[7])    # a tuple: held in registers, no reloads after stores
        status, end = run(CS, PT, MH, MS, OPS, GT, HQ, hs, EV, Q, Kt)
        return status, end, CS, PT

    return tables, results, oversize, window


tables, results, oversize, window = _entries(DIGEST)
