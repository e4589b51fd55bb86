"""Plain-Python twin of `coresim.kernels.event_chip`: the same model (its module docstring) written for clarity
- objects, deques, one method per stage - and stepped one cycle at a time, every entity looked at every cycle,
no skipping. Slow; the tests compare its every output with the kernel's on small chips."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Msg:
    idx: int                 # row: program messages, then host messages
    src: int                 # core, -1 host
    dst: int
    flits: int
    work: int
    gate: int
    gen: int = 0             # soma cycles to form it (program messages)
    arrival: int = 0         # host messages: cycle at the host port
    ready: int = 0           # cycle it may leave its current router input
    key: int = 0             # cycle it is in the destination's receive queue
    sent: int = -1
    eject: int = -1
    done: int = -1


@dataclass
class InPort:
    cap: int
    fifo: deque = field(default_factory=deque)
    free_at: int = 0         # the previous packet's tail has left
    occ: int = 0             # flits whose room is not yet returned


@dataclass
class OutPort:
    busy_until: int = 0
    last: int = -1
    flits: int = 0


class Router:
    def __init__(self, rid: int, net: int, W: int, C: int, router_caps, send_caps):
        self.id, self.net, self.x, self.y = rid, net, rid % W, rid // W     # id: within its network
        self.inp = [InPort(int(router_caps[p])) for p in range(4)] + [InPort(int(send_caps[i])) for i in range(C)]
        self.out = [OutPort() for _ in range(4 + C)]


@dataclass
class Op:
    gate: int
    cycles: int
    msgs: list


class Core:
    def __init__(self, cid: int, ops: list[Op], rx_cap: int):
        self.id, self.ops = cid, ops
        self.op_i, self.msg_i = 0, 0
        self.phase, self.until, self.formed = "start", 0, 0   # start | op | gen | wait | done
        self.rx_cap, self.rx_occ = rx_cap, 0
        self.from_noc: deque = deque()       # ejected packets, in ejection order
        self.from_self: deque = deque()
        self.from_host: deque = deque()      # entered host messages
        self.host_port: deque = deque()      # host messages not yet entered, in arrival order
        self.cur: Msg | None = None
        self.cur_end = 0
        self.soma_busy = self.stall = self.syn_busy = self.peak_tx = self.peak_rx = 0
        self.soma_end = -1                    # the cycle its last op was done


class RefChip:
    def __init__(self, program, chip):
        self.W, self.H, self.C = chip.width, chip.height, chip.cores_per_tile
        self.pipe, self.link, self.ser = chip.pipe_cycles, chip.link_cycles, chip.flit_cycles
        self.credit, self.yx = chip.credit_cycles, bool(chip.yx)
        R, NC = self.W * self.H, self.W * self.H * self.C
        rcap = np.broadcast_to(np.asarray(chip.router_buffer_flits), (R, 4))
        scap = np.broadcast_to(np.asarray(chip.send_buffer_flits), (NC,)).reshape(R, self.C)
        xcap = np.broadcast_to(np.asarray(chip.receive_buffer_flits), (NC,))
        self.M = chip.networks               # router k * R + r: router r of network k
        self.routers = [Router(r, k, self.W, self.C, rcap[r], scap[r]) for k in range(self.M) for r in range(R)]
        self.msgs: list[Msg] = []
        self.cores = [Core(c, self._ops(program, c), int(xcap[c])) for c in range(NC)]
        self.n_prog = len(self.msgs)
        hc = [] if program.host_cycle is None else list(program.host_cycle)
        hf = [1] * len(hc) if program.host_flits is None else list(program.host_flits)
        for k in range(len(hc)):
            self.msgs.append(Msg(len(self.msgs), -1, int(program.host_dst[k]), int(hf[k]),
                                 int(program.host_work[k]), int(program.host_gate[k]), arrival=int(hc[k])))
        self.host_waiting = sorted(self.msgs[self.n_prog:], key=lambda m: (m.arrival, m.idx))
        self.need = [int(x) for x in program.gate_need]
        self.count = [0] * len(self.need)
        self.credits: list[tuple[int, InPort, int]] = []     # (cycle, input FIFO, flits)
        self.moved_at = 0

    def _ops(self, p, c) -> list[Op]:
        ops = []
        for k in range(int(p.op_ptr[c]), int(p.op_ptr[c + 1])):
            msgs = []
            for j in range(int(p.msg_ptr[k]), int(p.msg_ptr[k + 1])):
                m = Msg(j, c, int(p.msg_dst[j]), int(p.msg_flits[j]), int(p.msg_work[j]), int(p.msg_gate[j]),
                        gen=int(p.msg_gen[j]))
                self.msgs.append(m)
                msgs.append(m)
            ops.append(Op(int(p.op_gate[k]), int(p.op_cycles[k]), msgs))
        return ops

    # ---- geometry --------------------------------------------------------------------------------------------
    def out_port(self, router: Router, m: Msg) -> int:
        """Dimension-order route: the output port at `router` for message m."""
        d = m.dst // self.C
        dx, dy = d % self.W, d // self.W
        if (dx, dy) == (router.x, router.y):
            return 4 + m.dst % self.C
        if dx != router.x and not (self.yx and dy != router.y):
            return 0 if dx > router.x else 1
        return 2 if dy > router.y else 3

    def neighbour(self, router: Router, port: int) -> tuple[Router, int]:
        x = router.x + {0: 1, 1: -1}.get(port, 0)
        y = router.y + {2: 1, 3: -1}.get(port, 0)
        return self.routers[router.net * self.W * self.H + y * self.W + x], port ^ 1

    def first_too_small(self) -> tuple[Msg, str, int, int] | None:
        """The first message larger than a buffer on its way: (message, kind, id, capacity)."""
        for m in self.msgs:
            if m.src >= 0 and m.src != m.dst:
                r = self.routers[m.src // self.C]
                local = r.inp[4 + m.src % self.C]
                if m.flits > local.cap:
                    return m, "send", m.src, local.cap
                while (p := self.out_port(r, m)) < 4:
                    r, q = self.neighbour(r, p)
                    if m.flits > r.inp[q].cap:
                        return m, "router", r.id * (4 + self.C) + q, r.inp[q].cap
            if m.flits > self.cores[m.dst].rx_cap:
                return m, "receive", m.dst, self.cores[m.dst].rx_cap
        return None

    # ---- the four stages -------------------------------------------------------------------------------------
    def deliveries(self, t: int) -> bool:
        """Stage 1: credits due return room; host messages enter, per core in order, while they fit."""
        for due in [x for x in self.credits if x[0] == t]:
            due[1].occ -= due[2]
            self.credits.remove(due)
        while self.host_waiting and self.host_waiting[0].arrival == t:
            m = self.host_waiting.pop(0)
            self.cores[m.dst].host_port.append(m)
        moved = False
        for core in self.cores:
            while core.host_port and core.rx_cap - core.rx_occ >= core.host_port[0].flits:
                m = core.host_port.popleft()
                core.rx_occ += m.flits
                core.peak_rx = max(core.peak_rx, core.rx_occ)
                m.eject = m.key = t
                core.from_host.append(m)
                moved = True
        return moved

    def synapse(self, core: Core, t: int) -> bool:
        """Stage 2: finish the message ending at t, take the next ones (smallest (key, source))."""
        moved = False
        while True:
            if core.cur is not None:
                if core.cur_end > t:
                    return moved
                core.cur.done = t
                if core.cur.gate >= 0:
                    self.count[core.cur.gate] += 1
                core.cur, moved = None, True
            heads = [(q[0].key, q[0].src, q) for q in (core.from_noc, core.from_self, core.from_host)
                     if q and q[0].key <= t]
            if not heads:
                return moved
            _, _, q = min(heads, key=lambda h: (h[0], h[1]))
            m = q.popleft()
            core.rx_occ -= m.flits
            core.cur, core.cur_end, moved = m, t + m.work, True
            core.syn_busy += m.work

    def router(self, router: Router, t: int) -> bool:
        """Stage 3: each output, in port order, grants one ready head that fits downstream (round robin)."""
        moved = False
        P = 4 + self.C
        for o, out in enumerate(router.out):
            if out.busy_until > t:
                continue
            for k in range(1, P + 1):
                p = (out.last + k) % P
                inp = router.inp[p]
                if not inp.fifo or inp.free_at > t or inp.fifo[0].ready > t or self.out_port(router, inp.fifo[0]) != o:
                    continue
                if self.room(router, o) >= inp.fifo[0].flits:
                    self.grant(router, o, p, t)
                    moved = True
                    break
        return moved

    def room(self, router: Router, o: int) -> int:
        if o >= 4:
            core = self.cores[router.id * self.C + o - 4]
            return core.rx_cap - core.rx_occ
        nr, q = self.neighbour(router, o)
        return nr.inp[q].cap - nr.inp[q].occ

    def grant(self, router: Router, o: int, p: int, t: int) -> None:
        inp, out = router.inp[p], router.out[o]
        m = inp.fifo.popleft()
        busy = m.flits * self.ser
        inp.free_at = out.busy_until = t + busy
        out.last = p
        out.flits += m.flits
        self.credits.append((t + busy + self.credit, inp, m.flits))
        if o < 4:
            nr, q = self.neighbour(router, o)
            nr.inp[q].occ += m.flits
            m.ready = t + 1 + self.link + self.pipe - 1
            nr.inp[q].fifo.append(m)
        else:
            core = self.cores[router.id * self.C + o - 4]
            core.rx_occ += m.flits
            core.peak_rx = max(core.peak_rx, core.rx_occ)
            m.eject = t + 2
            m.key = t + 2 + (m.flits - 1) * self.ser
            core.from_noc.append(m)

    def soma(self, core: Core, t: int) -> bool:
        """Stage 4: advance the soma as far as it goes at t."""
        moved = False
        while True:
            if core.phase == "start":
                if core.op_i == len(core.ops):
                    core.phase, core.soma_end = "done", t
                    return moved
                op = core.ops[core.op_i]
                if op.gate >= 0 and self.count[op.gate] < self.need[op.gate]:
                    return moved
                core.phase, core.until, core.msg_i, moved = "op", t + op.cycles, 0, True
                core.soma_busy += op.cycles
            elif core.phase in ("op", "gen"):
                if core.until > t:
                    return moved
                moved = True
                if core.phase == "gen":
                    core.phase, core.formed = "wait", t
                    continue
                op = core.ops[core.op_i]
                if core.msg_i == len(op.msgs):
                    core.op_i, core.phase = core.op_i + 1, "start"
                    continue
                gen = op.msgs[core.msg_i].gen
                core.phase, core.until = "gen", t + gen
                core.soma_busy += gen
            elif core.phase == "wait":
                if not self.enter(core, core.ops[core.op_i].msgs[core.msg_i], t):
                    return moved
                core.stall += t - core.formed
                core.msg_i += 1
                core.phase, core.until, moved = "op", t, True
            else:
                return moved

    def enter(self, core: Core, m: Msg, t: int) -> bool:
        if m.dst == core.id:
            if core.rx_cap - core.rx_occ < m.flits:
                return False
            core.rx_occ += m.flits
            core.peak_rx = max(core.peak_rx, core.rx_occ)
            m.eject = m.key = t
            core.from_self.append(m)
        else:
            net = m.idx % self.M             # message j travels on network j mod M
            inp = self.routers[net * self.W * self.H + core.id // self.C].inp[4 + core.id % self.C]
            if inp.cap - inp.occ < m.flits:
                return False
            inp.occ += m.flits
            core.peak_tx = max(core.peak_tx, inp.occ)
            m.ready = t + 2 + self.pipe - 1
            inp.fifo.append(m)
        m.sent = t
        return True

    # ---- the clock ---------------------------------------------------------------------------------------------
    def step(self, t: int) -> bool:
        moved = self.deliveries(t)
        moved |= any([self.synapse(c, t) for c in self.cores])
        moved |= any([self.router(r, t) for r in self.routers])
        moved |= any([self.soma(c, t) for c in self.cores])
        return moved

    def finished(self) -> bool:
        return all(c.phase == "done" for c in self.cores) and all(m.done >= 0 for m in self.msgs)

    def timers_after(self, t: int) -> bool:
        """Anything that will change by itself after t (so a still cycle is not yet a deadlock)."""
        cores = any((c.phase in ("op", "gen") and c.until > t) or (c.cur is not None and c.cur_end > t)
                    or any(m.key > t for m in c.from_noc) for c in self.cores)
        fifos = any(inp.free_at > t or any(m.ready > t for m in inp.fifo) for r in self.routers for inp in r.inp)
        outs = any(o.busy_until > t for r in self.routers for o in r.out)
        return cores or fifos or outs or any(x[0] > t for x in self.credits) or bool(self.host_waiting)

    def run(self) -> tuple[str, int]:
        if self.first_too_small() is not None:
            return "oversize", 0
        t = 0
        while True:
            if self.step(t):
                self.moved_at = t
            if self.finished():
                return "ok", t
            if self.moved_at != t and not self.timers_after(t):
                return "deadlock", self.moved_at
            t += 1


def time_window_ref(program, chip) -> dict:
    """The twin's results as a dict of the `WindowTiming` fields it shares (lists of ints); `blocked` is only
    the oversize resource, ("send" | "router" | "receive", id), or None."""
    net = RefChip(program, chip)
    status, end = net.run()
    bad = net.first_too_small()
    if status == "oversize":
        n = net.n_prog
        out = {"status": status, "end_cycle": 0, "too_small": (bad[0].idx, bad[1], bad[2], bad[3])}
        for name in ("msg_sent", "msg_eject", "msg_done"):
            out[name] = [-1] * n
        return out
    prog, host = net.msgs[:net.n_prog], net.msgs[net.n_prog:]
    cores = net.cores
    return {"status": status, "end_cycle": end,
            "msg_sent": [m.sent for m in prog], "msg_eject": [m.eject for m in prog],
            "msg_done": [m.done for m in prog], "host_enter": [m.eject for m in host],
            "host_done": [m.done for m in host],
            "soma_busy": [c.soma_busy for c in cores], "send_stall": [c.stall for c in cores],
            "synapse_busy": [c.syn_busy for c in cores], "peak_send_flits": [c.peak_tx for c in cores],
            "peak_receive_flits": [c.peak_rx for c in cores], "soma_end": [c.soma_end for c in cores],
            "link_flits": np.sum(np.reshape([o.flits for r in net.routers for o in r.out], (net.M, -1)),
                                 axis=0).tolist()}
