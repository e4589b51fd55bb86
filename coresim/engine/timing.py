"""The dense engine's timing loop compiled (`TimedChip`): the same chip, rules and cycles as `ChipSimulator`, with
the control side in one numba call per NoC window (`timing_kernel.control`) instead of simpy processes and
per-task Python, and the values from the functional reference: every packet of every step is planned ahead from
them (`timing_plan`). `ChipSimulator` carries the data in its packets (a lost packet changes the spikes); the
tests run both on the same chips and workloads and compare every task interval, every packet and the totals.

`TimedChip.run` takes the runs the loop models (`fits`: barrier or lockstep, one chip, no early exit, no state
recording or noise, packets a VC buffer holds); `ChipSimulator` runs the others."""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np
from numba import types

from coresim.engine import timing_kernel as K
from coresim.engine.deliver import _grown, delivery_error
from coresim.engine.simulator import ChipSimulator
from coresim.engine.timing_noc import run_fused
from coresim.engine.timing_plan import build_plan
from coresim.errors import SimulationError
from coresim.functional.executor import run_functional
from coresim.noc.buffers import grow_rx
from coresim.noc.flit_kernel import is_staged, noc_run_for, noc_run_staged
from coresim.noc.flit_state import RX_GROW
from coresim.trace.record import INTERVAL, SimTrace
from coresim.util import KernelAddress, cdiv, compile_first, compile_signature, compiling_aside

_NO_RECORDS = tuple(np.zeros(0, np.int64) for _ in range(6))


class Declined(Exception):
    """The NoC's fast enqueue declined a task's packets: the data-carrying engine runs the whole chip instead."""


def fits(sim: ChipSimulator) -> bool:
    """Does the compiled loop model this run (see the module docstring)?"""
    if sim.schedule not in ("barrier", "lockstep") or sim.cutoff is not None or sim.record_state or sim.noise:
        return False
    if set(sim.ext) != {"input"} or sim.exports != {sim.net.output.name: "host"}:
        return False
    noc = sim.chip.noc
    for st in sim.states:
        la = st.task.layer
        if st.task.role == "partial" and (la.recurrent or la.spec.synaptic_delay or len(la.inputs) != 1):
            return False
        if any(r.cores.size > 1 and noc.header_flits + cdiv(r.per * r.item, noc.flit_bytes) > noc.router.buffer_flits
               for r in st.out_routes):
            return False
    return True


class StepTimes(NamedTuple):
    """What `ChipSimulator._trace` reads of a step."""

    k: int
    s: int
    t: int
    start: int


class TimedChip(ChipSimulator):
    """`ChipSimulator`'s chip, wiring and trace, run by the compiled loop (module docstring)."""

    def run(self) -> SimTrace:
        if not fits(self):
            return super().run()
        values = run_functional(self.net, self.ext["input"]).outputs
        self.plan = build_plan(self, values)
        self.dyn = self._dyn(self.plan)
        self._args, self._entry = None, None   # `_control`'s arguments and compiled entry point
        self._types: dict = {}                 # `_typed`'s
        if is_staged(self.noc.cfg):
            self._loop_fused()
        else:
            self._loop()
        d = self.dyn
        if d.g[K.G_LIVE]:
            raise SimulationError(f"packets of {int(d.g[K.G_LIVE])} sends were never delivered")
        for name in self.outputs:
            self.outputs[name][...] = values[name].reshape(self.outputs[name].shape)
        self.intervals = np.ascontiguousarray(d.iv[:d.g[K.G_NIV]]).view(INTERVAL).ravel()   # INTERVAL's fields
        self.task_runs = d.runs
        self.step_end, self.step_last = d.step_end, d.step_last
        self.steps = [StepTimes(k, *divmod(k, self.timesteps), int(d.step_start[k])) for k in range(d.conf[0])]
        self._port_totals()
        self.chunk_top = int(d.g[K.G_CHUNK])
        return self._trace(int(d.g[K.G_NOW]))

    # ---- setting up --------------------------------------------------------------------------------------
    def _dyn(self, plan) -> K.Dyn:
        n_tasks, n_steps, T = len(self.states), self.samples * self.timesteps, self.timesteps
        e_port, e_user = [], []     # a step's host input: per port with users its latency, then each user
        for p in range(2):
            if plan.h_off[p + 1] > plan.h_off[p]:
                e_port += [p] * (1 + plan.h_off[p + 1] - plan.h_off[p])
                e_user += [-1] + list(range(plan.h_off[p], plan.h_off[p + 1]))
        m, i64, noc = plan.c_core.size, np.int64, self.noc
        g = np.zeros(K.N_G, i64)
        g[K.G_OPENED], g[K.G_PTIME] = -1, K.INF
        conf = np.array([n_steps, T, int(self.schedule == "lockstep"), self.chip.timing.barrier_cycles, noc.B,
                         noc.route_default, noc.cfg.SB], i64)

        def zeros(n):
            return np.zeros(n, i64)

        d = K.Dyn(g=g, conf=conf, c_state=zeros(m), c_j=zeros(m), c_k=zeros(m), c_time=zeros(m), c_start=zeros(m),
                  c_queued=zeros(m), c_target=zeros(m), s_prod=zeros(2 * n_tasks), s_left=zeros(2 * n_tasks),
                  armed=self.armed, watch=self.watch, phase_open=zeros(self.n_phases),
                  phase_left=zeros(self.n_phases), step_start=zeros(n_steps), step_last=zeros(n_steps),
                  step_end=zeros(n_steps), runs=zeros(n_tasks), iv=np.zeros((max(64, 2 * n_tasks), 7), i64),
                  e_port=np.array(e_port, i64), e_user=np.array(e_user, i64), wl=zeros(m), in_wl=zeros(m))
        d.s_prod[0::2] = plan.t_prod                       # the slots of steps 0 and 1
        d.s_prod[1::2] = plan.t_prod + plan.t_rec * int(T > 1)
        return d

    # ---- the loop -------------------------------------------------------------------------------------------
    def _loop(self) -> None:
        """Control and NoC windows in turn until the last step's barrier; growth and errors between. On a first
        run `control` compiles in another process while this one compiles the NoC kernel."""
        noc, d = self.noc, self.dyn
        parts: list = []
        rec, n, hit, done = _NO_RECORDS, 0, 0, 0
        full = (self.plan, d, self._book_arrays(), noc.sc, noc.pk, noc.term, noc.queued, noc.buf, rec, n, hit, 1)
        with compiling_aside(K.control, self._typed("control", full), "the timing loop"):
            compile_first(noc_run_for(noc.cfg), self._noc_args(), "the NoC kernel")
        while True:
            st = self._control(rec, n, hit, int(not parts))
            if st == K.BAD_DELIVERY:
                raise delivery_error(int(d.g[K.G_BAD]) >> 40, rec, int(d.g[K.G_BAD]) & ((1 << 40) - 1))
            if parts:                        # more delivery records of the last window: count them first
                rec, n = parts.pop(0)
                self._room_for(n)
                continue
            rec, n, hit = _NO_RECORDS, 0, 0
            done = self._report(done)
            if st == K.RUN_NOC:
                new = noc.run(int(d.g[K.G_UNTIL]), self.watch)   # may raise NocDeadlock
                d.g[K.G_NOW] = max(int(d.g[K.G_NOW]), new)
                hit = int(noc.watch_hit())
                parts = noc.delivery_parts()
                if parts:
                    rec, n = parts.pop(0)
                    self._room_for(n)
            elif st == K.FINISHED:
                return
            else:
                self._grow(st)

    def _loop_fused(self) -> None:
        """The loop with the NoC kernel inside (`timing_noc.run_fused`): Python between its returns only."""
        noc, g = self.noc, self.dyn.g
        g[K.G_NOCST] = -1
        done, entry = 0, None
        while True:
            args = (self.plan, self.dyn, self._book_arrays(), noc.sc, noc.pk, noc.term, noc.queued, noc.buf, noc.cfg,
                    noc.rng, noc.inp, noc.out, noc.arb, noc.wires, noc.rec, noc.scratch)
            if entry is None:
                entry = self._fused_entry(args)
            st = entry(*args)
            done = self._report(done)
            if st == K.FINISHED:
                return
            if st == K.BAD_DELIVERY:
                raise delivery_error(int(g[K.G_BAD]) >> 40, tuple(noc.rec), int(g[K.G_BAD]) & ((1 << 40) - 1))
            if st != K.STEP_DONE:       # an array grows: its type is looked at again (a new one would compile)
                entry = None
            if st == K.NEED_CHUNK:
                self._room_for(int(g[K.G_NEED]))
            elif st == K.NOC_RX:
                noc.buf = grow_rx(noc.buf)
                noc.sc[RX_GROW] = 0
            elif st == K.NOC_PIDS:
                noc.grow_packets(2 * noc.pk.src.shape[0])
            elif st == K.NOC_DEADLOCK:
                raise noc.deadlock()
            elif st != K.STEP_DONE:
                self._grow(st)

    def _fused_entry(self, args: tuple):
        """`run_fused`'s compiled entry point for `args`, the NoC kernel bound as its first argument (a first-class
        function of its argument types). On a first run the loop compiles in another process while this one
        compiles the NoC kernel."""
        noc_args = self._noc_args()
        noc_type = types.FunctionType(types.int64(*self._typed("noc", noc_args)))
        sig = (noc_type,) + self._typed("loop", args)
        with compiling_aside(run_fused, sig, "the timing loop"):
            compile_first(noc_run_staged, noc_args, "the NoC kernel")
        entry = compile_signature(run_fused, sig, "the timing loop")
        return partial(entry, KernelAddress(noc_run_staged, noc_type.signature))

    def _typed(self, name: str, objs: tuple) -> tuple:
        """numba's types of `objs`, each typed once while the same object stays at its place (typing all these
        records takes ~2 ms: an entry is looked up again after every growth, which replaces one of them)."""
        cache = self._types.setdefault(name, {})
        out = []
        for i, o in enumerate(objs):
            hit = cache.get(i)
            if hit is None or hit[0] is not o:
                hit = cache[i] = (o, run_fused.typeof_pyval(o))
            out.append(hit[1])
        return tuple(out)

    def _noc_args(self) -> tuple:
        """The NoC kernel's arguments as `Noc.run` passes them (a window to cycle 0)."""
        noc = self.noc
        return (0, noc.cfg, noc.sc, noc.rng, noc.term, noc.inp, noc.out, noc.arb, noc.wires, noc.pk, noc.rec,
                noc.scratch, self.watch, noc.buf)

    def _control(self, rec: tuple, n: int, hit: int, go_on: int) -> int:
        """`timing_kernel.control` (its compiled entry point once typed, as `Noc._kernel` calls the NoC kernel:
        the dispatcher would type these records on every call)."""
        noc = self.noc
        args = self._args
        if args is None or args[4] is not noc.pk or args[7] is not noc.buf:   # grown here or in `Noc.run`
            self._args = args = (self.plan, self.dyn, self._book_arrays(), noc.sc, noc.pk, noc.term, noc.queued,
                                 noc.buf)
            self._entry = None
        if self._entry is None:
            self._entry = compile_signature(K.control, self._typed("control", args + (rec, n, hit, go_on)),
                                            "the timing loop")
        return self._entry(*args, rec, n, hit, go_on)

    def _book_arrays(self) -> K.Book:
        b = self.book
        return K.Book(b.top, b.rows, b.got, b.nfl, b.sl_id, b.sl_row, b.ready, b.fin, b.rt_start, b.rt_n, b.rt_cores,
                      b.rt_task, self.chunk)

    def _report(self, done: int) -> int:
        """Call `progress` once per step finished since `done` steps; returns the steps finished."""
        finished = int(self.dyn.g[K.G_DONE])
        if self.progress is not None:
            for _ in range(done, finished):
                self.progress()
        return finished

    def _room_for(self, n: int) -> None:
        """Room in the PACKET rows for n more deliveries (as `PacketDelivery._deliver` makes it)."""
        d = self.dyn
        if d.g[K.G_CHUNK] + n > self.chunk.shape[0]:
            self.chunk_top = int(d.g[K.G_CHUNK])
            self._pack_records()
            d.g[K.G_CHUNK] = 0
            self.chunk = _grown(self.chunk, n)
            self._args = None

    def _grow(self, st: int) -> None:
        """Make what `control` asked for (status `st`), or raise what it found."""
        d, noc, g = self.dyn, self.noc, self.dyn.g
        self._args = None
        if st == K.NEED_PIDS:
            noc.grow_packets(int(g[K.G_NEED]))
        elif st == K.NEED_MC:
            noc.grow_mc(int(g[K.G_NEED]))
        elif st == K.NEED_BOOK:
            b = self.book
            b.grow_by(int(g[K.G_NEED]), int(g[K.G_NGOT]), int(g[K.G_NSL]), int(g[K.G_NBOOK]))
            b.ready, b.fin = _grown(b.ready, b.sl_id.size), _grown(b.fin, b.rows.shape[0])
        elif st == K.NEED_ROOM:
            self.dyn = d._replace(iv=_grown(d.iv, 2 * d.iv.shape[0]))
        elif st == K.DECLINED:
            raise Declined
        elif st == K.STALLED:
            raise SimulationError(f"simulation stalled at cycle {int(g[K.G_NOW])}: tasks wait for inputs that "
                                  "never come")
        else:
            raise SimulationError(f"timing loop: unexpected status {st}")

    # ---- the trace ----------------------------------------------------------------------------------------------
    def _port_totals(self) -> None:
        """Host / DRAM bytes and cycles, as `_host_input` and `_output_cycles` add them up (one export port)."""
        plan, steps = self.plan, self.samples * self.timesteps
        for p, port in enumerate(("host", "dram")):
            a, b = plan.h_off[p], plan.h_off[p + 1]
            if b > a:
                self.port_cycles[port] += steps * int(plan.h_lat[p]) + int(plan.h_cyc[:, a:b].sum())
                self.port_bytes[port] += int(plan.h_bytes[:, a:b].sum())
        port = self._port(self.net.output.name)
        self.port_cycles[port] += int(plan.out_cyc.sum())
        self.port_bytes[port] += int(plan.out_bytes.sum())
