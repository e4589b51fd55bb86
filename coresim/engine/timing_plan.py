"""What the compiled timing loop (`coresim.engine.timing`) reads: the chip's tasks, cores and routes as flat arrays,
and every packet of every step planned ahead from the functional reference's values (`Plan`).

A task's outputs are the functional reference's (a partial-sum task's: its slice of the weighted sum, computed
here for all steps at once); a route's packets at step k are those `TaskSends._emit` makes from them (nonzero
elements, `per` a packet, each made as its last element's lane group is done: `made_off` cycles after the task's
start). The data-carrying engine (`ChipSimulator`) makes the same packets from the values its packets delivered;
tests compare the two engines cycle for cycle."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from coresim.components.costs import transfer_bytes
from coresim.engine.packetise import packetise
from coresim.functional.executor import partial_current
from coresim.util import sources_digest

I64 = np.int64
PARTIAL_BATCH = 256   # steps a partial-sum task's sums are computed for at once


class Plan(NamedTuple):
    """Static arrays of the run (tasks by id, cores in the engine's order, routes by their book number)."""

    t_core: np.ndarray      # per task: its core
    t_cycles: np.ndarray    # cycles (overhead + MAC + neuron)
    t_mac: np.ndarray       # overhead + MAC cycles (the interval's mac_end)
    t_port: np.ndarray      # cycles its own accesses take on the SRAM ports
    t_phase: np.ndarray     # lockstep phase
    t_prod: np.ndarray      # producers of a step's inputs (tasks and off-chip ports)
    t_rec: np.ndarray       # producers of the recurrent input (not at a sample's first timestep)
    t_ci: np.ndarray        # its engine core (index into c_core)
    c_core: np.ndarray      # per engine core (a core with tasks): its core number
    c_off: np.ndarray       # its tasks, in order: c_task[c_off[i]:c_off[i + 1]]
    c_task: np.ndarray
    l_off: np.ndarray       # per task its same-core consumers: l_dst[l_off[t]:l_off[t + 1]], recurrent flags l_rec
    l_dst: np.ndarray
    l_rec: np.ndarray
    r_off: np.ndarray       # per task its remote routes: r_off[t]:r_off[t + 1] (book route numbers)
    r_rec: np.ndarray       # per route: recurrent
    r_ncores: np.ndarray    # destination cores
    r_core: np.ndarray      # the destination core of a one-core route, else -1
    r_mask: np.ndarray      # [route, word] its multicast mask
    r_doff: np.ndarray      # its destination tasks: r_dtask[r_doff[r]:r_doff[r + 1]], their rows r_drow
    r_dtask: np.ndarray
    r_drow: np.ndarray
    kp: np.ndarray          # [route, step + 1]: its packets at step k are p_flits[kp[r, k]:kp[r, k + 1]], ...
    p_flits: np.ndarray
    p_made: np.ndarray      # ... made p_made cycles after the task starts
    h_off: np.ndarray       # host input: the users of port p (0 host, 1 DRAM): h_task[h_off[p]:h_off[p + 1]]
    h_task: np.ndarray
    h_lat: np.ndarray       # per port its latency
    h_bytes: np.ndarray     # [step, user] bytes of the user's inputs
    h_cyc: np.ndarray       # ... cycles to deliver them
    out_bytes: np.ndarray   # per step: bytes of its exported outputs
    out_cyc: np.ndarray     # ... cycles to move them off chip (latency included)
    phase_tasks: np.ndarray  # tasks per lockstep phase


def _packet_steps_for(digest: int):
    """`packet_steps`, closing over `digest` (it calls `packetise`, and numba's cache checks only this file)."""

    @njit(cache=True)
    def packet_steps(y, ypos, grp, per, item, header, flit_bytes, cycles, neuron_cycles, n_groups, update):
        """A route's packets at every step (rows of y, the task's outputs): (kp, flits, made): step k's are
        [kp[k], kp[k + 1]), made that many cycles after the task starts, as `packetise` makes them."""
        _ = digest                      # in numba's cache key (`coresim.util.sources_digest`)
        steps = y.shape[0]
        kp = np.zeros(steps + 1, np.int64)
        for k in range(steps):
            cnt = 0
            for i in range(ypos.size):
                if y[k, ypos[i]] != 0:
                    cnt += 1
            kp[k + 1] = kp[k] + (cnt + per - 1) // per
        flits, made = np.empty(kp[steps], np.int64), np.empty(kp[steps], np.int64)
        for k in range(steps):
            if kp[k + 1] > kp[k]:
                fl, mk = packetise(y[k], ypos, grp, per, item, header, flit_bytes, 0, 0, cycles, neuron_cycles,
                                   n_groups, update)[2::2]
                for q in range(fl.size):    # element by element: numba compiles a slice assignment slowly
                    flits[kp[k] + q], made[kp[k] + q] = fl[q], mk[q]
        return kp, flits, made

    return packet_steps


packet_steps = _packet_steps_for(sources_digest(__file__, ("timing_plan.py", "packetise.py")))


def task_outputs(sim, values: dict[str, np.ndarray], st) -> np.ndarray:
    """(steps, n_out + 1): the task's outputs at every step (a zero after them, as `simulator._padded`)."""
    task, la = st.task, st.task.layer
    steps = sim.samples * sim.timesteps
    if task.role != "partial":
        y = values[la.name].reshape(steps, -1)[:, task.out_index]
        out = np.zeros((steps, y.shape[1] + 1), I64)
        out[:, :-1] = y
        return out
    x = values[la.inputs[0]].reshape((steps,) + tuple(la.in_shape))
    rows = slice(*task.rows) if task.rows is not None else slice(None)
    out = None
    for a in range(0, steps, PARTIAL_BATCH):   # in batches: the weighted sum's temporaries grow with the steps
        y = partial_current(la, x[a:a + PARTIAL_BATCH], slice(*task.ch), rows, slice(*task.in_ch))
        y = y.reshape(y.shape[0], -1)
        if out is None:
            out = np.zeros((steps, y.shape[1] + 1), I64)
        out[a:a + y.shape[0], :-1] = y
    return out


def _routes(sim, values: dict[str, np.ndarray]) -> dict:
    chip = sim.chip
    noc, update = chip.noc, chip.core.neuron.update_cycles
    parts: dict = {k: [] for k in ("rec", "ncores", "core", "mask", "dtask", "drow", "doff", "kp", "flits", "made")}
    top = 0
    for st in sim.states:
        if not st.out_routes:
            continue
        y = task_outputs(sim, values, st)
        c = st.cost
        for r in st.out_routes:
            kp, fl, made = packet_steps(y, r.ypos, r.grp, r.per, r.item, noc.header_flits, noc.flit_bytes, c.cycles,
                                        c.neuron_cycles, st.n_groups, update)
            parts["kp"].append(kp + top)
            top += fl.size
            parts["flits"].append(fl)
            parts["made"].append(made)
            parts["rec"].append(int(r.rec))
            parts["ncores"].append(r.cores.size)
            parts["core"].append(r.core if r.cores.size == 1 else -1)
            parts["mask"].append(sim.noc.mask_row(r.cores))
            parts["dtask"] += [d.task.id for d in r.dsts]
            parts["drow"] += list(r.rows)
            parts["doff"].append(len(r.dsts))
    return parts


def _cat(parts: list, width: int = 0) -> np.ndarray:
    if not parts:
        return np.zeros((0, width) if width else 0, I64)
    return np.concatenate(parts).astype(I64) if width == 0 else np.stack(parts).astype(I64)


def _offsets(counts) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.asarray(counts, I64))]).astype(I64)


def _host(sim) -> tuple:
    """Host / DRAM input per step: per port its users (the engine's order), and bytes and cycles per step and
    user."""
    steps = sim.samples * sim.timesteps
    users = [[st for st in sim.firsts if any(sim._port(n) == port for n in st.ext)] for port in ("host", "dram")]
    nbytes = np.zeros((steps, sum(len(u) for u in users)), I64)
    cyc = np.zeros_like(nbytes)
    col = 0
    for p, port in enumerate(("host", "dram")):
        spec = sim.chip.host if p == 0 else sim.chip.dram
        for st in users[p]:
            for n in st.ext:
                if sim._port(n) == port:
                    rows = np.asarray(sim.ext[n]).reshape(steps, -1)[:, st.task.needs[n]]
                    nbytes[:, col] += transfer_bytes(sim.chip, sim.net, n, rows)
            cyc[:, col] = -(-nbytes[:, col] // spec.bytes_per_cycle)
            col += 1
    lat = np.array([sim.chip.host.latency_cycles, sim.chip.dram.latency_cycles], I64)
    return _offsets([len(u) for u in users]), np.array([st.task.id for u in users for st in u], I64), lat, nbytes, cyc


def _outputs(sim, values: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per step the bytes and cycles of moving the exported outputs off chip (`_output_cycles`; one port)."""
    steps = sim.samples * sim.timesteps
    nbytes, cyc = np.zeros(steps, I64), np.zeros(steps, I64)
    for name in sim.exports:
        spec = sim.chip.host if sim._port(name) == "host" else sim.chip.dram
        b = transfer_bytes(sim.chip, sim.net, name, values[name].reshape(steps, -1))
        nbytes += b
        cyc += spec.latency_cycles - (-b // spec.bytes_per_cycle)
    return nbytes, cyc


def build_plan(sim, values: dict[str, np.ndarray]) -> Plan:
    """The plan of `sim` (a ChipSimulator, wired, not run) with every layer's outputs `values` (S, T, ...)."""
    states, steps = sim.states, sim.samples * sim.timesteps
    cores = list(sim.by_core)
    rp = _routes(sim, values)
    h_off, h_task, h_lat, h_bytes, h_cyc = _host(sim)
    out_bytes, out_cyc = _outputs(sim, values)
    return Plan(
        t_core=np.array([st.task.core for st in states], I64),
        t_cycles=np.array([st.cost.cycles for st in states], I64),
        t_mac=np.array([st.cost.overhead_cycles + st.cost.mac_cycles for st in states], I64),
        t_port=np.array([st.port_cycles for st in states], I64),
        t_phase=np.array([st.phase for st in states], I64),
        t_prod=np.array([st.producers for st in states], I64),
        t_rec=np.array([st.rec_producers for st in states], I64),
        t_ci=np.array([cores.index(st.task.core) for st in states], I64), c_core=np.array(cores, I64),
        c_off=_offsets([len(sim.by_core[c]) for c in cores]),
        c_task=np.array([st.task.id for c in cores for st in sim.by_core[c]], I64),
        l_off=_offsets([len(st.local_routes) for st in states]),
        l_dst=np.array([d.task.id for st in states for d, *_ in st.local_routes], I64),
        l_rec=np.array([int(lr[3]) for st in states for lr in st.local_routes], I64),
        r_off=_offsets([len(st.out_routes) for st in states]),
        r_rec=np.array(rp["rec"], I64), r_ncores=np.array(rp["ncores"], I64), r_core=np.array(rp["core"], I64),
        r_mask=_cat(rp["mask"], sim.noc.mc_words), r_doff=_offsets(rp["doff"]), r_dtask=np.array(rp["dtask"], I64),
        r_drow=np.array(rp["drow"], I64),
        kp=np.stack(rp["kp"]).astype(I64) if rp["kp"] else np.zeros((0, steps + 1), I64),
        p_flits=_cat(rp["flits"]), p_made=_cat(rp["made"]),
        h_off=h_off, h_task=h_task, h_lat=h_lat, h_bytes=h_bytes, h_cyc=h_cyc, out_bytes=out_bytes, out_cyc=out_cyc,
        phase_tasks=np.bincount([st.phase for st in states], minlength=sim.n_phases).astype(I64))
