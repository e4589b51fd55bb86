"""Timing of one window of an event-driven chip with concurrent cores and finite buffers (issue 16).

A window is a timestep (or one layer phase of the `lockstep` schedule). The engine computes the data (which
neurons fire, dendrite sums) and hands this kernel a per-core program; the kernel returns the timing only.
The model is issue 16's note on the event kernel, made exact as follows; `event_chip_ref.py` is its plain-Python twin,
stepped cycle by cycle, and the tests compare the two field by field.

ENTITIES. Core c = router * C + local, router = y * W + x, ports 0 +x, 1 -x, 2 +y, 3 -y, 4 + i local core i
(as `coresim.noc.network.Noc`). Per core: a soma (with its axon-out), a send buffer, a receive buffer and
a synapse unit. The send buffer IS the router's local input port i (one FIFO, capacity `send_buffer_flits`);
router input ports 0..3 are FIFOs of `router_buffer_flits`; the receive buffer holds `receive_buffer_flits`.
Buffer room is counted in flits; a message (packet) of F flits needs room for all F to enter a buffer.

NETWORKS. `networks` = M independent physical meshes (`noc.physical_networks`; Loihi has two, both carrying
spikes): each has its own routers, links, router FIFOs and, per core, its own send buffer (local input port);
program message j travels on network j mod M; every network's local output ejects into the core's one receive
buffer. Input FIFO / output port x of network k is row k * R * (4 + C) + x; link flits are summed over networks.

PROGRAM. Per core, ops in order (CSR `op_ptr`), op k = (gate `op_gate[k]` or -1, `op_cycles[k]`), and per op
its messages (CSR `msg_ptr`), message j = (`msg_gen[j]` soma cycles to form it, `msg_dst[j]`, `msg_flits[j]`,
`msg_work[j]` synapse cycles at the destination, `msg_gate[j]` gate it counts for at the destination or -1).
Host messages (`host_cycle`, `host_dst`, `host_flits`, `host_work`, `host_gate`). Gate g opens when
`gate_need[g]` messages counting for it have been processed (need 0: open from the start).

TIMING (all integer cycles from the window start, 0):
* Soma: op k starts at the first cycle its gate is open and the previous op is done; it is busy
  `op_cycles[k]` cycles, then forms its messages one after the other: `msg_gen[j]` cycles each, then the
  message enters the send buffer at the first cycle it has room (the soma stalls until then: send-stall
  cycles). A message to the core itself enters its own receive buffer instead (needs room there; no NoC).
  The op is done when its last message has entered (or its cycles have elapsed if it has none); the next op
  may start in that same cycle. Zero-cycle steps chain within one cycle.
* Router: a packet that entered the send buffer at s reaches the router's local input at s + 2 (the
  injection channel, as the flit-level Noc's terminal channel); a packet arriving at an input port at cycle a
  is ready to leave at a + pipe - 1 (pipe = `noc_link.router_pipeline_cycles`: arrival to send, plus one,
  as in `noc_link`). Only the head packet of each input FIFO may request, and only once its input is free
  (the previous packet's tail has left) and it is ready; it requests the output of its dimension-order route
  (XY or YX; the local port 4 + i at its destination router). An output that is not busy grants, once per
  cycle, the first requester in round-robin order (input ports after the last one it granted, cyclically;
  initially from port 0) whose packet fits in the downstream buffer (the next router's input FIFO or, for
  a local output, the destination core's receive buffer): its room is reserved at once (virtual
  cut-through). On a grant at g: the output and the input are busy until g + F * ser (ser = `flit_cycles`);
  the packet leaves its input FIFO then, and its room there is free again at g + F * ser + credit (credit
  delay, for the send buffer too); the head reaches the next router at g + 1 + link (ready at
  g + link + pipe); on a local output the head is ejected into the receive buffer at g + 2 and the tail at
  g + 2 + (F - 1) * ser. A lone packet crossing n routers thus has its head ejected
  n * (pipe + link) + 3 - link cycles after it entered the send buffer: `noc_link.zero_load_cycles`, the
  flit-level Noc's zero-load latency.
* Receive queue: a message is in its core's receive queue from its key cycle on: NoC - its tail ejection,
  own core's or host message - the cycle it entered the receive buffer. The synapse unit, when idle, takes
  the message with the smallest (key, source core) (host = -1), frees its flits from the receive buffer at
  once, is busy `work` cycles and at the end counts it for its gate. A zero-work message ends in the cycle
  it was taken and the unit takes the next one in that cycle.
* Host messages enter their core's receive buffer at the first cycle >= `host_cycle` with room, in order of
  (host_cycle, index) per core (a core's waiting host messages do not hold up other cores').

PER-CYCLE ORDER (both implementations; within a stage the entities do not interact, so the order among them
is free, except the local outputs of different networks, which share a receive buffer: stage 3 takes network 0's
outputs first, then network 1's, ...; the twin takes every stage in index order):
  1. deliveries due at t: credits (buffer room returns), packets becoming ready at a router input, tails
     ejected (the message joins its receive queue); host messages arrive; each core's host port enters what
     fits into the receive buffer;
  2. synapse units: finish the message ending at t (its gate may open), take the next one;
  3. routers: every output grants at most one packet;
  4. somas: start ops, form messages, enter them into the send (or own receive) buffer.
  So room freed by a synapse at t is seen by the ejection output at t, then by the soma (own messages) at t,
  then by the host port at t + 1; a gate opened at t lets an op start at t; a message a soma enters at t is
  seen by a synapse (its own core's) at t + 1 at the earliest.

END. The window ends (status ok) at the cycle of the last completion: every op done and every message
processed (the NoC is then empty). If no activity remains possible (no timer pending, nothing can move) while
work is left, the status is deadlock and `end_cycle` is the last cycle anything moved (op started/ended,
message formed/entered/granted/taken/finished, host message entered): exact, no time-out window. A packet
larger than a buffer on its way (send buffer, router input FIFOs along its route, receive buffer) is
reported at once (status oversize, naming the first such message and buffer).

DECISIONS beyond the note: hop timing and the injection/ejection channels are chosen so that the zero-load
latency equals the flit-level Noc's (the note's literal "ready at a + pipe, head at grant + link + 1" would add
a cycle per hop); a packet leaves its input at grant + F * ser (the note: + F; equal for ser 1); the input, not
only the output, is busy while a packet streams out (one crossbar port); round robin skips requesters that do
not fit downstream (BookSim's VCs request only with credits); the credit delay applies to every input FIFO,
the send buffer included; the synapse unit starts a message once its tail is in; a core's queued host messages
do not hold up other cores'; ties in a receive queue go to the lower source core, the host counting as -1; the
deadlock test is exact (state frozen: no timer pending and nothing can move), not a time-out.

BUFFER SIZES AND TIMING. Shrinking a buffer never changes which messages are processed, but it can end a window
earlier (in ~0.7% of small random cases): Graham's anomaly of greedy allocation, inherent, not a round-robin
artefact. A delayed packet lets another take a shared resource first (a receive buffer is shared first-come
first-served by the NoC and the core's own messages), which can shorten the longest chain. Oldest-first
arbitration (by entry into the send buffer), and either rule without skipping requesters that do not fit,
fail as often (twin variants, benchmarks/RESULTS.md); the tests hold a 5-message counterexample in which no
router arbitrates at all. With one sending core (nothing competes) timing is monotone.

KERNEL (`event_chip_jit`: entry points; `event_chip_stages`: the cycle's stages and the clock; `event_chip_state`:
tables and primitives). Events (soma and synapse timers, arrivals, FIFO heads becoming eligible, outputs to re-
evaluate, host ports to retry) on a calendar wheel longer than the longest delay (a node goes first in its bucket:
the events of one cycle commute), except those due within NEAR - 1 = 7 cycles (most: a hop or a short step), which
go on that cycle's list (an array, no node); a cycle with nothing due is skipped; each cycle evaluates only the
entities on its four stage lists; each output keeps a bit mask of the input ports whose head requests it, each input
FIFO its head's ready cycle, size and output; round robin is a bit scan when every requester fits downstream; buffer
room comes back without events (a ring of recent departures per FIFO); the rows of the next event and of the next
output to evaluate are prefetched; a head's output port (its dimension-order route) is computed without branches
(the route is data-dependent: a mispredicted branch per hop cost ~3% of the kernel); messages are split into a hot
table (32 bytes) and a cold one, filled (links and result columns included) in one pass; the message tables and the
calendar are scratch buffers reused from window to window (one set per thread; results are copied out). One thread,
~2.2 M messages/s (~21 M flit-hops/s) on a 100k-neuron timestep at saturation (benchmarks/bench_event_kernel.py,
benchmarks/RESULTS.md); the per-hop grant - load latency of scattered per-port and per-packet state - is the cost.

API: `time_window(WindowProgram, ChipTiming) -> WindowTiming`; `ChipTiming.from_chip(chip_spec)`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from coresim.kernels import event_chip_jit as ks
from coresim.kernels import event_chip_state as st
from coresim.noc.link_kernel import flit_cycles, router_pipeline_cycles
from coresim.spec.chip import ChipSpec
from coresim.util import compile_first, compiling_aside

I64 = np.int64
STATUS = {st.OK: "ok", st.DEADLOCK: "deadlock", st.OVERSIZE: "oversize"}
NEXT_CAP = 0    # events a near-cycle list holds before the wheel takes them (0: as many as it has rows); the same
                # timing for any value (tests/test_event_chip_kernel.py)


class WindowProgram(NamedTuple):
    """What every core does in one window (int64 arrays; see the module docstring). Ops of core c:
    op_ptr[c]:op_ptr[c + 1]; messages of op k: msg_ptr[k]:msg_ptr[k + 1]. Host arrays may be omitted (None)."""

    op_ptr: np.ndarray          # (n_cores + 1,)
    op_gate: np.ndarray         # (n_ops,) gate the op waits on, -1 none
    op_cycles: np.ndarray       # (n_ops,) soma cycles
    msg_ptr: np.ndarray         # (n_ops + 1,)
    msg_gen: np.ndarray         # (n_msgs,) soma cycles to form the message (axon-out)
    msg_dst: np.ndarray         # destination core
    msg_flits: np.ndarray       # packet size, >= 1
    msg_work: np.ndarray        # synapse-unit cycles at the destination
    msg_gate: np.ndarray        # gate the message counts for once processed, -1 none
    gate_need: np.ndarray       # (n_gates,) processed messages that open the gate
    host_cycle: np.ndarray | None = None     # (n_host,) arrival cycle at the destination's host port
    host_dst: np.ndarray | None = None
    host_flits: np.ndarray | None = None
    host_work: np.ndarray | None = None
    host_gate: np.ndarray | None = None


class ChipTiming(NamedTuple):
    """Geometry, delays and buffer sizes. Buffers: one size for all, or per FIFO: router input ports as
    (n_routers, 4), send and receive buffers per core."""

    width: int
    height: int
    cores_per_tile: int
    pipe_cycles: int = 3            # arrival to send + 1 (noc_link.router_pipeline_cycles), >= 1
    link_cycles: int = 1
    flit_cycles: int = 1            # cycles per flit on an output (noc_link.flit_cycles)
    credit_cycles: int = 0
    yx: bool = False
    router_buffer_flits: int | np.ndarray = 16
    send_buffer_flits: int | np.ndarray = 16
    receive_buffer_flits: int | np.ndarray = 16
    networks: int = 1               # independent physical meshes spike messages alternate over (NETWORKS)

    @classmethod
    def from_chip(cls, chip: ChipSpec) -> ChipTiming:
        """From a chip spec: a router FIFO holds all its VCs' flits; the receive buffer is
        `receive_buffer_kib` in flits (at least one)."""
        noc, r, m = chip.noc, chip.noc.router, chip.mesh
        return cls(m.width, m.height, m.cores_per_tile, router_pipeline_cycles(noc), noc.link_latency_cycles,
                   flit_cycles(noc), r.credit_delay_cycles, noc.routing == "yx", r.vcs * r.buffer_flits,
                   chip.core.send_buffer_flits, max(1, int(chip.core.receive_buffer_kib * 1024) // noc.flit_bytes),
                   noc.physical_networks)


@dataclass(frozen=True)
class WindowTiming:
    """Timing of one window. Cycles from the window start; -1 where it did not happen (deadlock)."""

    status: str                 # "ok", "deadlock" or "oversize"
    end_cycle: int              # ok: last completion; deadlock: last cycle anything moved; oversize: 0
    blocked: str                # one line naming the blocked resources ("" when ok)
    msg_sent: np.ndarray        # per message: entered the send buffer (or its own core's receive buffer)
    msg_eject: np.ndarray       # head ejected into the destination's receive buffer (own core: = msg_sent)
    msg_done: np.ndarray        # processing ended
    host_enter: np.ndarray      # per host message: entered the receive buffer
    host_done: np.ndarray
    soma_busy: np.ndarray       # per core: soma cycles (ops + message forming)
    send_stall: np.ndarray      # cycles formed messages waited for room
    synapse_busy: np.ndarray
    peak_send_flits: np.ndarray     # flits in the send buffer, their room not yet returned included
    peak_receive_flits: np.ndarray  # flits in or reserved in the receive buffer
    soma_end: np.ndarray        # cycle the core's last op was done (-1: it never was)
    link_flits: np.ndarray      # per router output port, router * (4 + C) + port (Noc.link_flits layout)

    @property
    def flit_hops(self) -> int:
        """Flits times routers crossed (ejection included), as `Noc.flit_hops`."""
        return int(self.link_flits.sum())


_SCRATCH = threading.local()


def _scratch(name: str, size: int) -> np.ndarray:
    """A reused int64 buffer of at least `size` values (one per thread and name): large tables are not
    allocated (and page-faulted in) again for every window; their contents are copied out before the next."""
    buf = getattr(_SCRATCH, name, None)
    if buf is None or buf.size < size:
        buf = np.empty(size + size // 4, I64)
        setattr(_SCRATCH, name, buf)
    return buf


def _arr(a, n: int | None = None) -> np.ndarray:
    x = np.zeros(0, I64) if a is None else np.ascontiguousarray(a, dtype=I64).ravel()
    if n is not None and x.size != n:
        raise ValueError(f"expected {n} values, got {x.size}")
    return x


def _per(v, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A buffer size: one for all or one per buffer; every one at least a flit."""
    a = np.broadcast_to(np.asarray(v, dtype=I64), shape).ravel().copy()
    if a.size and a.min() < 1:
        raise ValueError(f"{what} must be at least 1 flit")
    return a


def _messages(p: WindowProgram, NC: int, W: int, C: int) -> tuple:
    """Message tables (program messages, then host ones; hot `MH` and cold `MS`, as `event_chip_jit`), ops
    table, op_ptr, (max flits, max work, max gen)."""
    op_ptr = _arr(p.op_ptr, NC + 1)
    n_ops = int(op_ptr[-1])
    if op_ptr[0] != 0 or (op_ptr[1:] < op_ptr[:-1]).any():      # (np.diff: 4x the time, every window)
        raise ValueError("op_ptr must start at 0 and not decrease")
    msg_ptr = _arr(p.msg_ptr, n_ops + 1)
    n = int(msg_ptr[-1])
    if msg_ptr[0] != 0 or (msg_ptr[1:] < msg_ptr[:-1]).any():
        raise ValueError("msg_ptr must start at 0 and not decrease")
    OPS = np.empty((n_ops, 4), I64)
    OPS[:, st.P_GATE], OPS[:, st.P_CYC] = _arr(p.op_gate, n_ops), _arr(p.op_cycles, n_ops)
    OPS[:, st.P_M0], OPS[:, st.P_M1] = msg_ptr[:-1], msg_ptr[1:]
    nh = _arr(p.host_cycle).size
    hf = np.ones(nh, I64) if p.host_flits is None else p.host_flits
    cols = [_arr(a, n) for a in (p.msg_gen, p.msg_dst, p.msg_flits, p.msg_work, p.msg_gate)]
    cols += [_arr(a, nh) for a in (p.host_cycle, p.host_dst, hf, p.host_work, p.host_gate)]
    MH, MS, (lo_d, hi_d, lo_f, lo_c, *most) = ks.tables(op_ptr, msg_ptr, *cols, W, C,
                                                           _scratch("msgs", (n + nh) * (st.N_H + st.N_X)))
    if lo_d < 0 or hi_d >= NC:
        raise ValueError(f"destination core out of range 0..{NC - 1}")
    if lo_f < 1 or lo_c < 0:
        raise ValueError("messages need >= 1 flit and cycles >= 0")
    return MH, MS, OPS, op_ptr, [int(x) for x in most]


def _gates(p: WindowProgram, OPS: np.ndarray, msg_gates: tuple[int, int]) -> np.ndarray:
    """The gate table; `msg_gates`: (max, min) gate of the messages (-1 when none)."""
    need = _arr(p.gate_need)
    gates = OPS[:, st.P_GATE]
    hi = max(msg_gates[0], int(gates.max(initial=-1)))
    lo = min(msg_gates[1], int(gates.min(initial=-1)))
    if lo < -1 or hi >= need.size:
        raise ValueError(f"gate out of range -1..{need.size - 1}")
    if (OPS.size and OPS[:, st.P_CYC].min() < 0) or (need.size and need.min() < 0):
        raise ValueError("op cycles and gate needs must be >= 0")
    GT = np.zeros((need.size, 3), I64)
    GT[:, st.GA_NEED] = need
    return GT


_CAPACITIES: list = [None, None]     # the last chip and its buffer sizes: a run times every window on one chip


def _capacities(chip: ChipTiming) -> tuple[np.ndarray, np.ndarray, int]:
    """Per input FIFO (every network's) and per core receive buffer, its size in flits, and the smallest (never
    written: the threads timing windows of one run share them; not flagged read-only, which numba would compile
    the kernel again for)."""
    last, caps = _CAPACITIES
    if last is chip:
        return caps
    in_cap, rx_cap = _capacities_of(chip)
    caps = in_cap, rx_cap, int(min(in_cap.min(), rx_cap.min()))
    _CAPACITIES[:] = [chip, caps]
    return caps


def _capacities_of(chip: ChipTiming) -> tuple[np.ndarray, np.ndarray]:
    W, H, C = chip.width, chip.height, chip.cores_per_tile
    if min(W, H, C) < 1 or C > 58 or chip.pipe_cycles < 1 or chip.flit_cycles < 1 or chip.link_cycles < 0 \
            or chip.credit_cycles < 0 or chip.networks < 1:
        raise ValueError("need width, height, 1 <= cores_per_tile <= 58, pipe and flit cycles >= 1, link and "
                         "credit cycles >= 0, networks >= 1")
    R, NC = W * H, W * H * C
    in_cap = np.empty((R, 4 + C), I64)
    in_cap[:, :4] = _per(chip.router_buffer_flits, (R, 4), "router_buffer_flits").reshape(R, 4)
    in_cap[:, 4:] = _per(chip.send_buffer_flits, (NC,), "send_buffer_flits").reshape(R, C)
    return np.tile(in_cap.ravel(), chip.networks), _per(chip.receive_buffer_flits, (NC,), "receive_buffer_flits")


def window_types() -> tuple:
    """`ks.window`'s argument types as `time_window` passes them (numba types; tests check them against a real
    window's), for compiling it before a run has its first window (`compiling_window_aside`)."""
    from numba import types

    a1, a2 = types.int64[::1], types.int64[:, ::1]
    return (a2, a2, a2, a2, a1, a1, a1, a1, a1, types.int64, types.int64, a1)


def compiling_window_aside():
    """`util.compiling_aside` for the kernel's `window`: on a first run it compiles in another process while the
    run builds its first window (and compiles the kernels that takes)."""
    return compiling_aside(ks.window, window_types(), "the event-core timing kernel")


def time_window(program: WindowProgram, chip: ChipTiming) -> WindowTiming:
    """Time one window of `program` on `chip` (module docstring). Raises ValueError on malformed input."""
    W, H, C = chip.width, chip.height, chip.cores_per_tile
    in_cap, rx_cap, smallest = _capacities(chip)
    NC = rx_cap.size
    MH, MS, OPS, op_ptr, (fmax, max_work, max_gen, *msg_gates) = _messages(program, NC, W, C)
    GT = _gates(program, OPS, msg_gates)
    n = int(OPS[-1, st.P_M1]) if OPS.size else 0
    if fmax > smallest:
        down, _ = st.wiring(W, H, C)
        bad = ks.oversize(MH, MS, n, in_cap, rx_cap, down, W, C, chip.yx)
        if bad[0] >= 0:
            return _failed(MH, MS, n, NC, in_cap.size // chip.networks, bad, in_cap, rx_cap, 4 + C)
    horizon = max(int(OPS[:, st.P_CYC].max(initial=0)), max_work, max_gen, chip.link_cycles + chip.pipe_cycles + 1,
                  fmax * chip.flit_cycles + chip.credit_cycles, 2 + (fmax - 1) * chip.flit_cycles) + 1
    hs = np.argsort(MS[n:, st.X_GEN], kind="stable").astype(I64) + n
    K = np.array([W, H, C, chip.pipe_cycles, chip.link_cycles, chip.flit_cycles, chip.credit_cycles,
                  int(chip.yx), NEXT_CAP], I64)
    cap, size = ks.calendar_size(MS.shape[0], NC, in_cap.size, horizon)
    args = (MH, MS, OPS, GT, op_ptr, hs, in_cap, rx_cap, K, horizon, fmax * chip.flit_cycles + chip.credit_cycles + 1,
            _scratch("ev", 2 * (cap + size)))
    compile_first(ks.window, args, "the event-core timing kernel")
    status, end, CS, PT = ks.window(*args)
    blocked = "" if status == st.OK else _describe(int(end), CS, PT, OPS, MS, C)
    return WindowTiming(STATUS[status], int(end), blocked, *ks.results(MS, n),
                        *(CS[:, k].copy() for k in st.STATS),
                        PT[:, st.O_FLITS].reshape(chip.networks, -1).sum(axis=0))


def _failed(MH, MS, n, NC, NO, bad, in_cap, rx_cap, P) -> WindowTiming:
    m, kind, res = (int(x) for x in bad)
    what = f"message {m}" if m < n else f"host message {m - n}"
    if kind == 0:
        where = f"the send buffer of core {res} ({in_cap[(res // (P - 4)) * P + 4 + res % (P - 4)]} flits)"
    elif kind == 1:
        where = f"router {res // P} input port {res % P} ({in_cap[res]} flits)"
    else:
        where = f"the receive buffer of core {res} ({rx_cap[res]} flits)"
    line = f"{what} ({MH[m, st.H_F]} flits, to core {MS[m, st.X_DST]}) is larger than {where}"
    nh = MS.shape[0] - n
    return WindowTiming("oversize", 0, line, *(np.full(k, -1, I64) for k in (n, n, n, nh, nh)),
                        *(np.zeros(NC, I64) for _ in range(5)), np.full(NC, -1, I64), np.zeros(NO, I64))


def _listing(items: list[str], most: int = 8) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


def _describe(end: int, cs, pt, OPS, MS, C) -> str:
    """One line: which somas wait on which gates or for room, and which buffers hold flits."""
    somas, waiting = [], []
    for c in range(cs.shape[0]):
        ph, k = cs[c, st.C_PH], cs[c, st.C_OP]
        if ph == st.START and OPS[k, st.P_GATE] >= 0:
            somas.append(f"core {c} op {k} on gate {OPS[k, st.P_GATE]}")
        elif ph == st.WAIT:
            waiting.append(f"core {c} message {cs[c, st.C_MSG]}")
    occ = pt[:, st.I_OCC].reshape(-1, cs.shape[0] // C, 4 + C).sum(axis=0)     # every network's, summed
    sends = [f"core {r * C + i}: {occ[r, 4 + i]}" for r in range(occ.shape[0]) for i in range(C) if occ[r, 4 + i]]
    routers = [f"{r}: {occ[r, :4].sum()}" for r in range(occ.shape[0]) if occ[r, :4].sum()]
    recv = [f"core {c}: {cs[c, st.C_RX]}" for c in range(cs.shape[0]) if cs[c, st.C_RX]]
    parts = [("somas waiting on gates", somas), ("somas waiting for room", waiting), ("send buffers (flits)", sends),
             ("routers (flits)", routers), ("receive buffers (flits)", recv)]
    held = "; ".join(f"{name} {_listing(items)}" for name, items in parts if items)
    return f"deadlock after cycle {end}, {int((MS[:, st.X_DONE] < 0).sum())} messages unprocessed: {held}"
