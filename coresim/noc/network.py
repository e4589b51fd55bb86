"""`Noc`: the mesh network of input-queued VC routers (BookSim2 `iq`), state in numpy, cycles in numba.

Cores (terminals) are numbered core = router * cores_per_tile + local, router = y * width + x. Router
ports: 0 +x, 1 -x, 2 +y, 3 -y, 4 + i local core i (BookSim's mesh port order).
"""

from __future__ import annotations

import numpy as np

from coresim.errors import BufferDeadlock, SimulationError
from coresim.noc import flit_state as S
from coresim.noc.buffers import grow_rx, makes_now, new_buffers
from coresim.noc.enqueue import DONE, enqueue_source
from coresim.noc.flit_kernel import noc_run_for
from coresim.noc.rng import new_rng, seed_rng
from coresim.spec.chip import MeshSpec, NocSpec
from coresim.util import compile_first

_NO_SLOTS = np.zeros(0, np.int64)
_ONE = np.ones(1, np.int64)


class NocDeadlock(SimulationError):
    """No flit moved for the deadlock window while flits were in the network."""

    def __init__(self, message: str, cycle: int | None = None, routers: list[int] | None = None):
        # the message alone is the exception's args, so that `type(exc)(*exc.args)` (simpy re-raising a
        # process's exception) rebuilds it; `cycle` and `routers` are extra, optional attributes
        super().__init__(message)
        self.cycle, self.routers = cycle, routers

    @classmethod
    def at(cls, cycle: int, routers: list[int], width: int, full_rx: list[int] | None = None) -> NocDeadlock:
        where = ", ".join(f"{r} (x={r % width}, y={r // width})" for r in routers[:16])
        more = f" and {len(routers) - 16} more" if len(routers) > 16 else ""
        rx = f"; receive buffers full at cores {_few(full_rx)}" if full_rx else ""
        return cls(f"NoC deadlock at cycle {cycle}: no flit moved while routers {where}{more} hold flits{rx}",
                   cycle, routers)


def _few(items: list[int], n: int = 16) -> str:
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(str(i) for i in items[:n]) + more


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
                 packet_capacity: int = 1024, record_capacity: int = 1 << 16, receive_flits: int = -1,
                 send_flits: int = -1):
        """`receive_flits`, `send_flits`: each core's receive buffer and send queue (< 0: unbounded, BookSim's
        terminals; see `coresim.noc.buffers`)."""
        self.mesh, self.spec = mesh, noc
        rt = noc.router
        W, H, C = mesh.width, mesh.height, mesh.cores_per_tile
        if C > 58:
            raise ValueError("at most 58 cores per tile (port masks are int64)")
        V, B = rt.vcs, rt.buffer_flits
        self.W, self.H, self.C, self.V, self.B = W, H, C, V, B
        self.R, self.P, self.n_cores = W * H, 4 + C, W * H * C
        if deadlock_window_cycles is None:
            path = zero_load_latency(noc, W + H - 1, 1)
            deadlock_window_cycles = 4 * (path + V * B * (W + H)) + 1000
        self.deadlock_window_cycles = deadlock_window_cycles
        delays = (rt.routing_delay_cycles, rt.vc_alloc_delay_cycles, rt.sw_alloc_delay_cycles, rt.st_delay_cycles)
        self.cfg = S.new_config(W, H, C, V, B, delays, noc.link_latency_cycles, rt.credit_delay_cycles,
                                deadlock_window_cycles, int(receive_flits), int(send_flits))
        self.queued = np.zeros(self.n_cores, np.int64)   # packets queued per source core so far
        # receive FIFOs hold up to receive_flits + V * B flits; their rings start short and grow as they fill
        self.buf = new_buffers(self.n_cores, min(receive_flits, 256) + V * B + 1 if receive_flits >= 0 else 1)
        self.sc = np.zeros(S.N_SC, np.int64)
        self.rng = new_rng()                    # BookSim's random numbers (RandomFloat / RandomInt streams)
        self.term, self.inp = S.new_terminals(self.cfg), S.new_inputs(self.cfg)
        self.out, self.arb, self.wires = S.new_outputs(self.cfg), S.new_arbiters(self.cfg), S.new_wires(self.cfg)
        self.scratch = S.new_scratch(self.cfg)
        self.mc_words = (self.n_cores + S.MC_BITS - 1) // S.MC_BITS
        self.pk = S.new_packets(self.mc_words)
        self.sc[S.FREE_MC] = 1
        self.grow_packets(packet_capacity)
        self.rec = S.new_records(record_capacity)
        self._done: list[tuple[np.ndarray, ...]] = []
        self.watch0 = np.zeros(self.n_cores, np.int64)
        self._entry, self._entry_key = None, None   # see `_kernel`
        self.route_default = 0 if noc.routing == "xy" else 1
        self._masks: dict[bytes, np.ndarray] = {}   # multicast mask rows by destination set (`inject_source`)

    # ------------------------------------------------------------------ counters
    @property
    def now(self) -> int:
        return int(self.sc[S.NOW])

    @property
    def link_flits(self) -> np.ndarray:
        """Flits sent per router output port (router * P + port, ejection ports included)."""
        return self.out.link_flits

    @property
    def flit_hops(self) -> int:
        return int(self.out.link_flits.sum())

    @property
    def packets_injected(self) -> int:
        return int(self.sc[S.PK_INJ])

    @property
    def flits_injected(self) -> int:
        return int(self.sc[S.FL_INJ])

    @property
    def packets_delivered(self) -> int:
        return int(self.sc[S.PK_DEL])

    @property
    def flits_ejected(self) -> int:
        return int(self.sc[S.FL_EJ])

    def watch_hit(self) -> bool:
        """Did the last `run` stop because a watched count (deliveries or packets made) was reached?"""
        return self.sc[S.STATUS] == S.ST_WATCH

    def busy(self) -> bool:
        return bool(self.sc[S.LIVE] > 0)

    def quiet_until(self) -> int | None:
        """With no flit in the network or a receive FIFO, the first cycle a queued packet may be made or sent
        (nothing happens before it unless more packets come); None while flits move or nothing is queued."""
        if self.sc[S.NET_FLITS] or self.sc[S.RX_FLITS]:
            return None
        src = np.flatnonzero(self.term.q_head >= 0)
        if src.size == 0:
            return None
        heads = self.term.q_head[src]
        late = np.where(self.pk.made[heads] == 1, 0, self.buf.shift[src]) if self.cfg.SB >= 0 else 0
        return int((self.pk.ctime[heads] + late).min())

    # ------------------------------------------------------------------ capacity
    def grow_packets(self, need_free: int) -> None:
        self.pk = S.grow_packets(self.pk, self.sc, need_free)

    def grow_mc(self, need_free: int) -> None:
        self.pk = S.grow_mc(self.pk, self.sc, need_free)

    # ------------------------------------------------------------------ injection
    def _check(self, src, flits, cycle):
        if src.size and (src.min() < 0 or src.max() >= self.n_cores):
            raise ValueError("source core out of range")
        if flits.size and (flits.min() < 1 or flits.max() > S.FMASK):
            raise ValueError(f"packets must have 1..{S.FMASK} flits")
        if cycle.size and cycle.min() < self.now:
            raise ValueError(f"creation cycle before now ({self.now})")

    def _enqueue(self, src, dst, mc, flits, cycle, tag, route, rem, source: int | None = None) -> None:
        """Queue packet rows (`source`: the one source core of every row, if the caller knows it)."""
        n = src.size
        self.grow_packets(n)
        pk, top = self.pk, int(self.sc[S.FREE_TOP])
        pids = pk.free[top - n:top][::-1].copy()
        self.sc[S.FREE_TOP] = top - n
        pk.src[pids], pk.dst[pids], pk.mc[pids] = src, dst, mc
        pk.flits[pids], pk.ctime[pids], pk.itime[pids] = flits, cycle, -1
        pk.tag[pids], pk.route[pids], pk.rem[pids] = tag, route, rem
        pk.ejf[pids], pk.next[pids], pk.made[pids] = 0, -1, 0
        self.sc[S.LIVE] += n
        if source is not None:
            sources = [source]
        else:
            sources = [int(src[0])] if n and not (src != src[0]).any() else np.unique(src).tolist()
        if len(sources) == 1:   # a task's packets: one source queue, in creation order
            self.queued[sources[0]] += n
            order = np.argsort(cycle, kind="stable")
        else:
            np.add.at(self.queued, src, 1)
            order = np.lexsort((np.arange(n), cycle, src))
        if n and not (len(sources) == 1 and self._append(pids[order], sources[0], cycle[order])):
            for i in order:
                self._queue(int(pids[i]), int(src[i]), int(cycle[i]))
        if self.cfg.SB >= 0:
            self._plan_sends(src, flits, sources)

    def _append(self, pids: np.ndarray, s: int, cycle: np.ndarray) -> bool:
        """Packets of source s, in creation order, none created before its queue's tail: link them at its end
        at once (what `_queue` does one by one); False (nothing done) otherwise."""
        term, pk = self.term, self.pk
        tail = int(term.q_tail[s])
        if tail >= 0 and pk.ctime[tail] > cycle[0]:
            return False
        pk.next[pids[:-1]] = pids[1:]
        if tail < 0:
            term.q_head[s] = pids[0]
        else:
            pk.next[tail] = pids[0]
        term.q_tail[s] = pids[-1]
        return True

    def _queue(self, pid: int, s: int, c: int) -> None:
        """Append packet pid (created at cycle c) to source s's queue, which stays in creation order."""
        pk, term = self.pk, self.term
        tail = int(term.q_tail[s])
        if tail < 0:
            term.q_head[s] = term.q_tail[s] = pid
        elif pk.ctime[tail] <= c:
            pk.next[tail] = pid
            term.q_tail[s] = pid
        else:   # rare: an earlier creation cycle than the queue's tail (behind a packet already being sent)
            prev, cur = -1, int(term.q_head[s])
            started = term.fi[s] > 0 or term.vc[s] >= 0
            while cur >= 0 and (pk.ctime[cur] <= c or pk.made[cur] == 1 or (prev < 0 and started)):
                prev, cur = cur, int(pk.next[cur])
            pk.next[pid] = cur
            if prev < 0:
                term.q_head[s] = pid
            else:
                pk.next[prev] = pid

    def _plan_sends(self, src: np.ndarray, flits: np.ndarray, sources: list[int]) -> None:
        """Finite send queues: point each source at its first packet not yet made (a source with none pending
        starts without delay); a packet longer than the queue could never be made."""
        sb = self.cfg.SB
        longest = int(flits.max()) if flits.size else 0
        if longest > sb:
            core = int(src[int(np.argmax(flits))])
            raise BufferDeadlock(f"deadlock: a {longest}-flit packet can never enter the send buffer "
                                  f"of core {core} ({sb} flits, core.send_buffer_flits)")
        pk, buf = self.pk, self.buf
        for s in sources:
            if buf.mk[s] < 0:
                buf.shift[s] = 0
            cur = int(self.term.q_head[s])
            while cur >= 0 and pk.made[cur] == 1:
                cur = int(pk.next[cur])
            buf.mk[s] = cur

    def set_port_window(self, core: int, start: int, cycles: int, busy: int) -> None:
        """The task starting on `core`: of cycles [start, start + cycles) it takes `busy` on its SRAM ports (the
        receive buffer writes in the others)."""
        self.buf.pw_a[core], self.buf.pw_len[core], self.buf.pw_use[core] = start, cycles, min(busy, cycles)

    def packets_made(self, core: int) -> int:
        """Packets the core has made so far (finite send queues)."""
        return int(self.buf.made[core])

    def makes_now(self, core: int) -> bool:
        """Will the core's send queue take all its packets not yet made in the current cycle (not yet run)? Each
        must be due now (not late already) and have room, in queue order."""
        pk, buf = self.pk, self.buf
        return makes_now(core, int(self.sc[S.NOW]), self.cfg.SB, buf.mk, buf.sq, buf.shift, pk.flits, pk.ctime,
                         pk.next)

    def send_delay(self, core: int) -> int:
        """Cycles the packets being made at `core` run late because its send queue was full."""
        return int(self.buf.shift[core])

    def watch_made(self, core: int, count: int) -> None:
        """Stop `run` once `core` has made `count` packets (0: do not)."""
        self.buf.swatch[core] = count

    def _route_arr(self, routing, n):
        if routing is None:
            return np.full(n, self.route_default, np.int64)
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
        self._enqueue(*self._multicast_rows(src, dst_ptr, dst_idx, flits, cycle, tag, routing))

    def inject_mixed(self, uni: tuple | None, multi: tuple | None) -> None:
        """Queue unicast packets `uni` = (src, dst, flits, cycle, tag) and multicast ones `multi` = (src, dst_ptr,
        dst_idx, flits, cycle, tag) at once (each source queue in creation order without re-sorting)."""
        parts = []
        if uni is not None:
            src, dst, flits, cycle, tag = (np.asarray(a, np.int64).ravel() for a in uni)
            self._check(src, flits, cycle)
            if dst.size and (dst.min() < 0 or dst.max() >= self.n_cores):
                raise ValueError("destination core out of range")
            n = src.size
            parts.append((src, dst, np.full(n, -1, np.int64), flits, cycle, tag, self._route_arr(None, n),
                          np.ones(n, np.int64)))
        if multi is not None:
            parts.append(self._multicast_rows(*multi, None))
        if len(parts) == 1:
            self._enqueue(*parts[0])
        elif parts:
            self._enqueue(*(np.concatenate([p[i] for p in parts]) for i in range(8)))

    def inject_source(self, core: int, uni: list[tuple], multi: list[tuple]) -> bool:
        """Queue the packets of one source core at once: `uni`, a list of (destination core, tags, flits, cycles)
        and `multi`, a list of (destination cores, sorted and distinct, tags, flits, cycles); the same rows as
        `inject_mixed` builds (unicast parts, then multicast parts, in order) without its per-packet work. False
        (nothing queued) if a multicast packet is longer than a VC buffer: `inject_mixed` splits those."""
        if any(int(m[2].max()) > self.B for m in multi):
            return False
        tag, flits, cycle, part_dst, part_rem, sizes, slots, n_u = self._source_rows(uni, multi)
        n = tag.size
        if n == 0:
            return True
        self.grow_packets(n)
        pk, term, buf = self.pk, self.term, self.buf
        if enqueue_source(core, tag, flits, cycle, part_dst, part_rem, sizes, slots, self.route_default,
                          self.cfg.SB, self.sc, pk.free, pk.src, pk.dst, pk.mc, pk.flits, pk.ctime, pk.itime, pk.tag,
                          pk.route, pk.rem, pk.ejf, pk.next, pk.made, term.q_head, term.q_tail, self.queued, buf.mk,
                          buf.shift) == DONE:
            return True
        src = np.full(n, core, np.int64)   # the plain path (the kernel's twin), which also raises on bad rows
        self._check(src, flits, cycle)
        mc = np.full(n, -1, np.int64)
        mc[n_u:] = slots
        self._enqueue(src, np.repeat(part_dst, sizes), mc, flits, cycle, tag, np.full(n, self.route_default, np.int64),
                      np.repeat(part_rem, sizes), core)
        return True

    def _source_rows(self, uni: list[tuple], multi: list[tuple]) -> tuple:
        """`inject_source`'s rows: (tags, flits, cycles, per part its destination core (-1: multicast) and
        destinations left, its packets, the multicast mask slots taken, the unicast packets)."""
        if not multi and len(uni) == 1:          # the common case: one unicast part, its arrays as they are
            dst, tag, flits, cycle = uni[0]
            return tag, flits, cycle, np.array([dst], np.int64), _ONE, np.array([tag.size], np.int64), _NO_SLOTS, \
                tag.size
        parts = uni + multi
        sizes = [p[1].size for p in parts]
        n = sum(sizes)
        tag, flits, cycle = (np.concatenate([p[i] for p in parts]) if len(parts) > 1 else parts[0][i]
                             for i in (1, 2, 3))
        n_u = sum(sizes[:len(uni)])
        slots = _NO_SLOTS
        if multi and n:
            m = n - n_u
            self.grow_mc(m)
            top = int(self.sc[S.FREE_MC])
            slots = self.pk.free_mc[top - m:top][::-1].copy()
            self.sc[S.FREE_MC] = top - m
            self.pk.mc_mask[slots] = np.repeat(np.stack([self.mask_row(x[0]) for x in multi]), sizes[len(uni):], axis=0)
        part_dst = np.array([u[0] for u in uni] + [-1] * len(multi), np.int64)
        part_rem = np.array([1] * len(uni) + [m[0].size for m in multi], np.int64)
        return tag, flits, cycle, part_dst, part_rem, np.array(sizes, np.int64), slots, n_u

    def mask_row(self, cores: np.ndarray) -> np.ndarray:
        """The multicast mask row of a destination set (cached by set)."""
        key = cores.tobytes()
        row = self._masks.get(key)
        if row is None:
            row = self._masks[key] = np.zeros(self.mc_words, np.int64)
            for d in cores.tolist():
                row[d // S.MC_BITS] |= np.int64(1) << np.int64(d % S.MC_BITS)
        return row

    def _multicast_rows(self, src, dst_ptr, dst_idx, flits, cycle, tag, routing):
        """The rows `_enqueue` takes for multicast packets (see `inject_multicast`)."""
        src, flits, cycle, tag = (np.asarray(a, np.int64).ravel() for a in (src, flits, cycle, tag))
        dst_ptr, dst_idx = np.asarray(dst_ptr, np.int64), np.asarray(dst_idx, np.int64)
        self._check(src, flits, cycle)
        n = src.size
        if dst_idx.size and (dst_idx.min() < 0 or dst_idx.max() >= self.n_cores):
            raise ValueError("destination core out of range")
        route = self._route_arr(routing, n)
        self.grow_mc(n)
        # each packet's distinct destinations, in order: (packet, core) pairs sorted and deduplicated
        seg = np.repeat(np.arange(n, dtype=np.int64), np.diff(dst_ptr))
        dst_idx = dst_idx[dst_ptr[0]:dst_ptr[-1]] if n else dst_idx[:0]
        order = np.lexsort((dst_idx, seg))
        seg, d = seg[order], dst_idx[order]
        first = np.ones(seg.size, np.bool_)
        first[1:] = (seg[1:] != seg[:-1]) | (d[1:] != d[:-1])
        seg, d = seg[first], d[first]
        size = np.bincount(seg, minlength=n)
        mc = (size > 1) & (flits <= self.B)      # one tree packet; else one unicast packet per destination
        lead = np.ones(seg.size, np.bool_)
        lead[1:] = seg[1:] != seg[:-1]
        keep = lead | ~mc[seg]
        k = seg[keep]
        is_mc = mc[k]
        slots = np.full(k.size, -1, np.int64)
        m = int(is_mc.sum())
        if m:
            top = int(self.sc[S.FREE_MC])
            slots[is_mc] = self.pk.free_mc[top - m:top][::-1]
            self.sc[S.FREE_MC] = top - m
            row_of = np.full(n, -1, np.int64)
            row_of[k[is_mc]] = slots[is_mc]
            self.pk.mc_mask[slots[is_mc]] = 0
            tree = mc[seg]
            np.bitwise_or.at(self.pk.mc_mask, (row_of[seg[tree]], d[tree] // S.MC_BITS),
                             np.left_shift(np.int64(1), d[tree] % S.MC_BITS))
        return (src[k], np.where(is_mc, -1, d[keep]), slots, flits[k], cycle[k], tag[k], route[k],
                np.where(is_mc, size[k], 1))

    # ------------------------------------------------------------------ running
    def set_generator(self, rate_pkts: float, pattern_kind: int, pattern_table: np.ndarray, packet_flits: int,
                      seed: int, routing: str | None = None) -> None:
        """Switch on BookSim-style Bernoulli sources (synthetic traffic): `rate_pkts` packets/core/cycle;
        pattern_kind 0 uniform, 1 fixed table src->dst, 2 uniform over the table's entries (hotspots).
        Random numbers are BookSim2's (RandomSeed(seed), one RandomFloat per Bernoulli test, RandomInt for the
        destination and the packet's subnetwork), so a run repeats BookSim's run with the same seed."""
        gen = 1 + (self.route_default if routing is None else (0 if routing == "xy" else 1))
        self.cfg = self.cfg._replace(GEN=gen, PAT=int(pattern_kind), PAT_N=len(pattern_table),
                                     GEN_FLITS=int(packet_flits), GEN_RATE=float(rate_pkts))
        tab = np.asarray(pattern_table, np.int64).copy() if len(pattern_table) else np.zeros(1, np.int64)
        self.term = self.term._replace(pat_tab=tab)
        seed_rng(self.rng, seed)                                     # BookSim's RandomSeed(seed)
        self.term.qtime[:] = self.now
        self.grow_packets(2 * self.n_cores + self.R * self.P * self.V * self.B)

    def run(self, until: int, watch=None) -> int:
        """Simulate up to cycle `until` (or the end of the cycle in which a watched count hits 0)."""
        w = self.watch0 if watch is None else watch
        if watch is not None and (w.dtype != np.int64 or w.shape != (self.n_cores,)):
            raise ValueError("watch must be an int64 array with one entry per core")
        while True:
            st = self._kernel((int(until), self.cfg, self.sc, self.rng, self.term, self.inp, self.out, self.arb,
                               self.wires, self.pk, self.rec, self.scratch, w, self.buf))
            if self.sc[S.RX_GROW]:
                self.buf = grow_rx(self.buf)
                self.sc[S.RX_GROW] = 0
            if st == S.ST_REC_FULL:
                self._stash_records()
            elif st == S.ST_RX_GROW:
                continue
            elif st == S.ST_NEED_PIDS:
                self.grow_packets(2 * self.pk.src.shape[0])
            elif st == S.ST_DEADLOCK:
                raise self.deadlock()
            else:
                return self.now

    def deadlock(self) -> NocDeadlock:
        """The error of a kernel run that found a deadlock (`ST_DEADLOCK`): the routers holding flits, full buffers."""
        routers = [int(r) for r in np.flatnonzero(self.inp.router_flits)]
        full_rx = [] if self.cfg.RB < 0 else np.flatnonzero(self.buf.rx_n > self.cfg.RB).tolist()
        return NocDeadlock.at(self.now, routers, self.W, full_rx)

    def _kernel(self, args: tuple) -> int:
        """The kernel (`flit_kernel.noc_run_for` the configuration) on `args`. numba's dispatcher types every
        argument on every call (~45 us for these records, ~7 ms for a 128-core mesh's, more than a short window's
        cycles take), so once it has run on these record objects, their compiled entry point is called directly
        until one of them is replaced (records grow, or the configuration). The watch array is not in that key:
        any watch `run` accepts (int64, one per core) has the compiled type when it is contiguous, writeable and
        aligned, so a caller may pass a new one each run."""
        w = args[-2]
        fits = w.flags.c_contiguous and w.flags.writeable and w.flags.aligned
        key = tuple(map(id, args[1:-2])) + (id(args[-1]),)
        if key == self._entry_key and fits:
            return self._entry(*args)
        kernel = noc_run_for(args[1])
        compile_first(kernel, args, "the NoC kernel")
        st = kernel(*args)
        sig = tuple(kernel.typeof_pyval(a) for a in args)
        cres = kernel.overloads.get(sig)
        if cres is not None and fits:
            self._entry, self._entry_key = cres.entry_point, key
        return st

    def _stash_records(self) -> None:
        n = int(self.sc[S.NREC])
        if n:
            self._done.append(tuple(a[:n].copy() for a in self.rec))
            self.sc[S.NREC] = 0

    def has_deliveries(self) -> bool:
        return bool(self.sc[S.NREC]) or bool(self._done)

    def delivered(self) -> tuple[np.ndarray, ...]:
        """Deliveries since the last call: (tag, dst_core, create_cycle, inject_cycle, eject_cycle, hops)."""
        self._stash_records()
        parts, self._done = self._done, []
        if not parts:
            return tuple(np.zeros(0, np.int64) for _ in range(6))
        if len(parts) == 1:
            return parts[0]
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(6))

    def delivery_parts(self) -> list[tuple[tuple[np.ndarray, ...], int]]:
        """Deliveries since the last call (or `delivered`) as (records, count) pairs, the live records not copied:
        read them before the next `run`."""
        parts = [(p, p[0].size) for p in self._done]
        n = int(self.sc[S.NREC])
        if n:
            parts.append((tuple(self.rec), n))
        self._done = []
        self.sc[S.NREC] = 0
        return parts

    def in_flight_age(self) -> tuple[int, int]:
        """(sum of now - creation over generated, not yet ejected flits, their count), as BookSim's
        latency threshold counts them."""
        pk = self.pk
        live = (pk.rem > 0) & (pk.ctime <= self.now)
        left = (pk.flits - pk.ejf)[live]
        return int((left * (self.now - pk.ctime[live])).sum()), int(left.sum())
