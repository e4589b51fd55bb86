"""Speed of the concurrent event-core timing kernel alone (`coresim.kernels.event_chip.time_window`), one thread.

The program is shaped like one timestep of a 100k-neuron random network (fan-out 64, 5% firing) on Loihi
cores (chipspecs/loihi.yaml delays and buffers) on a 24x4-tile mesh, 4 cores per tile, ~390 neurons on each
of the first 257 cores: every core visits its neurons at `update_cycles` each (one op per fired neuron,
covering the neurons since the previous one, and one op for the rest), each fired neuron sends one 1-flit
message per distinct destination core of its 64 synapses (`spike_out_cycles` to form each), worth
`spike_in_cycles` + one cycle per synapse at the destination. Reports messages/s and flit-hops/s of the kernel
(the program is built once, outside the timing; the best of --repeat runs after a warm-up, as wall time and as
this process's CPU time - on a shared machine the CPU figure is the kernel's own speed; the load average is
printed with them). Hops: `router` (the default) times them as the router pipeline and link of the lockstep
schedule's NoC models (four cycles on Loihi); `engine` as `coresim run` times Loihi's concurrent schedule
(`noc.hop_latency_cycles`, one cycle: `coresim.engine.event_window.chip_timing`); `none` sends every message to
its own core (no NoC at all): the kernel's work for the messages alone (soma, send, receive, synapse unit), a
floor under any NoC model.
Usage:
    python benchmarks/bench_event_kernel.py [--neurons 100000] [--rate 0.05] [--steps 5] [--repeat 3]
        [--hops router|engine|none]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_run import machine  # noqa: E402

from coresim.engine.event_window import chip_timing  # noqa: E402
from coresim.kernels.event_chip import ChipTiming, WindowProgram, time_window  # noqa: E402
from coresim.spec.files import load_chip  # noqa: E402


def build(n: int, rate: float, fanout: int, per_core: int, n_cores: int, chip, seed: int) -> WindowProgram:
    """One timestep's program (module docstring)."""
    rng = np.random.default_rng(seed)
    ev = chip.core.event
    upd = chip.core.neuron.update_cycles
    fired = np.flatnonzero(rng.random(n) < rate)
    core_of = np.minimum(np.arange(n) // per_core, n_cores - 1)
    op_ptr, op_cycles, msg_ptr = [0], [], [0]
    dst, work = [], []
    for c in range(n_cores):
        lo, hi = np.searchsorted(core_of, [c, c + 1])
        prev = lo
        for i in fired[(fired >= lo) & (fired < hi)]:
            op_cycles.append(upd * (i + 1 - prev))
            prev = i + 1
            cores, counts = np.unique(core_of[rng.integers(0, n, fanout)], return_counts=True)
            dst.append(cores)
            work.append(ev.spike_in_cycles + counts)
            msg_ptr.append(msg_ptr[-1] + cores.size)
        if prev < hi:
            op_cycles.append(upd * (hi - prev))
            msg_ptr.append(msg_ptr[-1])
        op_ptr.append(len(op_cycles))
    total = chip.mesh.width * chip.mesh.height * chip.mesh.cores_per_tile
    op_ptr += [op_ptr[-1]] * (total - n_cores)
    d, w = np.concatenate(dst), np.concatenate(work)
    m = d.size
    return WindowProgram(np.array(op_ptr), np.full(len(op_cycles), -1), np.array(op_cycles), np.array(msg_ptr),
                         np.full(m, ev.spike_out_cycles), d, np.ones(m, np.int64), w, np.full(m, -1),
                         np.zeros(0, np.int64))


def own_cores(prog: WindowProgram) -> np.ndarray:
    """Each message's source core (ops per core in `op_ptr`, messages per op in `msg_ptr`)."""
    cores = np.arange(prog.op_ptr.size - 1)
    return np.repeat(np.repeat(cores, np.diff(prog.op_ptr)), np.diff(prog.msg_ptr)).astype(np.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=0.05)
    ap.add_argument("--fanout", type=int, default=64)
    ap.add_argument("--per-core", type=int, default=390)
    ap.add_argument("--width", type=int, default=24)
    ap.add_argument("--height", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5, help="different random timesteps")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hops", choices=["router", "engine", "none"], default="router",
                    help="router: pipeline + link cycles a hop; engine: the concurrent schedule's hop latency; "
                         "none: every message to its own core (no NoC)")
    args = ap.parse_args()
    chip = load_chip(ROOT / "chipspecs" / "loihi.yaml")
    chip = chip.model_copy(update={"mesh": chip.mesh.model_copy(update={"width": args.width, "height": args.height})})
    n_cores = -(-args.neurons // args.per_core)
    timing = ChipTiming.from_chip(chip) if args.hops == "router" else chip_timing(chip)
    print(f"machine: {machine()}")
    print(f"{args.neurons:,} neurons on {n_cores} cores of a {args.width}x{args.height}x"
          f"{chip.mesh.cores_per_tile} mesh, {args.rate:.0%} firing, fan-out {args.fanout}; {timing}")
    time_window(build(2000, args.rate, args.fanout, args.per_core, 8, chip, 0), timing)   # compile / load
    tot_m = tot_h = tot_s = tot_c = 0.0
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    for step in range(args.steps):
        prog = build(args.neurons, args.rate, args.fanout, args.per_core, n_cores, chip, step + 1)
        if args.hops == "none":
            prog = prog._replace(msg_dst=own_cores(prog))
        best, cpu = float("inf"), float("inf")
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            res = time_window(prog, timing)
            best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
        m = prog.msg_dst.size
        print(f"step {step}: {m:,} messages, {res.flit_hops:,} flit-hops, {res.end_cycle:,} cycles ({res.status}); "
              f"wall {best * 1e3:.0f} ms, CPU {cpu * 1e3:.0f} ms: {m / cpu / 1e6:.2f} M messages/s, "
              f"{res.flit_hops / cpu / 1e6:.1f} M flit-hops/s (CPU)", flush=True)
        tot_m, tot_h, tot_s, tot_c = tot_m + m, tot_h + res.flit_hops, tot_s + best, tot_c + cpu
    print(f"overall (CPU time): {tot_m / tot_c / 1e6:.2f} M messages/s, {tot_h / tot_c / 1e6:.1f} M flit-hops/s, "
          f"{tot_c / args.steps * 1e3:.0f} ms per timestep (wall {tot_s / args.steps * 1e3:.0f} ms); "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
