"""Top-K early exit: calibration as the paper defines it, and a real exit on the simulated chip."""

import json
import os
import stat

import numpy as np
import pytest

from coresim.analysis.cutoff import TopKCutoff, calibrate, exit_steps, gaps, table_path
from coresim.cli import main
from coresim.errors import SpecError
from coresim.functional.executor import run_functional
from coresim.run import prepare, simulate

from .conftest import DATA, ROOT

DT = ROOT / "workloads" / "digits_dt.yaml"


def test_gap_and_calibration_by_hand():
    # 4 samples, 2 timesteps, 3 classes; label 0 for all
    scores = np.array([
        [[5, 1, 0], [9, 1, 0]],   # gap 4 then 8, always correct
        [[3, 2, 0], [6, 2, 0]],   # gap 1 then 4, always correct
        [[1, 4, 0], [6, 5, 0]],   # gap 3 (wrong) then 1 (right): not correct at every t' >= 0
        [[0, 0, 2], [1, 0, 3]],   # wrong throughout
    ])
    labels = np.zeros(4, np.int64)
    assert gaps(scores).tolist() == [[4, 8], [1, 4], [3, 1], [2, 2]]
    betas = calibrate(scores, labels, 0.0)
    # t=0: max gap 8 -> candidates 0.08 m; above 3 (sample 2, wrong) must be excluded: smallest beta >= 3
    assert betas[0] == pytest.approx(3.04)
    # t=1: sample 3 (gap 2, wrong) must be excluded: smallest beta >= 2
    assert betas[1] == pytest.approx(2.0)
    assert exit_steps(scores, betas).tolist() == [0, 1, 1, 1]
    assert TopKCutoff(betas).exit_after(0, 0, scores[0, 0]) and not TopKCutoff(betas).exit_after(1, 0, scores[1, 0])


def test_epsilon_trades_accuracy_for_time():
    rng = np.random.default_rng(0)
    scores = np.cumsum(rng.integers(0, 5, (200, 6, 10)), axis=1)
    labels = np.argmax(scores[:, -1], axis=1)
    b0, b1 = calibrate(scores, labels, 0.0), calibrate(scores, labels, 0.2)
    assert np.all(b1 <= b0)
    assert exit_steps(scores, b1).mean() <= exit_steps(scores, b0).mean()


def test_chip_exits_where_the_reference_does():
    prep = prepare(None, DT, cutoff="topk", samples=60)
    r = simulate(prep)
    ref = run_functional(prep.net, prep.inputs)
    last = ref.outputs["fc"].reshape(60, prep.inputs.shape[1], -1)
    stop = exit_steps(np.cumsum(last, axis=1), prep.cutoff.betas)
    assert np.array_equal(r.trace.timesteps_run, stop + 1)
    for la in prep.net.layers:
        got = r.trace.outputs[la.name]
        want = ref.outputs[la.name].reshape(got.shape).copy()
        for s, k in enumerate(stop):
            want[s, k + 1:] = 0  # the chip never simulated those timesteps
        assert np.array_equal(got, want), la.name
    assert r.summary["avg_timesteps"] == pytest.approx((stop + 1).mean())


def test_acceptance_whole_test_split():
    full = simulate(prepare(None, DT)).summary
    cut = simulate(prepare(None, DT, cutoff="topk")).summary
    assert full["samples"] == cut["samples"] == 450
    assert full["avg_timesteps"] / cut["avg_timesteps"] >= 1.5
    assert abs(full["accuracy"] - cut["accuracy"]) <= 0.005
    assert full["cycles_per_sample"] / cut["cycles_per_sample"] >= 1.5
    assert cut["timesteps_skipped"] > 0 and cut["cycles_saved_est"] > 0
    assert abs(full["accuracy"] - full["ann_accuracy"]) <= 0.01


def test_calibrate_command_reproduces_committed_table(tmp_path, capsys):
    committed = json.loads(table_path(DT).read_text())
    work = tmp_path / "digits_dt.yaml"
    work.write_text(DT.read_text())
    (tmp_path / "digits_dt.npz").write_bytes((ROOT / "workloads" / "digits_dt.npz").read_bytes())
    assert main(["calibrate-cutoff", str(work), "--timesteps", *committed["by_timesteps"]]) == 0
    capsys.readouterr()
    assert json.loads(table_path(work).read_text()) == committed


def test_cutoff_needs_a_table_and_a_synchronous_schedule():
    with pytest.raises(SpecError) as e:
        prepare(None, DATA / "tiny.yaml", cutoff="topk")
    assert "calibrate-cutoff" in str(e.value)
    prep = prepare(None, DT, cutoff="topk", schedule="pipelined", samples=2)
    with pytest.raises(SpecError) as e:
        simulate(prep)
    assert "pipelined" in str(e.value)


def _workload_copy(tmp_path):
    work = tmp_path / "digits_dt.yaml"
    work.write_text(DT.read_text())
    (tmp_path / "digits_dt.npz").write_bytes((ROOT / "workloads" / "digits_dt.npz").read_bytes())
    (tmp_path / "digits_dt.cutoff.json").write_text(table_path(DT).read_text())
    return work


def test_calibrating_some_horizons_keeps_the_others(tmp_path, capsys):
    """The README's `calibrate-cutoff ... --timesteps 4 8` must not drop T=2 and T=6 from the committed table."""
    committed = json.loads(table_path(DT).read_text())["by_timesteps"]
    work = _workload_copy(tmp_path)
    assert main(["calibrate-cutoff", str(work), "--timesteps", "4", "8", "--samples", "300"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["by_timesteps"], key=int) == ["4", "8"] and report["kept"] == ["2", "6"]
    table = json.loads(table_path(work).read_text())["by_timesteps"]
    assert sorted(table, key=int) == ["2", "4", "6", "8"]
    assert table["2"] == committed["2"] and table["6"] == committed["6"]
    assert table["4"]["training_samples"] == table["8"]["training_samples"] == 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits_dt.cutoff.json", "digits_dt.npz", "digits_dt.yaml"]
    assert main(["run", "default", str(work), "--timesteps", "2", "--cutoff", "topk", "--samples", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cutoff"] == "topk"


def test_calibrate_output_option_writes_elsewhere(tmp_path, capsys):
    work = _workload_copy(tmp_path)
    before = table_path(work).read_bytes()
    out = tmp_path / "tables" / "mine.json"
    assert main(["calibrate-cutoff", str(work), "--timesteps", "3", "--samples", "200", "-o", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["table"] == str(out)
    assert table_path(work).read_bytes() == before
    mine = json.loads(out.read_text())
    assert mine["workload"] == "digits_dt" and list(mine["by_timesteps"]) == ["3"]
    assert main(["calibrate-cutoff", str(work), "--timesteps", "2", "--samples", "200", "-o", str(out)]) == 0
    assert sorted(json.loads(out.read_text())["by_timesteps"]) == ["2", "3"]   # merged into -o as well


@pytest.mark.parametrize("content, field", [("not json", "cannot be read"), ('{"a": 1}', "not a cutoff table"),
                                            ('{"workload": "other", "by_timesteps": {}}', "'other'")])
def test_calibrate_refuses_to_overwrite_other_files(tmp_path, capsys, content, field):
    work = _workload_copy(tmp_path)
    out = tmp_path / "x.json"
    out.write_text(content)
    assert main(["calibrate-cutoff", str(work), "--timesteps", "2", "--samples", "50", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(out) in err and field in err
    assert out.read_text() == content


def test_calibrate_unwritable_output_is_one_line(tmp_path, capsys):
    work = _workload_copy(tmp_path)
    (tmp_path / "afile").write_text("")
    out = tmp_path / "afile" / "x.json"                     # its folder is a file
    assert main(["calibrate-cutoff", str(work), "--timesteps", "2", "--samples", "50", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot write the table" in err


def test_cutoff_table_mode_follows_umask(tmp_path, capsys):
    work = _workload_copy(tmp_path)
    table_path(work).unlink()
    old = os.umask(0o027)
    try:
        assert main(["calibrate-cutoff", str(work), "--timesteps", "2", "--samples", "50"]) == 0
    finally:
        os.umask(old)
    capsys.readouterr()
    assert stat.S_IMODE(table_path(work).stat().st_mode) == 0o640
