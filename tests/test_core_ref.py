"""The dense engine equals the whole-chip reference (tests/core_ref.py) cycle for cycle: every task's start,
MAC end and end, every packet's creation, injection and ejection cycle and hops, and the run's total cycles, on a
2x2 mesh with small workloads, under each schedule, with large and small send queues and receive buffers, with
layers split by input channels (partial sums and merge tasks), with early exit, partitioned execution and two
cores a tile."""

import json

import numpy as np
import pytest
import yaml

from coresim.analysis.cutoff import gaps, table_path
from coresim.functional.executor import run_functional
from coresim.run import prepare, simulate

from .conftest import ROOT
from .core_ref import CoreRef, run_partitioned
from .helpers import random_workload

MESH = ["chip.mesh.width=2", "chip.mesh.height=2"]
B1 = ["chip.noc.router.buffer_flits=1"]      # 2-flit packets longer than a VC buffer: multicast as unicast copies
RX1 = ["chip.core.receive_buffer_kib=0.0078125"]   # a 1-flit receive buffer
SRAM1 = ["chip.core.sram.width_bytes_per_cycle=1", "chip.core.sram.banks=1"]   # SRAM ports of 1 byte a cycle


def _layer(name, kind, **kw):
    return {"name": name, "type": kind, **kw}


def _workload(path, dense: bool, rows: bool = False, samples: int = 2, timesteps: int = 3):
    """dense: two 4-channel convs that spike often (many packets); else conv-pool-linear-linear, sparse.
    rows: the dense one with a 1-channel first conv whose consumer is split by rows: the remote half needs only
    its first rows, the neuron unit's first lane groups (the last ones stay on the core)."""
    if dense:
        layers = [_layer("c0", "conv2d", out_channels=4, kernel=3, padding=1,
                         neuron={"model": "if", "threshold": 4}),
                  _layer("c1", "conv2d", out_channels=4, kernel=3, padding=1,
                         neuron={"model": "if", "threshold": 4}),
                  _layer("flat", "flatten"), _layer("out", "linear", out_features=10, neuron={"model": "none"})]
        place = {"c0": {"split": {"channels": 2}, "cores": [0, 1]},
                 "c1": {"split": {"channels": 2}, "cores": [2, 3]}, "out": {"cores": [0]}}
        if rows:
            layers[0]["out_channels"] = 1
            place = {"c0": {"cores": [0]}, "c1": {"split": {"rows": 2}, "cores": [1, 0]}, "out": {"cores": [2]}}
    else:
        layers = [_layer("c0", "conv2d", out_channels=4, kernel=3, padding=1,
                         neuron={"model": "if", "threshold": 30}),
                  _layer("p0", "pool", kernel=2, mode="sum"), _layer("flat", "flatten"),
                  _layer("fc0", "linear", out_features=24, neuron={"model": "if", "threshold": 20}),
                  _layer("out", "linear", out_features=10, neuron={"model": "none"})]
        place = {"c0": {"split": {"channels": 2}, "cores": [0, 1]},
                 "fc0": {"split": {"channels": 2}, "cores": [2, 3]}, "out": {"cores": [0]}}
    work = {"name": "small", "timesteps": timesteps, "weight_seed": 5 if dense else 3,
            "input": {"shape": [1, 8, 8], "encoding": "current", "dataset": "sklearn_digits", "samples": samples},
            "layers": layers, "readout": "current_sum"}
    (path / "work.yaml").write_text(yaml.safe_dump(work, sort_keys=False))
    (path / "place.yaml").write_text(yaml.safe_dump({"layers": place}, sort_keys=False))
    return path / "work.yaml", f"file:{path / 'place.yaml'}"


def _compare(work, mapping, sets, schedule, cutoff=None):
    """Run the engine and the reference; assert equal; return the engine's trace and the reference."""
    prep = prepare(ROOT / "chipspecs" / "default.yaml", work, overrides=MESH + sets, schedule=schedule,
                   mapping=mapping, cutoff=cutoff)
    trace = simulate(prep).trace
    ref = CoreRef(prep)
    intervals, packets, total = ref.run()
    got = sorted(tuple(int(x) for x in row) for row in trace.intervals)
    fields = ("src", "dst", "task", "flits", "create", "inject", "eject", "hops")
    got_pk = sorted(tuple(int(row[f]) for f in fields) for row in trace.packets)
    assert ref.ran == trace.timesteps_run.tolist()
    assert len(got) == len(prep.placement.tasks) * sum(ref.ran) and len(got_pk) > 20
    assert got == intervals
    assert got_pk == packets
    assert trace.total_cycles == total
    return trace, ref


def _late_tasks(trace) -> int:
    """Tasks that ended after their cycles: the send queue held their neuron unit."""
    cycles = np.array([c.cycles for c in trace.task_costs])
    iv = trace.intervals
    return int(np.count_nonzero(iv["end"] - iv["start"] > cycles[iv["task"]]))


@pytest.mark.parametrize("schedule", ["barrier", "lockstep", "pipelined"])
def test_sparse_workload_large_buffers(tmp_path, schedule):
    # unicast (multicast off), send queue and receive buffer far larger than the traffic: nothing waits on them
    work, mapping = _workload(tmp_path, dense=False)
    _, ref = _compare(work, mapping, ["chip.noc.multicast=false", "chip.core.send_buffer_flits=100000",
                                      "chip.core.receive_buffer_kib=1024"], schedule)
    assert ref.mesh.stalls == {"made_late": 0, "held_outside": 0, "port_busy": 0}


def test_layerwise_default_buffers(tmp_path):
    work, _ = _workload(tmp_path, dense=False)
    _compare(work, "layerwise", [], "barrier")


@pytest.mark.parametrize("schedule", ["barrier", "lockstep", "pipelined"])
def test_small_send_queue_stalls_tasks(tmp_path, schedule):
    # one 2-flit packet fits the send queue: the neuron unit waits for it, tasks end late
    work, mapping = _workload(tmp_path, dense=True)
    trace, ref = _compare(work, mapping, B1 + ["chip.core.send_buffer_flits=2", "chip.noc.multicast=false"],
                          schedule)
    assert ref.mesh.stalls["made_late"] > 100
    assert _late_tasks(trace) > 0


def test_multicast_copies_with_small_buffers(tmp_path):
    # packets longer than a VC buffer: a multicast send leaves as one copy per destination core (same tag)
    work, mapping = _workload(tmp_path, dense=True)
    trace, ref = _compare(work, mapping, B1 + ["chip.core.send_buffer_flits=4",
                                               "chip.core.receive_buffer_kib=0.0078125"], "barrier")
    tags, counts = np.unique(trace.packets["tag"], return_counts=True)
    assert (counts == 2).sum() > 50
    assert ref.mesh.stalls["made_late"] > 0


def test_receive_buffer_back_pressure(tmp_path):
    # 1-flit receive buffers behind SRAM ports the running task holds every cycle (1 byte a cycle): flits wait
    # outside the buffer in the router, pipelined tasks hold the ports while packets for the next step arrive
    work, mapping = _workload(tmp_path, dense=True)
    trace, ref = _compare(work, mapping, B1 + ["chip.core.sram.width_bytes_per_cycle=1", "chip.core.sram.banks=1",
                                               "chip.core.receive_buffer_kib=0.0078125",
                                               "chip.core.send_buffer_flits=2"], "pipelined")
    assert ref.mesh.stalls["held_outside"] > 0 and ref.mesh.stalls["port_busy"] > 1000


@pytest.mark.parametrize("schedule", ["barrier", "lockstep", "pipelined"])
def test_multicast_trees_with_finite_buffers(tmp_path, schedule):
    # each half of c0 sends its spikes to both halves of c1 (cores 2 and 3) as one tree packet, replicated at
    # its own router (+x and +y); a 4-flit send queue holds them back, and so do (pipelined: the consumers run
    # while packets for their next step arrive) 1-flit receive buffers behind SRAM ports of 1 byte a cycle
    work, mapping = _workload(tmp_path, dense=True)
    trace, ref = _compare(work, mapping, RX1 + SRAM1 + ["chip.core.send_buffer_flits=4"], schedule)
    tags, counts = np.unique(trace.packets["tag"], return_counts=True)
    assert ref.mesh.trees > 50 and (counts == 2).sum() == ref.mesh.trees
    assert ref.mesh.stalls["made_late"] > 0
    assert (ref.mesh.stalls["held_outside"] > 0) == (schedule == "pipelined")


@pytest.mark.parametrize("schedule", ["barrier", "pipelined"])
def test_multicast_trees_and_copies_mixed(tmp_path, schedule):
    # 16-byte payloads: full packets (3 flits) are longer than a 2-flit VC buffer and go as one copy per core,
    # a send's last, shorter packet (2 flits) as a tree
    work, mapping = _workload(tmp_path, dense=True)
    trace, ref = _compare(work, mapping, RX1 + ["chip.noc.router.buffer_flits=2", "chip.noc.packet_payload_bytes=16",
                                                "chip.core.send_buffer_flits=3"] + SRAM1, schedule)
    tags, counts = np.unique(trace.packets["tag"], return_counts=True)
    assert ref.mesh.trees > 10 and (counts == 2).sum() > ref.mesh.trees + 10
    assert ref.mesh.stalls["made_late"] > 0
    assert (ref.mesh.stalls["port_busy"] > 0) == (schedule == "pipelined")


@pytest.mark.parametrize("schedule", ["barrier", "pipelined"])
def test_packets_made_late_before_the_task_ends_still_hold_it(tmp_path, schedule):
    # the remote packets come from the first lane groups (one every 8 cycles); a 3-flit send queue makes some
    # late, yet all by the task's last cycle: the neuron unit was held, so the task ends that much later (the
    # engine ended it on time when its last packet was made by then, and later only otherwise)
    work, mapping = _workload(tmp_path, dense=True, rows=True)
    trace, ref = _compare(work, mapping, ["chip.core.neuron.update_cycles=8", "chip.core.send_buffer_flits=3"],
                          schedule)
    assert ref.held_ends > 0 and _late_tasks(trace) >= ref.held_ends


@pytest.mark.parametrize("schedule", ["barrier", "lockstep", "pipelined"])
def test_recurrent_layer_split_over_two_cores(tmp_path, schedule):
    # each half of the recurrent layer needs the other half's outputs of the step before (packets to step k + 1)
    (tmp_path / "place.yaml").write_text(yaml.safe_dump(
        {"layers": {"h": {"split": {"channels": 2}, "cores": [0, 1]}, "out": {"cores": [3]}}}))
    _, ref = _compare(ROOT / "workloads" / "digits_seq_rnn.yaml", f"file:{tmp_path / 'place.yaml'}",
                      ["workload.input.samples=2", "workload.timesteps=4", "chip.noc.multicast=false",
                       "chip.core.send_buffer_flits=2"], schedule)
    assert ref.mesh.stalls["made_late"] > 0


@pytest.mark.parametrize("seed", [1, 4, 9])
def test_random_workloads(tmp_path, seed):
    # random layer graphs (row-split convs, pools, residual adds, linears), mapped layer by layer
    path = tmp_path / "work.yaml"
    path.write_text(yaml.safe_dump(random_workload(np.random.default_rng(seed), samples=2, timesteps=3)))
    for schedule in ("barrier", "pipelined"):
        _compare(path, "layerwise", ["chip.noc.multicast=false", "chip.core.send_buffer_flits=2",
                                     "chip.core.receive_buffer_kib=0.0078125"], schedule)


def _split_placement(work: dict, rng: np.random.Generator) -> dict:
    """Every conv2d / linear layer split by channels over 2 or 3 distinct random cores of the 2x2 mesh: a layer's
    consumers on several cores take its outputs by multicast."""
    return {"layers": {la["name"]: {"split": {"channels": n}, "cores": rng.choice(4, n, replace=False).tolist()}
                       for la in work["layers"] if la["type"] in ("conv2d", "linear")
                       for n in [int(rng.integers(2, 4))]}}


def random_split_case(tmp_path, seed: int, buffer_flits: int | None = None) -> tuple:
    """A random layer graph split over random cores (`_split_placement`; files in tmp_path) with random small send
    queues, receive buffers, VC counts and (`buffer_flits` None) VC buffers: (workload, mapping, overrides)."""
    rng = np.random.default_rng(seed)
    work = random_workload(rng, samples=2, timesteps=3)
    (tmp_path / "work.yaml").write_text(yaml.safe_dump(work))
    (tmp_path / "place.yaml").write_text(yaml.safe_dump(_split_placement(work, rng)))
    sets = [f"chip.core.send_buffer_flits={rng.integers(2, 6)}", f"chip.noc.router.vcs={rng.integers(1, 3)}",
            f"chip.core.receive_buffer_kib={rng.integers(1, 4) * 0.0078125}",
            f"chip.noc.router.buffer_flits={rng.integers(2, 5) if buffer_flits is None else buffer_flits}"]
    return tmp_path / "work.yaml", f"file:{tmp_path / 'place.yaml'}", sets


@pytest.mark.parametrize("seed", [13, 18, 21])
def test_random_workloads_split_over_cores_multicast(tmp_path, seed):
    # random layer graphs, random channel splits and cores, random small send queues, receive buffers, VC buffers
    # (some packets longer than them go as copies) and VC counts; tree multicast on
    work, mapping, sets = random_split_case(tmp_path, seed)
    for schedule in ("barrier", "pipelined"):
        _, ref = _compare(work, mapping, sets, schedule)
        assert ref.mesh.trees > 10


def _cutoff_table(work, sample_exits: dict[int, int]) -> None:
    """A cutoff table beside `work` whose thresholds make the functional run's samples exit where asked (sample
    -> timestep after which it exits; a sample not named must run every timestep)."""
    prep = prepare(ROOT / "chipspecs" / "default.yaml", work, overrides=MESH)
    out = run_functional(prep.net, prep.inputs).outputs[prep.net.output.name]
    g = gaps(np.cumsum(out.reshape(out.shape[:2] + (-1,)), axis=1)).astype(np.float64)   # (samples, timesteps)
    T = g.shape[1]
    betas = np.full(T, g.max() + 1.0)
    for s, k in sample_exits.items():       # just below the gap where the sample is to exit, above its earlier gaps
        betas[k] = min(betas[k], g[s, k] - 1e-6)
    for s in range(g.shape[0]):             # the thresholds must not make any sample exit elsewhere
        want = sample_exits.get(s, T - 1)
        assert np.flatnonzero(np.append(g[s, :-1] > betas[:-1], True))[0] == want, (s, g[s], betas)
    table = {"workload": work.stem, "by_timesteps": {str(T): {"chosen_epsilon": 0.0,
                                                           "betas": {"0": betas.tolist()}}}}
    table_path(work).write_text(json.dumps(table))


@pytest.mark.parametrize("schedule", ["barrier", "lockstep"])
def test_early_exit(tmp_path, schedule):
    # four samples of five timesteps: the output core's monitor runs after every timestep but a sample's last;
    # samples 0 and 2 exit early (their cores skip to the next sample), the others run every timestep
    work, mapping = _workload(tmp_path, dense=True, samples=4, timesteps=5)
    _cutoff_table(work, {0: 1, 2: 2})
    trace, ref = _compare(work, mapping, RX1 + ["chip.core.send_buffer_flits=4"], schedule, cutoff="topk")
    assert ref.ran == [2, 5, 3, 5] and ref.skipped


@pytest.mark.parametrize("schedule", ["barrier", "lockstep", "pipelined"])
def test_layers_split_by_input_channels(tmp_path, schedule):
    # partial sums: c1 split 2 x 2 (output x input channels), the output layer by 3 input slices, every partial
    # task, merge task and block on its own core: partial sums (acc_bits wide) cross the NoC to the merge tasks,
    # behind a 4-flit send queue, 1-flit receive buffers and SRAM ports of 1 byte a cycle
    work, _ = _workload(tmp_path, dense=True)
    place = {"c0": {"split": {"channels": 2}, "cores": [0, 1]},
             "c1": {"split": {"channels": 2, "in_channels": 2}, "cores": [1, 2, 3, 2, 3, 0]},
             "out": {"split": {"in_channels": 3}, "cores": [3, 0, 1, 2]}}
    (tmp_path / "place.yaml").write_text(yaml.safe_dump({"layers": place}))
    trace, ref = _compare(work, f"file:{tmp_path / 'place.yaml'}", RX1 + SRAM1 + ["chip.core.send_buffer_flits=4"],
                          schedule)
    to = [ref.rt[int(k)].task.role for k in trace.packets["task"]]     # the packets' destination tasks
    assert to.count("merge") > 100 and to.count("partial") > 100    # partial sums in, the layer's inputs out
    assert ref.mesh.stalls["made_late"] > 0 and ref.mesh.stalls["port_busy"] > 0


def _branch_workload(path):
    """conv -> flatten -> linear, plus a linear reading the network input, added, then the output layer: cut in
    3 partitions, the middle one reads the flatten from DRAM and the input from the host."""
    layers = [_layer("c0", "conv2d", out_channels=4, kernel=3, padding=1, neuron={"model": "if", "threshold": 4}),
              _layer("f0", "flatten"),
              _layer("fa", "linear", out_features=16, neuron={"model": "if", "threshold": 8}),
              _layer("fb", "linear", inputs=["input"], out_features=16, neuron={"model": "if", "threshold": 30}),
              _layer("sum", "add", inputs=["fa", "fb"]),
              _layer("out", "linear", out_features=10, neuron={"model": "none"})]
    work = {"name": "branch", "timesteps": 3, "weight_seed": 5,
            "input": {"shape": [1, 8, 8], "encoding": "current", "dataset": "sklearn_digits", "samples": 2},
            "layers": layers, "readout": "current_sum"}
    (path / "work.yaml").write_text(yaml.safe_dump(work, sort_keys=False))
    return path / "work.yaml"


@pytest.mark.parametrize("schedule", ["barrier", "lockstep", "pipelined"])
@pytest.mark.parametrize("mapping", ["layerwise", "density"])
@pytest.mark.parametrize("network, parts", [("dense", 2), ("branch", 3)])
def test_partitions(tmp_path, schedule, mapping, network, parts):
    # partitioned execution, each partition after its reconfiguration on a fresh chip: the cut layers' outputs go
    # to DRAM every timestep and come back from it to a later partition's first tasks, after the host port's
    # input (the branch network's middle partition reads both, and writes to DRAM); small send queues and receive
    # buffers
    work = _workload(tmp_path, dense=True)[0] if network == "dense" else _branch_workload(tmp_path)
    prep = prepare(ROOT / "chipspecs" / "default.yaml", work, overrides=MESH + RX1 + ["chip.core.send_buffer_flits=2"],
                   schedule=schedule, mapping=mapping, partition=parts)
    trace = simulate(prep).trace
    intervals, packets, total, refs = run_partitioned(prep)
    assert len(refs) == parts and "dram" in refs[0].exports.values()
    ports = [set(p for t in r.rt for p in t.ext.values()) for r in refs]
    assert ports == ([{"host"}, {"dram"}] if parts == 2 else [{"host"}, {"host", "dram"}, {"dram"}])
    assert sorted(tuple(int(x) for x in row) for row in trace.intervals) == intervals
    fields = ("src", "dst", "task", "flits", "create", "inject", "eject", "hops")
    assert sorted(tuple(int(row[f]) for f in fields) for row in trace.packets) == packets and len(packets) > 15
    assert trace.total_cycles == total


@pytest.mark.parametrize("schedule", ["barrier", "pipelined"])
@pytest.mark.parametrize("mapping", ["layerwise", "density"])
@pytest.mark.parametrize("dense, cut", [(True, "out"), (False, "fc0")])
def test_partitions_with_a_layer_cut_in_pieces(tmp_path, schedule, mapping, dense, cut):
    # 512 B of SRAM a core: a layer too big for the chip runs as pieces by output channels ("name@first channel"),
    # one partition each: the output layer's pieces go to the host; fc0's to DRAM (a byte a cycle: each piece's
    # own spikes set its cycles), read back whole by `out`
    work, _ = _workload(tmp_path, dense=dense)
    sram = ["chip.core.sram.bank_kib=0.5", "chip.core.sram.banks=1", "chip.core.send_buffer_flits=2",
            "chip.dram.bytes_per_cycle=1"]
    prep = prepare(ROOT / "chipspecs" / "default.yaml", work, overrides=MESH + RX1 + sram, schedule=schedule,
                   mapping=mapping, partition="auto")
    trace = simulate(prep).trace
    intervals, packets, total, refs = run_partitioned(prep)
    pieces = [la.name for r in refs for la in r.net.layers if "@" in la.name]
    assert len(pieces) >= 2 and {name.split("@")[0] for name in pieces} == {cut}
    assert sorted(tuple(int(x) for x in row) for row in trace.intervals) == intervals
    fields = ("src", "dst", "task", "flits", "create", "inject", "eject", "hops")
    assert sorted(tuple(int(row[f]) for f in fields) for row in trace.packets) == packets
    assert len(packets) > 50 if dense else not packets
    assert trace.total_cycles == total


@pytest.mark.parametrize("schedule", ["barrier", "lockstep", "pipelined"])
@pytest.mark.parametrize("small", [False, True])
def test_two_cores_per_tile(tmp_path, schedule, small):
    # 2 cores a router (8 on the 2x2 mesh): c1's halves on cores 2 and 3 share router 1, so c0's tree packets to
    # both branch at its two ejection ports; the output layer alone on core 6; small: 1-flit receive buffers
    # behind SRAM ports of a byte a cycle and 4-flit send queues
    work, _ = _workload(tmp_path, dense=True)
    place = {"c0": {"split": {"channels": 2}, "cores": [0, 1]}, "c1": {"split": {"channels": 2}, "cores": [2, 3]},
             "out": {"cores": [6]}}
    (tmp_path / "place.yaml").write_text(yaml.safe_dump({"layers": place}))
    sets = ["chip.mesh.cores_per_tile=2"] + (RX1 + SRAM1 + ["chip.core.send_buffer_flits=4"] if small else [])
    trace, ref = _compare(work, f"file:{tmp_path / 'place.yaml'}", sets, schedule)
    assert ref.mesh.trees > 100 and set(trace.packets["dst"].tolist()) >= {2, 3, 6}
    assert ref.mesh.stalls["made_late"] > 0
