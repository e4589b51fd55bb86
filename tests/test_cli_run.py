"""`coresim run / validate / info` end to end, into a temporary folder."""

import json
import os
import stat
import subprocess
import sys

import h5py
import numpy as np
import pytest

from coresim.cli import main
from coresim.run import prepare, simulate
from coresim.trace import hdf5

from .conftest import DATA, ROOT

REQUIRED = ["total_cycles", "cycles_per_timestep", "latency_cycles", "latency_us", "throughput_samples_per_s",
            "core_utilization_mean", "core_utilization_peak", "mac_utilization", "sram_occupancy", "packets",
            "flits", "flit_hops", "max_link_load", "synaptic_events", "energy_pj", "energy_pj_by_component",
            "accuracy", "wall_seconds", "config_sha256", "output_spikes_sha256"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_trace_mode_follows_umask(tmp_path, capsys, umask, mode):
    """A trace gets the permissions of any new file (mkstemp's 0600 must not leak through)."""
    old = os.umask(umask)
    try:
        assert main(["run", "--samples", "1", "--timesteps", "2", "-o", str(tmp_path / "t.h5")]) == 0
    finally:
        os.umask(old)
    capsys.readouterr()
    assert stat.S_IMODE((tmp_path / "t.h5").stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["t.h5"]


def test_run_json_and_trace(tmp_path, capsys):
    out = tmp_path / "sub" / "run.h5"
    assert main(["run", "--samples", "4", "--json", "-o", str(out)]) == 0
    s = json.loads(capsys.readouterr().out)
    for key in REQUIRED:
        assert key in s, key
    assert s["samples"] == 4 and s["total_cycles"] > 0 and 0 < s["core_utilization_mean"] <= 1
    assert s["latency_us"] == pytest.approx(s["latency_cycles"] / 200.0)
    assert [p.name for p in out.parent.iterdir()] == ["run.h5"]  # no temporary left behind
    with h5py.File(out) as f:
        assert f.attrs["schema_version"] == hdf5.SCHEMA_VERSION
        assert f.attrs["config_sha256"] == s["config_sha256"]
        assert json.loads(f["config"].attrs["chip"])["name"] == "default"
        iv = f["cores/intervals"][:]
        assert iv.shape[1] == 7 and iv.shape[0] > 0
        assert f["cores/utilization"].shape[0] == 16
        assert f["noc/link_flits"][:].sum() > 0
        assert f["noc/packets"].shape[0] == s["packet_deliveries"] >= s["packets"]
    stored = hdf5.read_summary(out)
    assert stored["output_spikes_sha256"] == s["output_spikes_sha256"] and "wall_seconds" not in stored


def test_text_summary(capsys):
    assert main(["run", str(ROOT / "chipspecs" / "default.yaml"), str(DATA / "tiny.yaml")]) == 0
    text = capsys.readouterr().out
    for word in ("latency", "throughput", "utilisation", "NoC", "energy"):
        assert word in text


def test_set_overrides_change_the_run(capsys):
    assert main(["run", "chipspecs/default.yaml", str(DATA / "tiny.yaml"), "--json",
                 "--set", "workload.timesteps=2", "--set", "run.samples=2"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["timesteps"] == 2 and s["samples"] == 2


def test_bad_set_key_is_exit_2(capsys):
    assert main(["run", "--set", "nonsense=3"]) == 2
    assert "--set" in capsys.readouterr().err


def test_same_seed_identical_trace_contents(tmp_path):
    paths = []
    for i in range(2):
        p = tmp_path / f"t{i}.h5"
        assert main(["run", "chipspecs/default.yaml", str(DATA / "tiny.yaml"), "--seed", "3", "-o", str(p)]) == 0
        paths.append(p)
    with h5py.File(paths[0]) as a, h5py.File(paths[1]) as b:
        names = []
        a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for n in names:
            assert np.array_equal(a[n][()], b[n][()]), n
        assert dict(a.attrs) == dict(b.attrs)
        assert a["summary"].attrs["json"] == b["summary"].attrs["json"]


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    result = simulate(prepare(None, DATA / "tiny.yaml", samples=1))

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(hdf5, "windowed_busy", boom, raising=False)
    import coresim.trace.windows as windows
    monkeypatch.setattr(windows, "windowed_busy", boom)
    with pytest.raises(KeyboardInterrupt):
        hdf5.write_trace(tmp_path / "x.h5", result)
    assert list(tmp_path.iterdir()) == []


def test_validate_and_info(capsys):
    assert main(["validate", "chipspecs/tianjicx.yaml", "workloads/vgg_small.yaml"]) == 0
    assert "maps onto tianjicx" in capsys.readouterr().out
    assert main(["info", "chipspecs/tianjicx.yaml"]) == 0
    assert "16 x 10" in capsys.readouterr().out


def test_console_entry_point_subprocess(tmp_path):
    r = subprocess.run([sys.executable, "-m", "coresim.cli", "run", "--samples", "2", "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["samples"] == 2
    bad = subprocess.run([sys.executable, "-m", "coresim.cli", "run", str(tmp_path / "missing.yaml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "missing.yaml" in bad.stderr and "Traceback" not in bad.stderr
