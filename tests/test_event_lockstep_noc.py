"""The lockstep schedule of event-driven chips times its NoC with finite buffers by default (issue 16, item 5):
the `flit` router model (BookSim-exact, finite FIFOs and credits); `link` and `path` remain as unbuffered
reservation models."""

from __future__ import annotations

from coresim.run import prepare, simulate

from .test_event_concurrent import _equal_reference, _loihi
from .test_recurrent import _rnn


def _lockstep(tmp_path, router_flits: int, noc_model=None):
    wl = _rnn(tmp_path, hidden=400, sparse=True, samples=1, timesteps=4)[0]
    prep = prepare(_loihi(tmp_path), wl, schedule="lockstep", noc_model=noc_model,
                   overrides=["chip.core.event.max_neurons=60", f"chip.noc.router.buffer_flits={router_flits}",
                              "chip.noc.flit_bytes=1", "chip.noc.packet_payload_bytes=4",
                              "workload.input.dataset=rate", "workload.input.rate=0.5"])
    res = simulate(prep, progress=False)
    _equal_reference(prep, res.trace.outputs)
    return prep, res


def test_lockstep_default_noc_has_finite_router_buffers(tmp_path):
    """Default lockstep NoC, 1-byte flits (a spike message is 4 flits): one-flit router FIFOs hold packets back
    (a credit round trip per flit) and the run takes longer than with 16-flit FIFOs; spikes are the same. The
    unbuffered `link` model ignores the size."""
    prep, small = _lockstep(tmp_path, 1)
    assert prep.options.noc_model == "flit"
    big = _lockstep(tmp_path, 16)[1]
    assert small.trace.total_cycles > big.trace.total_cycles
    assert small.summary["output_spikes_sha256"] == big.summary["output_spikes_sha256"]
    link = [_lockstep(tmp_path, n, "link")[1].trace.total_cycles for n in (1, 16)]
    assert link[0] == link[1]


def test_lockstep_phases_reuse_the_noc_kernels_entry_point(tmp_path, monkeypatch):
    """Every phase runs the NoC until its packets are in, with a new watch array each time; the kernel is called
    through numba's dispatcher (which types every argument: milliseconds a call) only while the NoC's records are
    new, then by its compiled entry point (`Noc._kernel`: the watch array is not part of its key)."""
    from coresim.noc import network

    calls = {"dispatch": 0, "run": 0}
    run_for, run = network.noc_run_for, network.Noc.run

    def counted_run_for(cfg):
        calls["dispatch"] += 1
        return run_for(cfg)

    def counted_run(self, *args, **kw):
        calls["run"] += 1
        return run(self, *args, **kw)

    monkeypatch.setattr(network, "noc_run_for", counted_run_for)
    monkeypatch.setattr(network.Noc, "run", counted_run)
    _lockstep(tmp_path, 16)
    assert calls["run"] > 20 and calls["dispatch"] <= 3, calls
