"""What learning costs on the chip per training sample, from the chip spec: the forward passes (measured by the
engine, plus the trace stores), the reward (loss at the output core, a gather for ANP/DANP, a broadcast over
the NoC, both simulated) and the weight update (each core, from its traces); and the SRAM each rule needs."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from coresim.components.costs import element_bits
from coresim.components.energy import energy_by_component
from coresim.components.mac_array import mac_timing
from coresim.learn.network import TrainedNet
from coresim.learn.rules import Hyper
from coresim.mapping.placement import Placement
from coresim.noc.network import Noc
from coresim.spec.chip import ChipSpec
from coresim.trace.record import SimTrace
from coresim.util import cdiv

GATHER_PAYLOAD_BYTES = 8  # one partial sum of squares (ANP, DANP) or partial loss, 64 bits


@dataclass
class Cost:
    cycles: int = 0
    energy_pj: float = 0.0
    sram_read_bytes: int = 0
    sram_write_bytes: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.cycles + other.cycles, self.energy_pj + other.energy_pj,
                    self.sram_read_bytes + other.sram_read_bytes, self.sram_write_bytes + other.sram_write_bytes)

    def scaled(self, f: float) -> dict:
        return {k: v * f for k, v in asdict(self).items()}


def engine_cost(chip: ChipSpec, trace: SimTrace) -> Cost:
    """The forward passes as the engine measured them: cycles, energy of every component, SRAM traffic."""
    rd = sum(c.sram_read_bytes * r for c, r in zip(trace.task_costs, trace.task_runs, strict=True))
    wr = sum(c.sram_write_bytes * r for c, r in zip(trace.task_costs, trace.task_runs, strict=True))
    return Cost(trace.total_cycles, float(sum(energy_by_component(chip, trace).values())), int(rd), int(wr))


def _port(chip: ChipSpec) -> int:
    s = chip.core.sram
    return s.width_bytes_per_cycle * s.banks * s.ports


def _phase(chip: ChipSpec, per_core: dict[int, Cost], barrier: bool = True, barriers: int = 1) -> Cost:
    """Cores work in parallel: the phase lasts as long as the slowest (plus `barriers` barriers); leakage on every
    core."""
    cycles = (max((c.cycles for c in per_core.values()), default=0)
              + (barriers * chip.timing.barrier_cycles if barrier else 0))
    total = sum(per_core.values(), Cost())
    leak = chip.n_cores * cycles * chip.energy.leakage_pj_per_core_cycle
    return Cost(cycles, total.energy_pj + leak, total.sram_read_bytes, total.sram_write_bytes)


def _sram(chip: ChipSpec, rd: int, wr: int) -> Cost:
    e = chip.energy
    return Cost(cdiv(rd + wr, _port(chip)), rd * 8 * e.sram_read_pj_per_bit + wr * 8 * e.sram_write_pj_per_bit,
                rd, wr)


def _trace_bits(tn: TrainedNet, tl, n: int) -> tuple[int, int]:
    """Bits one core stores per step for a slice of n neurons of `tl`: its inputs x_t, and e_t (xi or a)."""
    x = sum(p.k * element_bits(tn.chip, tn.net, p.source) for p in tl.projections)
    return x, n * tn.chip.core.mac.acc_bits


def trace_store_cost(tn: TrainedNet, hp: Hyper) -> Cost:
    """SRAM traffic of storing the traces during the 1 + P passes: x_t, and xi_t of each perturbed pass (np); x_t
    and a_t of the clean pass, then after each perturbed pass a_t read back and a_pert - a_clean written (anp,
    danp); local readout: its inputs and its error o - y once; gate: one mask bit per node-step of a relu layer."""
    per_core: dict[int, Cost] = {}
    for tl in tn.layers:
        local = _local(tn, tl, hp)
        p = 1 if local else hp.perturbations
        for task in tl.tasks:
            xb, eb = _trace_bits(tn, tl, task.n_out)
            steps = tl.steps.size
            wr = cdiv(steps * (xb + eb * (p if hp.rule == "np" or local else 1 + p) + _mask_bits(tl, hp, task.n_out)),
                      8)
            rd = 0 if hp.rule == "np" or local else cdiv(p * steps * eb, 8)
            per_core[task.core] = per_core.get(task.core, Cost()) + _sram(tn.chip, rd, wr)
    return _phase(tn.chip, per_core, barrier=False)


def reward_cost(tn: TrainedNet, rule: str, local_readout: bool = False) -> tuple[Cost, int]:
    """The output core's loss of both passes, (anp, danp) every core's sum of squares of a_pert - a_clean over the
    perturbed layers (not the readout with `local_readout`) gathered to it and a division, then the reward multicast
    to every core holding trained weights, simulated on the NoC. Returns the cost and the flit hops."""
    chip = tn.chip
    lanes, uc = chip.core.neuron.lanes, chip.core.neuron.update_cycles
    noc_spec = chip.noc
    out_core = tn.output.tasks[0].core
    cores = sorted({t.core for tl in tn.layers for t in tl.tasks} - {out_core})
    local = 2 * cdiv(tn.output.n, lanes) * uc
    ops = 2 * tn.output.n
    if rule == "np":  # other slices of the readout send their partial losses
        senders = sorted({t.core for t in tn.output.tasks} - {out_core})
    else:
        senders = cores
        perturbed = [tl for tl in tn.layers if not (local_readout and tl is tn.output)]
        local = max([local] + [cdiv(tl.steps.size * t.n_out, lanes) * uc for tl in perturbed for t in tl.tasks])
        ops += sum(tl.steps.size * tl.n for tl in perturbed)
    noc = Noc(chip.mesh, noc_spec)
    at = local
    if senders:
        flits = noc_spec.header_flits + cdiv(GATHER_PAYLOAD_BYTES, noc_spec.flit_bytes)
        at += _latency(noc, lambda c: noc.inject(senders, [out_core] * len(senders), [flits] * len(senders),
                                                 [c] * len(senders), np.arange(len(senders))))
    at += chip.core.mac.acc_bits if rule != "np" else uc  # a divider (anp, danp) or one multiply (np)
    if cores:
        flits = noc_spec.header_flits + cdiv(chip.core.mac.acc_bits // 8, noc_spec.flit_bytes)
        at += _latency(noc, lambda c: noc.inject_multicast([out_core], [0, len(cores)], cores, [flits], [c], [0]))
    e = chip.energy
    energy = ops * e.mac_pj + noc.flit_hops * e.flit_hop_pj + chip.n_cores * at * e.leakage_pj_per_core_cycle
    return Cost(at, energy), noc.flit_hops


def _latency(noc: Noc, inject) -> int:
    """Cycles from injecting packets into the idle NoC (`inject(cycle)`) until the last is ejected."""
    start = noc.now
    inject(start)
    while noc.busy():
        noc.run(noc.now + 256)
    return int(noc.delivered()[4].max()) - start


def _local(tn: TrainedNet, tl, hp: Hyper) -> bool:
    """Whether `tl` is the readout learning from its own error (not perturbed, one update per sample)."""
    return hp.local_readout and tl is tn.output


def _mask_bits(tl, hp: Hyper, n: int) -> int:
    """The derivative gate's mask: one bit per node-step of a relu layer's slice (gate on)."""
    return n * tl.steps.size if hp.gate and tl.layer.spec.neuron.model == "relu" else 0


def _accumulating(hp: Hyper, p: int | None = None) -> bool:
    """Whether updates are summed in accumulator words before the master weights are written (p: updates per
    sample of the layer; default the perturbations)."""
    return hp.batch * (hp.perturbations if p is None else p) > 1


def _projection_work(tn: TrainedNet, hp: Hyper, n: int, k: int, steps: int, p: int
                     ) -> tuple[list, int, int, int, int, int]:
    """One projection slice (n x k) over a batch of B samples with p updates each (the perturbations, or 1 for a
    local readout): (gemms, neuron-unit operations, serial adam weights, SRAM bytes read, written, weight bytes
    written)."""
    wb, acc, frac = tn.chip.core.mac.weight_bits, tn.chip.core.mac.acc_bits, tn.frac
    b = hp.batch
    gemms = [(n, k, steps)] * (b * p)  # the eligibility E of every perturbed pass (local readout: err x^T)
    elem = b * p * n * k               # g E added to the master (or accumulator) weight by weight
    master = cdiv(n * k * (wb + frac), 8)
    rd = wr = written = master
    if _accumulating(hp, p):  # read-modify-write of the accumulators, then read once at the end of the batch
        words = cdiv(n * k * acc, 8)
        rd += (b * p + 1) * words
        wr += b * p * words
        elem += n * k
    serial = 0
    if hp.optimizer == "adam":  # m and v read and written, four multiply-adds, a square root and a divide
        rd += 2 * cdiv(n * k * acc, 8)
        wr += 2 * cdiv(n * k * acc, 8)
        elem += 4 * n * k
        serial = n * k
    if hp.rule == "danp":
        gemms += [(steps, k, k), (k, k, steps)] * b + [(k, k, k), (n, k, k)]
        elem += k * k * (b + 1 if b > 1 else 1)
        dwords = cdiv(k * k * acc, 8)
        rd += dwords + (b + 1) * dwords * (b > 1)
        wr += dwords + b * dwords * (b > 1) + cdiv(n * k * wb, 8)
        written += cdiv(n * k * wb, 8)
    return gemms, elem, serial, rd, wr, written


def update_cost(tn: TrainedNet, hp: Hyper) -> tuple[Cost, int]:
    """Every core updates its weight slices in parallel, per sample: for each perturbed pass the eligibility
    E = sum_t e_t x_t^T on the MAC array and one multiply-add per weight on the neuron unit (`lanes` per cycle),
    into the master weights or (batch or P > 1) the acc_bits-wide accumulators, read and written through the SRAM
    port; at the end of a batch the master weights written once (adam: m and v updated, a square root and a divide
    per weight, acc_bits cycles each on a lane); DANP also computes x~ = D x, the correlations (accumulated), their
    product with D, D's update and the chip weights master x D. Costs of a batch divided by B. Returns the cost per
    sample and the weight bytes written per sample."""
    chip = tn.chip
    core, e = chip.core, chip.energy
    per_core: dict[int, Cost] = {}
    written = 0
    for tl in tn.layers:
        steps = tl.steps.size
        per = 1 if _local(tn, tl, hp) else hp.perturbations
        for task in tl.tasks:
            n = task.n_out
            xb, eb = _trace_bits(tn, tl, n)
            mask = _mask_bits(tl, hp, n)
            rd, wr = cdiv(steps * (xb * hp.batch + eb * hp.batch * per) + mask * hp.batch, 8), 0
            gemms, elem, serial = [], mask * hp.batch * per, 0  # gate: e_t zeroed where the mask says so
            for p in tl.projections:
                g, el, se, r, w, wt = _projection_work(tn, hp, n, p.k, steps, per)
                gemms += g
                elem, serial, rd, wr, written = elem + el, serial + se, rd + r, wr + w, written + wt
            timings = [mac_timing(core.mac, m, nn, kk) for m, nn, kk in gemms]
            macs = sum(t.macs for t in timings) + elem
            mem = _sram(chip, rd, wr)
            lane_cycles = (cdiv(elem, core.neuron.lanes) * core.neuron.update_cycles
                           + cdiv(serial, core.neuron.lanes) * (core.mac.acc_bits + core.mac.acc_bits // 2))
            cycles = (hp.batch * core.phase_overhead_cycles + sum(t.compute_cycles for t in timings)
                      + max(lane_cycles, mem.cycles + core.sram.latency_cycles))
            per_core[task.core] = per_core.get(task.core, Cost()) + Cost(cycles, macs * e.mac_pj + mem.energy_pj,
                                                                          rd, wr)
    batch = _phase(chip, per_core, barriers=hp.batch)
    per_sample = Cost(**batch.scaled(1.0 / hp.batch)) if hp.batch > 1 else batch
    return per_sample, written / hp.batch if hp.batch > 1 else written


def decay_cost(tn: TrainedNet, hp: Hyper) -> Cost:
    """Weight decay per sample: at every decay_every-th weight write each core takes master >> decay_shift off each
    of its master weights, one shift-and-subtract on the neuron unit (`lanes` per cycle) inside the write's
    read-modify-write of the master (no SRAM traffic of its own); a write comes every `batch` samples (coupled
    decay: fewer decays as the rate falls; counted as every decay_every-th write, an upper bound)."""
    if not hp.decay_shift:
        return Cost()
    chip = tn.chip
    lanes, uc = chip.core.neuron.lanes, chip.core.neuron.update_cycles
    per_core = {c: Cost(cdiv(w, lanes) * uc, w * chip.energy.mac_pj) for c, w in _weights_by_core(tn).items()}
    return Cost(**_phase(chip, per_core, barrier=False).scaled(1.0 / (hp.batch * hp.decay_every)))


def _weights_by_core(tn: TrainedNet) -> dict[int, int]:
    """How many weights each core holds (of every trained layer's slices there)."""
    weights: dict[int, int] = {}
    for tl in tn.layers:
        for task in tl.tasks:
            weights[task.core] = weights.get(task.core, 0) + task.n_out * sum(p.k for p in tl.projections)
    return weights


def average_cost(tn: TrainedNet, hp: Hyper) -> Cost:
    """Weight averaging per sample: at every weight write each core reads the running average of each of its
    weights (an acc_bits word, `memory`), moves it towards the weight just written (w is at hand in the write: the
    master, danp master x D before its rounding: A += w - round(A / 2^K)) and writes it back: a subtract and an add
    per weight on the neuron unit (`lanes` per cycle) while the port streams the averages; a write comes every
    `batch` samples. The one write of the averaged weights into the chip weights at the end is not counted."""
    if not hp.average_shift:
        return Cost()
    chip = tn.chip
    lanes, uc = chip.core.neuron.lanes, chip.core.neuron.update_cycles
    bits = chip.core.mac.acc_bits
    per_core = {}
    for c, w in _weights_by_core(tn).items():
        nbytes = cdiv(w * bits, 8)
        mem = _sram(chip, nbytes, nbytes)
        per_core[c] = Cost(max(cdiv(w, lanes) * uc, mem.cycles + chip.core.sram.latency_cycles),
                           2 * w * chip.energy.mac_pj + mem.energy_pj, nbytes, nbytes)
    return Cost(**_phase(chip, per_core, barrier=False).scaled(1.0 / hp.batch))


def memory(tn: TrainedNet, placement: Placement, hp: Hyper) -> dict[int, dict[str, int]]:
    """SRAM bytes per core: the forward pass's peak (weights, parameters, state, buffers) plus what the rule keeps.
    np / anp: the weights' extra fraction bits, traces x_t and xi_t or a_t of the steps that matter (anp, danp with
    P > 1: a_clean kept beside a_pert - a_clean); danp: full master weights beside the chip's (master x D), traces,
    the D matrices; batch or P > 1: one acc_bits accumulator per weight (danp: and per D entry); adam: m and v per
    weight (acc_bits each); local readout: its traces once, accumulators only with B > 1; gate: one mask bit per relu
    node-step; weight averaging: the average of every weight (acc_bits); bptt (if it ran on the
    chip): fraction bits, the activations of every timestep, two delta vectors and
    one gradient accumulator per weight."""
    out = {c: {"forward": m.peak_bytes} for c, m in placement.memory.items()}
    for tl in tn.layers:
        for task in tl.tasks:
            mem = out.setdefault(task.core, {"forward": 0})
            for k, v in _rule_bytes(tn, tl, hp, task.n_out).items():
                mem[k] = mem.get(k, 0) + v
    return out


def _rule_bytes(tn: TrainedNet, tl, hp: Hyper, n: int) -> dict[str, int]:
    """What `memory` adds for a slice of n neurons of `tl` on one core."""
    rule, acc = hp.rule, tn.chip.core.mac.acc_bits
    steps = tl.steps.size
    syn = n * sum(p.k for p in tl.projections)
    xb, eb = _trace_bits(tn, tl, n)
    add = {"master": cdiv(syn * (tn.frac + (tn.chip.core.mac.weight_bits if rule == "danp" else 0)), 8)}
    if hp.average_shift:
        add["average"] = cdiv(syn * tn.chip.core.mac.acc_bits, 8)
    if rule.startswith("bptt"):
        out_bits = tl.layer.spec.neuron.bits if tl.layer.spec.neuron.model == "relu" else 0
        add["activations"] = cdiv(steps * (xb + n * out_bits), 8)
        add["gradients"] = cdiv((2 * n + syn) * acc, 8)
        return add
    local = _local(tn, tl, hp)
    keep = 2 if rule != "np" and hp.perturbations > 1 and not local else 1
    add["traces"] = cdiv(steps * (xb + keep * eb) + _mask_bits(tl, hp, n), 8)
    if rule == "danp":
        add["decorrelation"] = sum(cdiv(p.k * p.k * acc, 8) for p in tl.projections)
    if _accumulating(hp, 1 if local else None):
        add["accumulators"] = cdiv(syn * acc, 8) + (
            sum(cdiv(p.k * p.k * acc, 8) for p in tl.projections) if rule == "danp" and hp.batch > 1 else 0)
    if hp.optimizer == "adam":
        add["optimizer_state"] = 2 * cdiv(syn * acc, 8)
    return add
