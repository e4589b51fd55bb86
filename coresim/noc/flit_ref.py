"""Plain-Python twin of `coresim.noc.flit_kernel`: the same BookSim2 iq router written for clarity (objects,
deques, one method per pipeline stage), `C` cores per router (core = router * C + local; local core i on
ports 4 + i). Slow; the tests compare its delivery cycles with the
kernel's on small meshes, packet by packet. Finite receive buffers and send queues as `coresim.noc.buffers`
describes them (`rx_flits`, `tx_flits`; < 0: unbounded).

Tree multicast, from the rules `flit_kernel` states (not its code): a packet to several cores follows the union of
its dimension-order paths and takes, at each router, the set of ports towards the destinations whose path crosses
it. Where that set has one port the packet is an ordinary wormhole packet. At a branch router (two or more ports):
- VC allocation: before the output-VC arbiters, the branch heads waiting for it, in round-robin order after the
  router's last multicast grant, each take one output VC per branch port at once - per port the first free VC in
  the head's round-robin order with room downstream for the whole packet - or none at all; what they take no
  unicast head gets this cycle.
- Switch allocation: when an input port's arbiter picks a branch head's VC, the input bids for every branch still
  owing the front flit (with a credit); the flit is copied to every output that grants it, the others later.
  It leaves the buffer (credit upstream) when every branch has it; each branch frees its VC with the tail.
Each destination gets its copy of the packet as a unicast packet would (its own delivery record)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

IDLE, ROUTING, VC_ALLOC, ACTIVE = range(4)
NONE, PENDING = -2, -1          # stage bookkeeping: not in the stage / waiting for its evaluate
RESERVED = -5                   # VC allocation result of a multicast head: a VC on every branch taken


@dataclass
class Packet:
    tag: int
    src: int
    dst: int                     # the destination core; -1: tree multicast to `dsts`
    flits: int
    ctime: int
    route_yx: bool
    itime: int = -1
    made: bool = False
    dsts: tuple = ()             # tree multicast: the destination cores


@dataclass
class InputVC:
    buf: deque = field(default_factory=deque)   # (packet, flit index)
    state: int = IDLE
    ports: tuple = ()              # the head's output ports (two or more: a branch of a multicast tree)
    ovc: dict = field(default_factory=dict)   # output port -> the output VC held there
    pend: set = field(default_factory=set)    # output ports still owing the front flit
    rt_due: int = NONE
    va_due: int = NONE
    va_res: int = -1               # granted (port, vc) flattened, RESERVED (multicast), or < 0
    sa_due: int = NONE
    sa_res: tuple = ()             # the output ports granted to the front flit


class RRArbiter:
    """BookSim RoundRobinArbiter: the lowest-numbered request after the last grant wins."""

    def __init__(self, size: int):
        self.size, self.pointer = size, -1

    def pick(self, requests) -> int:
        best, best_key = -1, None
        for r in requests:
            key = r + self.size if r <= self.pointer else r
            if best_key is None or key < best_key:
                best, best_key = r, key
        return best


class Router:
    def __init__(self, net: RefNoc, rid: int):
        self.net, self.id = net, rid
        P, V = net.P, net.V
        self.inp = [[InputVC() for _ in range(V)] for _ in range(P)]
        self._all = [(p, v, self.inp[p][v]) for p in range(P) for v in range(V)]
        self.out_inuse = [[False] * V for _ in range(P)]
        self.out_occ = [[0] * V for _ in range(P)]
        self.va_in_arb = [[RRArbiter(P * V) for _ in range(V)] for _ in range(P)]
        self.va_out_arb = [[RRArbiter(P * V) for _ in range(V)] for _ in range(P)]
        self.mc_last = -1                          # the multicast head served last (round robin)
        self.sa_in_arb = [RRArbiter(P) for _ in range(P)]
        self.sa_out_arb = [RRArbiter(P) for _ in range(P)]
        self.sw_off = [0] * P
        self.flits = 0                             # flits buffered: a router without any has nothing to do

    def vcs(self):
        """(input port, VC, input VC) of every input VC, in port then VC order."""
        return self._all

    def receive(self, t, port, vc, flit):
        ivc = self.inp[port][vc]
        ivc.buf.append(flit)
        self.flits += 1
        if ivc.state == IDLE:
            self._start_head(ivc, t)
        elif ivc.state == ACTIVE and len(ivc.buf) == 1:
            ivc.sa_due = PENDING

    def _start_head(self, ivc, t):
        if self.net.rd > 0:
            ivc.state, ivc.rt_due = ROUTING, PENDING
        else:
            self._set_route(ivc)

    def _set_route(self, ivc):
        ivc.ports = self.net.route_ports(self.id, ivc.buf[0][0])
        ivc.ovc = {}
        ivc.state, ivc.va_due = VC_ALLOC, PENDING

    def _has_credit(self, o, v, flits=1):
        return self.out_occ[o][v] + flits <= self.net.B

    def step(self, t):
        """One cycle, BookSim's order: every stage's evaluate, then every stage's update."""
        if self.flits == 0:
            return
        self._route_evaluate(t)
        self._vc_alloc_evaluate(t)
        self._sw_alloc_evaluate(t)
        self._route_update(t)
        self._vc_alloc_update(t)
        self._sw_alloc_update(t)

    def _route_evaluate(self, t):
        for _p, _v, ivc in self.vcs():
            if ivc.rt_due == PENDING:
                ivc.rt_due = t + self.net.rd - 1

    # ---- VC allocation ---------------------------------------------------------------------------------
    def _vc_alloc_evaluate(self, t):
        """Input arbiters (per input VC), multicast heads (all branches or none), then output arbiters (per
        output VC); updates scheduled."""
        evaluated, to_out = self._va_requests()
        self._va_multicast(evaluated)
        for o, inputs in to_out.items():
            if self.out_inuse[o // self.net.V][o % self.net.V]:
                continue                     # reserved by a multicast head
            win = self.va_out_arb[o // self.net.V][o % self.net.V].pick(inputs)
            self._va_grant(win, o)
        for ivc in evaluated.values():
            ivc.va_due = t + self.net.vad - 1
        if self.net.vad > 1:                 # a grant whose output VC was taken meanwhile is lost
            for p, v, ivc in self.vcs():
                if (p, v) not in evaluated and 0 <= ivc.va_due <= t and ivc.va_res >= 0 \
                        and self.out_inuse[ivc.va_res // self.net.V][ivc.va_res % self.net.V]:
                    ivc.va_res = -2

    def _va_requests(self):
        """{(port, vc): input VC} waiting for VC allocation, {output VC: [requesting unicast input VCs]}."""
        V = self.net.V
        evaluated, to_out = {}, {}
        for p, v, ivc in self.vcs():
            if ivc.va_due != PENDING:
                continue
            evaluated[(p, v)] = ivc
            ivc.va_res = -2
            if len(ivc.ports) > 1:
                continue
            out_port = ivc.ports[0]
            reqs = [out_port * V + ov for ov in range(V) if not self.out_inuse[out_port][ov]]
            choice = self.va_in_arb[p][v].pick(reqs)
            if choice >= 0:
                ivc.va_res = -3
                to_out.setdefault(choice, []).append(p * V + v)
        return evaluated, to_out

    def _va_multicast(self, evaluated):
        """Branch heads, in round-robin order after the last one served: each takes a free VC with room for the
        whole packet on every branch port at once, or nothing."""
        V = self.net.V
        heads = [p * V + v for (p, v), ivc in evaluated.items() if len(ivc.ports) > 1]
        for li in sorted(heads, key=lambda i: (i - self.mc_last - 1) % (self.net.P * V)):
            ivc = self.inp[li // V][li % V]
            arb = self.va_in_arb[li // V][li % V]
            flits = ivc.buf[0][0].flits
            picks = [arb.pick([o * V + v for v in range(V)
                               if not self.out_inuse[o][v] and self._has_credit(o, v, flits)])
                     for o in ivc.ports]
            if min(picks) < 0:
                continue
            for oi in picks:
                o, ov = divmod(oi, V)
                self.out_inuse[o][ov] = True
                ivc.ovc[o] = ov
                arb.pointer = oi
                self.va_out_arb[o][ov].pointer = li
            ivc.va_res = RESERVED
            self.mc_last = li

    def _va_grant(self, win, o):
        V = self.net.V
        self.inp[win // V][win % V].va_res = o
        self.va_in_arb[win // V][win % V].pointer = o
        self.va_out_arb[o // V][o % V].pointer = win

    def _vc_alloc_update(self, t):
        for _p, _v, ivc in self.vcs():
            if 0 <= ivc.va_due <= t:
                ivc.va_due = PENDING
                if ivc.va_res >= 0:
                    port, ov = divmod(ivc.va_res, self.net.V)
                    self.out_inuse[port][ov] = True
                    ivc.ovc[port] = ov
                if ivc.va_res >= 0 or ivc.va_res == RESERVED:
                    ivc.pend = set(ivc.ports)
                    ivc.state, ivc.va_due, ivc.sa_due = ACTIVE, NONE, PENDING

    # ---- switch allocation and traversal ---------------------------------------------------------------
    def _sw_alloc_evaluate(self, t):
        """One VC per (input, output) by the rotating offset, then input and output round-robin arbiters."""
        pair, bidding = self._sa_requests()
        won, mvc = self._sa_arbitrate(pair) if bidding else ({}, {})
        for p, v, ivc in self.vcs():
            if (p, v) in bidding:
                outs = won.get(p, ())
                if p in mvc:
                    ok = mvc[p] == v and outs
                else:
                    ok = outs and pair.get((p, outs[0])) == v
                ivc.sa_res = tuple(outs) if ok else ()
                if ok:
                    self.sw_off[p] = (v + 1) % self.net.V
                ivc.sa_due = t + self.net.sad - 1
            elif self.net.sad > 1 and 0 <= ivc.sa_due <= t and ivc.sa_res:
                # a grant about to complete keeps only the outputs with a credit left
                ivc.sa_res = tuple(o for o in ivc.sa_res if self._has_credit(o, ivc.ovc[o]))

    def _sa_requests(self):
        """{(input, output): the VC bidding}, {(port, vc) of every VC waiting for switch allocation}."""
        pair, bidding = {}, set()
        for p, v, ivc in self.vcs():
            if ivc.sa_due != PENDING:
                continue
            bidding.add((p, v))
            off = self.sw_off[p]
            for o in sorted(ivc.pend):
                if not self._has_credit(o, ivc.ovc[o]):
                    continue
                cur = pair.get((p, o))
                if cur is None or (v - off) % self.net.V < (cur - off) % self.net.V:
                    pair[(p, o)] = v
        return pair, bidding

    def _sa_arbitrate(self, pair):
        """({input port: [output ports granted]}, {input port: its multicast VC that bid}). An input whose
        arbiter picks a branch head's VC bids for all that VC's pending outputs with a credit."""
        out_reqs, mvc = {}, {}
        for p in range(self.net.P):
            o = self.sa_in_arb[p].pick([o for (i, o) in pair if i == p])
            if o < 0:
                continue
            ivc = self.inp[p][pair[(p, o)]]
            if len(ivc.ports) > 1:
                mvc[p] = pair[(p, o)]
                for q in sorted(ivc.pend):
                    if self._has_credit(q, ivc.ovc[q]):
                        out_reqs.setdefault(q, []).append(p)
            else:
                out_reqs.setdefault(o, []).append(p)
        won = {}
        for o in sorted(out_reqs):
            i = self.sa_out_arb[o].pick(out_reqs[o])
            won.setdefault(i, []).append(o)
            self.sa_in_arb[i].pointer = o
            self.sa_out_arb[o].pointer = i
        return won, mvc

    def _route_update(self, t):
        for _p, _v, ivc in self.vcs():
            if 0 <= ivc.rt_due <= t:
                ivc.rt_due = NONE
                self._set_route(ivc)

    def _sw_alloc_update(self, t):
        """Granted flits cross the switch; a credit goes upstream for each."""
        for p, v, ivc in self.vcs():
            if 0 <= ivc.sa_due <= t:
                ivc.sa_due = PENDING
                if ivc.sa_res:
                    self._traverse(t, p, v, ivc)

    def _traverse(self, t, p, v, ivc):
        """The front flit is copied to every output granted; it leaves once every branch has it."""
        pkt, fi = ivc.buf[0]
        tail = fi == pkt.flits - 1
        for o in ivc.sa_res:
            ov = ivc.ovc[o]
            self.out_occ[o][ov] += 1
            if tail:
                self.out_inuse[o][ov] = False
            self.net.send_flit(t, self.id, o, ov, (pkt, fi))
        ivc.pend -= set(ivc.sa_res)
        if ivc.pend:
            return
        ivc.buf.popleft()
        self.flits -= 1
        ivc.pend = set(ivc.ports)
        self.net.send_credit(t, self.id, p, v)
        if not ivc.buf:
            ivc.sa_due = NONE
            if tail:
                ivc.state = IDLE
        elif tail:
            ivc.sa_due = NONE
            self._start_head(ivc, t)


class RefNoc:
    """Unicast mesh with BookSim timing: the same results as `coresim.noc.network.Noc`, slowly."""

    def __init__(self, width, height, vcs, buffer_flits, rd=1, vad=1, sad=1, std=1, link=1, crd=0, yx=False,
                 rx_flits=-1, tx_flits=-1, C=1):
        self.W, self.H, self.V, self.B, self.C = width, height, vcs, buffer_flits, C
        self.P = 4 + C
        self.rd, self.vad, self.sad, self.stx, self.link, self.crd, self.yx = \
            rd, vad, sad, max(1, std), link, crd, yx
        self.routers = [Router(self, r) for r in range(width * height)]
        self.events: dict[int, list] = {}       # cycle -> [(kind, args)]
        n = width * height * C                   # cores: per-core terminals below
        self.queues = [deque() for _ in range(n)]
        self.src_inuse = [[False] * vcs for _ in range(n)]
        self.src_occ = [[0] * vcs for _ in range(n)]
        self.src_lastvc = [-1] * n
        self.src_vc = [-1] * n
        self.src_fi = [0] * n
        self.delivered: list[tuple[int, int, int, int, int]] = []   # tag, dst, ctime, itime, etime
        self.rx_flits, self.tx_flits = rx_flits, tx_flits
        self.rx = [deque() for _ in range(n)]       # receive FIFO: (packet, flit index, vc)
        self.sq = [0] * n                            # send queue: flits made, not yet sent
        self.shift = [0] * n                         # cycles the neuron unit runs late
        self.window = [(0, 0, 0)] * n                # SRAM port window: start, cycles, busy cycles

    def set_port_window(self, core, start, cycles, busy):
        self.window[core] = (start, cycles, min(busy, cycles))

    def port_free(self, core, t):
        a, n, u = self.window[core]
        i = t - a
        return not 0 <= i < n or (i + 1) * u // n == i * u // n

    def inject(self, tag, src, dst, flits, ctime):
        self.queues[src].append(Packet(tag, src, dst, flits, ctime, self.yx))

    def inject_multicast(self, tag, src, dsts, flits, ctime):
        """A packet to several cores: one tree packet if it fits a VC buffer, else one unicast packet per
        destination (in core order, same tag), as `Noc.inject_multicast` sends it."""
        dsts = sorted(set(dsts))
        if len(dsts) > 1 and flits <= self.B:
            self.queues[src].append(Packet(tag, src, -1, flits, ctime, self.yx, dsts=tuple(dsts)))
        else:
            for d in dsts:
                self.inject(tag, src, d, flits, ctime)

    def port(self, r, dst, yx) -> int:
        """The dimension-order output port at router r towards core dst (4 + its local index: eject)."""
        W, rd = self.W, dst // self.C
        if rd == r:
            return 4 + dst % self.C
        x, y, dx, dy = r % W, r // W, rd % W, rd // W
        if yx and dy != y or (not yx and dx == x):
            return 2 if dy > y else 3
        return 0 if dx > x else 1

    def path(self, src, dst, yx) -> list[int]:
        """The routers a packet visits from core src to core dst."""
        r, out = src // self.C, [src // self.C]
        while r != dst // self.C:
            r += (1, -1, self.W, -self.W)[self.port(r, dst, yx)]
            out.append(r)
        return out

    def route_ports(self, r, pkt) -> tuple:
        """The output ports the packet takes at router r: for a tree, the ports towards every destination whose
        path crosses r."""
        if not pkt.dsts:
            return (self.port(r, pkt.dst, pkt.route_yx),)
        return tuple(sorted({self.port(r, d, pkt.route_yx) for d in pkt.dsts
                             if r in self.path(pkt.src, d, pkt.route_yx)}))

    def _local(self, core) -> tuple[int, int]:
        """(router, port) of core's terminal: its injection input and ejection output."""
        return core // self.C, 4 + core % self.C

    def _at(self, cycle, *event):
        self.events.setdefault(cycle, []).append(event)

    def send_flit(self, t, r, port, vc, flit):
        if port >= 4:
            self._at(t + self.stx + 2, "eject", r * self.C + port - 4, vc, flit)
        else:
            x, y = r % self.W, r // self.W
            nx, ny = x + (1, -1, 0, 0)[port], y + (0, 0, 1, -1)[port]
            self._at(t + self.stx + 1 + self.link, "flit", ny * self.W + nx, port ^ 1, vc, flit)

    def send_credit(self, t, r, in_port, vc):
        if in_port >= 4:
            self._at(t + 2, "src_credit", r * self.C + in_port - 4, vc)
        else:
            x, y = r % self.W, r // self.W
            nx, ny = x + (1, -1, 0, 0)[in_port], y + (0, 0, 1, -1)[in_port]
            self._at(t + 1 + self.link + self.crd, "credit", ny * self.W + nx, in_port ^ 1, vc)

    def run(self, until):
        for t in range(until):
            events = self.events.pop(t, [])
            self._terminals(t, events)
            for s, q in enumerate(self.queues):
                if self.tx_flits >= 0:
                    self._make(t, s, q)
                if q and (q[0].made if self.tx_flits >= 0 else q[0].ctime <= t):
                    self._inject(t, s, q)
            for ev in events:                      # routers: credits, then arriving flits
                if ev[0] == "credit":
                    self.routers[ev[1]].out_occ[ev[2]][ev[3]] -= 1
            for ev in events:
                if ev[0] == "flit":
                    _, r, port, vc, flit = ev
                    self.routers[r].receive(t, port, vc, flit)
            for router in self.routers:
                router.step(t)
            if not self.events and not any(self.queues) and self._drained():
                break                              # nothing left to happen
        return self.delivered

    def _drained(self):
        return not any(self.rx) and not any(router.flits for router in self.routers)

    def _terminals(self, t, events):
        """Ejection (credit back to the router, delivery of tails) and injection credits."""
        for ev in events:
            if ev[0] == "eject" and self.rx_flits >= 0:
                _, r, vc, (pkt, fi) = ev
                if len(self.rx[r]) < self.rx_flits:
                    self._at(t + 2 + self.crd, "credit", *self._local(r), vc)
                self.rx[r].append((pkt, fi, vc))
            elif ev[0] == "eject":
                _, r, vc, (pkt, fi) = ev
                self._at(t + 2 + self.crd, "credit", *self._local(r), vc)
                if fi == pkt.flits - 1:
                    self.delivered.append((pkt.tag, r, pkt.ctime, pkt.itime, t))
            elif ev[0] == "src_credit":
                self.src_occ[ev[1]][ev[2]] -= 1
        if self.rx_flits >= 0:
            for r, fifo in enumerate(self.rx):
                if fifo and self.port_free(r, t):
                    self._write(t, r, fifo)

    def _write(self, t, r, fifo):
        """The head of the receive FIFO goes to SRAM; the first flit waiting outside the buffer moves in."""
        pkt, fi, vc = fifo.popleft()
        if self.rx_flits == 0:
            self._at(t + 2 + self.crd, "credit", *self._local(r), vc)
        elif len(fifo) >= self.rx_flits:
            self._at(t + 2 + self.crd, "credit", *self._local(r), fifo[self.rx_flits - 1][2])
        if fi == pkt.flits - 1:
            self.delivered.append((pkt.tag, r, pkt.ctime, pkt.itime, t))

    def _make(self, t, s, q):
        """Make planned packets in queue order while the send queue has room; a late one delays the rest."""
        for pkt in q:
            if pkt.made:
                continue
            if pkt.ctime + self.shift[s] > t or self.sq[s] + pkt.flits > self.tx_flits:
                return
            self.shift[s] = t - pkt.ctime
            pkt.ctime, pkt.made = t, True
            self.sq[s] += pkt.flits

    def _inject(self, t, s, q):
        """Source s sends one flit of its first packet into its router, if its VC has a credit."""
        pkt = q[0]
        if self.src_vc[s] < 0:
            self._source_vc(s)
        vc = self.src_vc[s]
        if vc < 0 or self.src_occ[s][vc] >= self.B:
            return
        fi = self.src_fi[s]
        self.src_occ[s][vc] += 1
        self.sq[s] -= 1
        self._at(t + 2, "flit", *self._local(s), vc, (pkt, fi))
        if fi == 0:
            pkt.itime = t
        if fi == pkt.flits - 1:
            self.src_inuse[s][vc], self.src_vc[s], self.src_fi[s] = False, -1, 0
            q.popleft()
        else:
            self.src_fi[s] = fi + 1

    def _source_vc(self, s):
        """The next free injection VC with a credit, round robin."""
        lvc = self.src_lastvc[s]
        for i in range(1, self.V + 1):
            vc = 0 if lvc < 0 else (lvc + i) % self.V
            if not self.src_inuse[s][vc] and self.src_occ[s][vc] < self.B:
                self.src_vc[s], self.src_inuse[s][vc], self.src_lastvc[s] = vc, True, vc
                return
