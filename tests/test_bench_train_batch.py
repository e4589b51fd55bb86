"""benchmarks/bench_train_batch.py's NAME@blankN workloads: the task with another delay, the rest unchanged."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_train_batch", ROOT / "benchmarks" / "bench_train_batch.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_train_batch"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_blank_variant_changes_only_the_delay(tmp_path):
    bench = _bench()
    base = yaml.safe_load((ROOT / "workloads" / "digits_delayed_rnn.yaml").read_text())
    assert bench.workload_path("digits_delayed_rnn", tmp_path) == ROOT / "workloads" / "digits_delayed_rnn.yaml"
    for blank in (0, 2, 6):
        spec = yaml.safe_load(bench.workload_path(f"digits_delayed_rnn@blank{blank}", tmp_path).read_text())
        assert spec["input"]["blank_steps"] == blank
        assert spec["timesteps"] == base["timesteps"] - base["input"]["blank_steps"] + blank
        assert spec["layers"] == base["layers"]
        assert {k: v for k, v in spec["input"].items() if k != "blank_steps"} == \
            {k: v for k, v in base["input"].items() if k != "blank_steps"}


def test_blank_variant_prepares_with_its_timesteps(tmp_path):
    from coresim.run import prepare

    bench = _bench()
    prep = prepare(ROOT / "chipspecs" / "default.yaml", bench.workload_path("digits_delayed_rnn@blank1", tmp_path))
    assert prep.inputs.shape[1] == 9
    assert not prep.inputs[:, 8].any()     # the one blank step carries no input


def test_unknown_variant_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="NAME@blankN"):
        _bench().workload_path("digits_delayed_rnn@late3", tmp_path)
