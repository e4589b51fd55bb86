"""`Noc`: the mesh network of input-queued VC routers (BookSim2 `iq`), state in numpy, cycles in numba.

Cores (terminals) are numbered core = router * cores_per_tile + local, router = y * width + x. Router
ports: 0 +x, 1 -x, 2 +y, 3 -y, 4 + i local core i (BookSim's mesh port order).
"""

from __future__ import annotations

import numpy as np

from coresim.errors import SimulationError
from coresim.noc import flit_kernel as K
from coresim.spec.chip import MeshSpec, NocSpec


class NocDeadlock(SimulationError):
    """No flit moved for the deadlock window while flits were in the network."""

    def __init__(self, message: str, cycle: int | None = None, routers: list[int] | None = None):
        # the message alone is the exception's args, so that `type(exc)(*exc.args)` (simpy re-raising a
        # process's exception) rebuilds it; `cycle` and `routers` are extra, optional attributes
        super().__init__(message)
        self.cycle, self.routers = cycle, routers

    @classmethod
    def at(cls, cycle: int, routers: list[int], width: int) -> NocDeadlock:
        where = ", ".join(f"{r} (x={r % width}, y={r // width})" for r in routers[:16])
        more = f" and {len(routers) - 16} more" if len(routers) > 16 else ""
        return cls(f"NoC deadlock at cycle {cycle}: no flit moved while routers {where}{more} hold flits",
                   cycle, routers)


def zero_load_latency(noc: NocSpec, routers: int, flits: int) -> int:
    """Cycles from creation to tail ejection of a lone packet crossing `routers` routers."""
    r = noc.router
    stages = r.routing_delay_cycles + r.vc_alloc_delay_cycles + r.sw_alloc_delay_cycles + max(1, r.st_delay_cycles)
    link = noc.link_latency_cycles
    # terminal channels take 1 cycle and a send lands one cycle after its channel latency (BookSim)
    return routers * (stages + link) + 1 + 1 + 1 - link + (flits - 1) * r.sw_alloc_delay_cycles


class Noc:
    """Cycle-accurate mesh NoC. See the module docstring for numbering; `run` advances time."""

    def __init__(self, mesh: MeshSpec, noc: NocSpec, *, deadlock_window_cycles: int | None = None,
                 packet_capacity: int = 1024, record_capacity: int = 1 << 16):
        self.mesh, self.spec = mesh, noc
        rt = noc.router
        W, H, C = mesh.width, mesh.height, mesh.cores_per_tile
        if C > 58:
            raise ValueError("at most 58 cores per tile (port masks are int64)")
        V, B = rt.vcs, rt.buffer_flits
        self.W, self.H, self.C, self.V, self.B = W, H, C, V, B
        R, P = W * H, 4 + C
        self.R, self.P, self.n_cores = R, P, R * C
        NC = R * C
        L, CRD, STX = noc.link_latency_cycles, rt.credit_delay_cycles, max(1, rt.st_delay_cycles)
        if deadlock_window_cycles is None:
            path = zero_load_latency(noc, W + H - 1, 1)
            deadlock_window_cycles = 4 * (path + V * B * (W + H)) + 1000
        self.deadlock_window_cycles = deadlock_window_cycles
        cfg = np.zeros(K.N_CFG, np.int64)
        cfg[[K.C_W, K.C_H, K.C_C, K.C_V, K.C_B]] = W, H, C, V, B
        cfg[[K.C_RD, K.C_VAD, K.C_SAD, K.C_STD]] = (rt.routing_delay_cycles, rt.vc_alloc_delay_cycles,
                                                    rt.sw_alloc_delay_cycles, rt.st_delay_cycles)
        cfg[[K.C_L, K.C_CRD, K.C_WIN]] = L, CRD, deadlock_window_cycles
        self.cfg = cfg
        self.sc = np.zeros(K.N_SC, np.int64)
        # BookSim's random numbers (RandomFloat / RandomInt streams): states, refill buffers, positions
        self.rng_u, self.rng_fb = np.zeros(K.KK, np.float64), np.zeros(K.QUALITY, np.float64)
        self.rng_x, self.rng_ib = np.zeros(K.KK, np.int64), np.zeros(K.QUALITY, np.int64)
        self.rng_p = np.full(2, K.KK, np.int64)
        self.pat_tab = np.zeros(1, np.int64)
        self.gen_rate = 0.0
        # wiring: output gp -> input gp of the neighbour, input gp -> upstream output gp
        nbr_in = np.full(R * P, -1, np.int64)
        up_out = np.full(R * P, -1, np.int64)
        for r in range(R):
            x, y = r % W, r // W
            for p, (dx, dy) in enumerate(((1, 0), (-1, 0), (0, 1), (0, -1))):
                nx, ny = x + dx, y + dy
                if 0 <= nx < W and 0 <= ny < H:
                    n = ny * W + nx
                    nbr_in[r * P + p] = n * P + (p ^ 1)
                    up_out[n * P + (p ^ 1)] = r * P + p
        self.nbr_in, self.up_out = nbr_in, up_out
        NI = R * P * V
        self.ibuf = np.full((NI, B), -1, np.int64)
        self.ihd = np.zeros(NI, np.int64)
        self.icnt = np.zeros(NI, np.int64)
        self.ist = np.zeros(NI, np.int64)
        self.rt_due = np.full(NI, -2, np.int64)
        self.va_due = np.full(NI, -2, np.int64)
        self.va_res = np.full(NI, -1, np.int64)
        self.sa_due = np.full(NI, -2, np.int64)
        self.sa_res = np.full(NI, -1, np.int64)
        self.imask = np.zeros(NI, np.int64)
        self.ipend = np.zeros(NI, np.int64)
        self.iovc = np.full((NI, P), -1, np.int64)
        self.o_inuse = np.zeros(NI, np.int64)
        self.o_occ = np.zeros(NI, np.int64)
        self.va_in_ptr = np.full(NI, -1, np.int64)
        self.va_out_ptr = np.full(NI, -1, np.int64)
        self.sw_off = np.zeros(R * P, np.int64)
        self.sa_in_ptr = np.full(R * P, -1, np.int64)
        self.sa_out_ptr = np.full(R * P, -1, np.int64)
        self.mc_ptr = np.full(R, -1, np.int64)          # multicast VC allocation round-robin pointer
        self.rflits = np.zeros(R, np.int64)
        DL = STX + 1 + L + 1
        DC = max(L + 1, 2) + CRD + 1
        self.lk_flit = np.full((R * P, DL), -1, np.int64)
        self.lk_vc = np.full((R * P, DL), -1, np.int64)
        self.cr_vc = np.full((R * P, DC), -1, np.int64)
        self.ej_flit = np.full((NC, STX + 3), -1, np.int64)
        self.ej_vc = np.full((NC, STX + 3), -1, np.int64)
        self.s_inuse = np.zeros((NC, V), np.int64)
        self.s_occ = np.zeros((NC, V), np.int64)
        self.s_lastvc = np.full(NC, -1, np.int64)
        self.s_vc = np.full(NC, -1, np.int64)
        self.s_fi = np.zeros(NC, np.int64)
        self.sq_head = np.full(NC, -1, np.int64)
        self.sq_tail = np.full(NC, -1, np.int64)
        self.qtime = np.zeros(NC, np.int64)
        self.src_cr = np.full((NC, 3), -1, np.int64)
        self._pk_names = ("pk_src", "pk_dst", "pk_mc", "pk_flits", "pk_ctime", "pk_itime", "pk_tag",
                          "pk_route", "pk_rem", "pk_ejf", "pk_next")
        for name in self._pk_names:
            setattr(self, name, np.full(0, -1, np.int64))
        self.free_pids = np.zeros(0, np.int64)
        self.mc_words = (NC + K.MC_BITS - 1) // K.MC_BITS
        self.mc_mask = np.zeros((1, self.mc_words), np.int64)
        self.free_mc = np.zeros(1, np.int64)
        self.sc[K.FREE_MC] = 1
        self._grow_packets(packet_capacity)
        self.rec = [np.zeros(record_capacity, np.int64) for _ in range(6)]
        self._done: list[tuple[np.ndarray, ...]] = []
        self.watch0 = np.zeros(NC, np.int64)
        self.link_flits = np.zeros(R * P, np.int64)
        self._route_default = 0 if noc.routing == "xy" else 1

    # ------------------------------------------------------------------ counters
    @property
    def now(self) -> int:
        return int(self.sc[K.NOW])

    @property
    def flit_hops(self) -> int:
        return int(self.link_flits.sum())

    @property
    def packets_injected(self) -> int:
        return int(self.sc[K.PK_INJ])

    @property
    def flits_injected(self) -> int:
        return int(self.sc[K.FL_INJ])

    @property
    def packets_delivered(self) -> int:
        return int(self.sc[K.PK_DEL])

    @property
    def flits_ejected(self) -> int:
        return int(self.sc[K.FL_EJ])

    def busy(self) -> bool:
        return bool(self.sc[K.LIVE] > 0)

    # ------------------------------------------------------------------ capacity
    def _grow_packets(self, need_free: int) -> None:
        cap = self.pk_src.shape[0]
        free = int(self.sc[K.FREE_TOP])
        if free >= need_free:
            return
        new_cap = max(2 * cap, cap + need_free - free, 64)
        for name in self._pk_names:
            old = getattr(self, name)
            arr = np.full(new_cap, -1, np.int64)
            arr[:cap] = old
            setattr(self, name, arr)
        fp = np.zeros(new_cap, np.int64)
        fp[:free] = self.free_pids[:free]
        added = np.arange(new_cap - 1, cap - 1, -1, dtype=np.int64)   # lowest ids popped first
        fp[free:free + added.size] = added
        self.free_pids = fp
        self.sc[K.FREE_TOP] = free + added.size

    def _grow_mc(self, need_free: int) -> None:
        cap = self.mc_mask.shape[0]
        free = int(self.sc[K.FREE_MC])
        if free >= need_free:
            return
        new_cap = max(2 * cap, cap + need_free - free)
        mm = np.zeros((new_cap, self.mc_words), np.int64)
        mm[:cap] = self.mc_mask
        self.mc_mask = mm
        fm = np.zeros(new_cap, np.int64)
        fm[:free] = self.free_mc[:free]
        added = np.arange(new_cap - 1, cap - 1, -1, dtype=np.int64)
        fm[free:free + added.size] = added
        self.free_mc = fm
        self.sc[K.FREE_MC] = free + added.size

    # ------------------------------------------------------------------ injection
    def _check(self, src, flits, cycle):
        if src.size and (src.min() < 0 or src.max() >= self.n_cores):
            raise ValueError("source core out of range")
        if flits.size and (flits.min() < 1 or flits.max() > K.FMASK):
            raise ValueError(f"packets must have 1..{K.FMASK} flits")
        if cycle.size and cycle.min() < self.now:
            raise ValueError(f"creation cycle before now ({self.now})")

    def _enqueue(self, src, dst, mc, flits, cycle, tag, route, rem) -> None:
        n = src.size
        self._grow_packets(n)
        top = int(self.sc[K.FREE_TOP])
        pids = self.free_pids[top - n:top][::-1].copy()
        self.sc[K.FREE_TOP] = top - n
        self.pk_src[pids], self.pk_dst[pids], self.pk_mc[pids] = src, dst, mc
        self.pk_flits[pids], self.pk_ctime[pids], self.pk_itime[pids] = flits, cycle, -1
        self.pk_tag[pids], self.pk_route[pids], self.pk_rem[pids] = tag, route, rem
        self.pk_ejf[pids], self.pk_next[pids] = 0, -1
        self.sc[K.LIVE] += n
        order = np.lexsort((np.arange(n), cycle, src))
        for i in order:
            pid, s, c = int(pids[i]), int(src[i]), int(cycle[i])
            tail = int(self.sq_tail[s])
            if tail < 0:
                self.sq_head[s] = self.sq_tail[s] = pid
            elif self.pk_ctime[tail] <= c:
                self.pk_next[tail] = pid
                self.sq_tail[s] = pid
            else:   # rare: an earlier creation cycle than the queue's tail; keep the queue time-ordered
                prev, cur = -1, int(self.sq_head[s])
                started = self.s_fi[s] > 0 or self.s_vc[s] >= 0
                while cur >= 0 and (self.pk_ctime[cur] <= c or (prev < 0 and started)):
                    prev, cur = cur, int(self.pk_next[cur])
                self.pk_next[pid] = cur
                if prev < 0:
                    self.sq_head[s] = pid
                else:
                    self.pk_next[prev] = pid

    def _route_arr(self, routing, n):
        if routing is None:
            return np.full(n, self._route_default, np.int64)
        if isinstance(routing, str):
            return np.full(n, 0 if routing == "xy" else 1, np.int64)
        return np.asarray(routing, np.int64)

    def inject(self, src, dst, flits, cycle, tag, routing=None) -> None:
        """Queue unicast packets (one per element) at their source cores from creation cycle `cycle`.
        `routing` (optional, per packet or one of "xy"/"yx") overrides the spec's routing."""
        src, dst, flits, cycle, tag = (np.asarray(a, np.int64).ravel() for a in (src, dst, flits, cycle, tag))
        self._check(src, flits, cycle)
        if dst.size and (dst.min() < 0 or dst.max() >= self.n_cores):
            raise ValueError("destination core out of range")
        n = src.size
        self._enqueue(src, dst, np.full(n, -1, np.int64), flits, cycle, tag, self._route_arr(routing, n),
                      np.ones(n, np.int64))

    def inject_multicast(self, src, dst_ptr, dst_idx, flits, cycle, tag, routing=None) -> None:
        """Queue tree-multicast packets: packet i goes to cores dst_idx[dst_ptr[i]:dst_ptr[i+1]].

        Routers replicate a packet where its destinations' paths diverge, cutting it through there (every
        branch gets room downstream for the whole packet; see `coresim.noc.flit_kernel`). A packet longer than a
        VC buffer cannot be cut through, so it is sent as one unicast packet per destination (same tag)."""
        src, flits, cycle, tag = (np.asarray(a, np.int64).ravel() for a in (src, flits, cycle, tag))
        dst_ptr, dst_idx = np.asarray(dst_ptr, np.int64), np.asarray(dst_idx, np.int64)
        self._check(src, flits, cycle)
        n = src.size
        if dst_idx.size and (dst_idx.min() < 0 or dst_idx.max() >= self.n_cores):
            raise ValueError("destination core out of range")
        route = self._route_arr(routing, n)
        rows: list[int] = []          # packet i once, or once per destination when sent as unicast copies
        dst: list[int] = []
        mc: list[int] = []
        rem: list[int] = []
        self._grow_mc(n)
        for i in range(n):
            d = np.unique(dst_idx[dst_ptr[i]:dst_ptr[i + 1]])
            if d.size == 1 or (d.size > 1 and flits[i] > self.B):
                rows += [i] * d.size
                dst += d.tolist()
                mc += [-1] * d.size
                rem += [1] * d.size
            elif d.size > 1:
                self.sc[K.FREE_MC] -= 1
                slot = int(self.free_mc[self.sc[K.FREE_MC]])
                row = np.zeros(self.mc_words, np.int64)
                np.bitwise_or.at(row, d // K.MC_BITS, np.left_shift(1, d % K.MC_BITS).astype(np.int64))
                self.mc_mask[slot] = row
                rows.append(i)
                dst.append(-1)
                mc.append(slot)
                rem.append(d.size)
        k = np.asarray(rows, np.int64)
        self._enqueue(src[k], np.asarray(dst, np.int64), np.asarray(mc, np.int64), flits[k], cycle[k], tag[k],
                      route[k], np.asarray(rem, np.int64))

    # ------------------------------------------------------------------ running
    def set_generator(self, rate_pkts: float, pattern_kind: int, pattern_table: np.ndarray, packet_flits: int,
                      seed: int, routing: str | None = None) -> None:
        """Switch on BookSim-style Bernoulli sources (synthetic traffic): `rate_pkts` packets/core/cycle;
        pattern_kind 0 uniform, 1 fixed table src->dst, 2 uniform over the table's entries (hotspots).
        Random numbers are BookSim2's (RandomSeed(seed), one RandomFloat per Bernoulli test, RandomInt for the
        destination and the packet's subnetwork), so a run repeats BookSim's run with the same seed."""
        self.cfg[K.C_GEN] = 1 + (self._route_default if routing is None else (0 if routing == "xy" else 1))
        self.cfg[K.C_PAT], self.cfg[K.C_PAT_N] = pattern_kind, len(pattern_table)
        self.cfg[K.C_GEN_FLITS] = packet_flits
        self.pat_tab = np.asarray(pattern_table, np.int64).copy() if len(pattern_table) else np.zeros(1, np.int64)
        self.gen_rate = float(rate_pkts)
        K.rng_seed(int(seed), self.rng_u, self.rng_x, self.rng_p)     # BookSim's RandomSeed(seed)
        self.qtime[:] = self.now
        self._grow_packets(2 * self.n_cores + self.R * self.P * self.V * self.B)

    def run(self, until: int, watch=None) -> int:
        """Simulate up to cycle `until` (or the end of the cycle in which a watched count hits 0)."""
        w = self.watch0 if watch is None else watch
        if watch is not None and (w.dtype != np.int64 or w.shape != (self.n_cores,)):
            raise ValueError("watch must be an int64 array with one entry per core")
        while True:
            st = K.noc_run(
                int(until), self.cfg, self.sc, self.rng_u, self.rng_fb, self.rng_x, self.rng_ib, self.rng_p,
                self.pat_tab, self.gen_rate, self.nbr_in, self.up_out,
                self.ibuf, self.ihd, self.icnt, self.ist, self.rt_due, self.va_due, self.va_res, self.sa_due,
                self.sa_res, self.imask, self.ipend, self.iovc, self.o_inuse, self.o_occ, self.va_in_ptr,
                self.va_out_ptr, self.sw_off, self.sa_in_ptr, self.sa_out_ptr, self.rflits,
                self.lk_flit, self.lk_vc, self.cr_vc, self.ej_flit, self.ej_vc,
                self.s_inuse, self.s_occ, self.s_lastvc, self.s_vc, self.s_fi, self.sq_head, self.sq_tail,
                self.qtime, self.src_cr,
                self.pk_src, self.pk_dst, self.pk_mc, self.pk_flits, self.pk_ctime, self.pk_itime, self.pk_tag,
                self.pk_route, self.pk_rem, self.pk_ejf, self.pk_next, self.free_pids, self.mc_mask, self.free_mc,
                self.mc_ptr, *self.rec, w, self.link_flits)
            if st == K.ST_REC_FULL:
                self._stash_records()
            elif st == K.ST_NEED_PIDS:
                self._grow_packets(2 * self.pk_src.shape[0])
            elif st == K.ST_DEADLOCK:
                routers = [int(r) for r in np.flatnonzero(self.rflits)]
                raise NocDeadlock.at(self.now, routers, self.W)
            else:
                return self.now

    def _stash_records(self) -> None:
        n = int(self.sc[K.NREC])
        if n:
            self._done.append(tuple(a[:n].copy() for a in self.rec))
            self.sc[K.NREC] = 0

    def delivered(self) -> tuple[np.ndarray, ...]:
        """Deliveries since the last call: (tag, dst_core, create_cycle, inject_cycle, eject_cycle, hops)."""
        self._stash_records()
        parts, self._done = self._done, []
        if not parts:
            return tuple(np.zeros(0, np.int64) for _ in range(6))
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(6))

    def in_flight_age(self) -> tuple[int, int]:
        """(sum of now - creation over generated, not yet ejected flits, their count), as BookSim's
        latency threshold counts them."""
        live = (self.pk_rem > 0) & (self.pk_ctime <= self.now)
        left = (self.pk_flits - self.pk_ejf)[live]
        return int((left * (self.now - self.pk_ctime[live])).sum()), int(left.sum())
