"""What a run report shows, read from an HDF5 trace into plain named arrays.

`read_run` is the ONE place that knows the trace's internal tables (the task table, the config attributes; intervals
and packets come as named records from `coresim.trace.view`); everything else in `coresim.report` uses the
`RunData` it returns.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Phases:
    """Busy phases of the cores: one row per phase, parallel 1-D int64 arrays (end exclusive)."""
    core: np.ndarray
    start: np.ndarray
    end: np.ndarray


@dataclass
class RunData:
    path: Path
    summary: dict                 # the trace's summary, exactly as stored
    configs: dict[str, str]       # config name -> canonical JSON text as stored
    config_sha256: str
    seed: int
    versions: dict[str, str]
    width: int
    height: int
    cores_per_tile: int
    clock_mhz: float
    total_cycles: int
    mac: Phases                   # MAC (axon) phases of core intervals
    neuron: Phases                # neuron (soma) phases
    send: Phases                  # send phases (packets of one core created at one cycle)
    interval_task: np.ndarray     # task of each core interval (parallel to mac and neuron)
    packet_latency: np.ndarray    # creation -> tail ejection, cycles, per delivery
    network_latency: np.ndarray   # injection -> tail ejection, cycles, per delivery
    link_flits: np.ndarray        # (routers, ports): 0 +x, 1 -x, 2 +y, 3 -y, 4 + i ejection to local core i
    task_layer: np.ndarray        # layer index of each task
    task_core: np.ndarray         # core of each task
    task_cycles: np.ndarray       # cycles of each task per timestep
    task_sram_bytes: np.ndarray | None  # SRAM bytes allocated to each task (None: not in the trace)
    layer_names: list[str]
    layer_spikes: dict[str, tuple[int, int]]  # layer -> (non-zero outputs, outputs) over all samples, timesteps

    @property
    def n_cores(self) -> int:
        return self.width * self.height * self.cores_per_tile

    def config_hashes(self) -> dict[str, str]:
        return {k: hashlib.sha256(v.encode()).hexdigest() for k, v in self.configs.items()}

    def busy_cycles(self) -> np.ndarray:
        """Busy cycles (MAC + neuron phases) of every core."""
        busy = np.zeros(self.n_cores, np.int64)
        np.add.at(busy, self.mac.core, self.neuron.end - self.mac.start)
        return busy


def read_run(path: str | Path) -> RunData:
    """Everything a run report needs from a trace written by `coresim run -o` (SpecError if it is not one)."""
    import h5py

    from coresim.trace.view import load

    v = load(path)  # checks the file and names it in the error
    iv, pk = v.intervals, v.packets
    with h5py.File(v.path, "r") as f:
        configs = {k: str(val) for k, val in f["config"].attrs.items()}
        table = f["tasks/table"][()].reshape(-1, 6)
        names = [n.decode() for n in f["tasks/layer_names"][()]]
        spikes = {}
        for name in names:
            if f"outputs/{name}" in f:
                ds = f[f"outputs/{name}"]
                nz = sum(int(np.count_nonzero(ds[s])) for s in range(ds.shape[0]))
                spikes[name] = (nz, int(np.prod(ds.shape)))
        seed, versions = int(f.attrs["seed"]), json.loads(f.attrs["versions"])
        sram = f["tasks/sram_bytes"][()] if "tasks/sram_bytes" in f else None
    return RunData(
        path=v.path, summary=v.summary, configs=configs, config_sha256=v.config_sha256, seed=seed,
        versions=versions, width=v.width, height=v.height, cores_per_tile=v.cores_per_tile,
        clock_mhz=v.clock_mhz, total_cycles=v.total_cycles,
        mac=Phases(iv["core"], iv["start"], iv["mac_end"]), neuron=Phases(iv["core"], iv["mac_end"], iv["end"]),
        send=Phases(v.sends["core"], v.sends["start"], v.sends["end"]), interval_task=iv["task"],
        packet_latency=pk["eject"] - pk["create"], network_latency=pk["eject"] - pk["inject"],
        link_flits=v.link_flits,
        task_layer=table[:, 1], task_core=table[:, 2], task_cycles=table[:, 4], task_sram_bytes=sram,
        layer_names=names,
        layer_spikes=spikes,
    )
