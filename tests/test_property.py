"""Random chip specs and workloads: each either runs (with spikes equal to the reference) or gets the clean
one-line error (exit 2) — never a traceback."""

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coresim.cli import main

from .helpers import chip_dict, random_workload, write_yaml

chips = st.fixed_dictionaries({
    "mesh__width": st.integers(1, 4),
    "mesh__height": st.integers(1, 3),
    "mesh__cores_per_tile": st.integers(1, 2),
    "core__mac__rows": st.integers(1, 20),
    "core__mac__cols": st.integers(1, 20),
    "core__mac__dataflow": st.sampled_from(["vector", "os", "ws", "is"]),
    "core__sram__bank_kib": st.sampled_from([0.05, 0.25, 1.0, 4.0, -1.0]),
    "core__neuron__lanes": st.integers(0, 8),
    "noc__router__vcs": st.integers(1, 3),
    "noc__router__buffer_flits": st.integers(1, 4),
    "noc__packet_payload_bytes": st.integers(1, 16),
    "noc__flit_bytes": st.sampled_from([2, 4, 8, 16]),
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chips, st.integers(0, 10 ** 6))
def test_random_chip_and_workload_run_or_clean_error(tmp_path, capsys, changes, seed):
    c = tmp_path / "c.yaml"
    c.write_text(json.dumps(chip_dict(**changes)))
    w = tmp_path / "w.yaml"
    data = random_workload(np.random.default_rng(seed), samples=2, timesteps=2)
    w.write_text(json.dumps(data))
    rc = main(["run", str(c), str(w), "--json", "--seed", str(seed)])
    out, err = capsys.readouterr()
    assert rc in (0, 2), err
    if rc == 2:
        assert err.startswith("coresim: error: ") and err.count("\n") == 1 and "Traceback" not in err
    else:
        assert json.loads(out)["total_cycles"] > 0


def test_helpers_write_valid_yaml(tmp_path):
    write_yaml(tmp_path / "w.yaml", random_workload(np.random.default_rng(1)))
