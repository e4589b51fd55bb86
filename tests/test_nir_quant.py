"""Scale search of the NIR import (`--quantize search`, coresim.analysis.nir_quant): never worse than max-abs on
the calibration samples, better where max-abs quantises a threshold badly; bad option values are one-line errors."""

from __future__ import annotations

import nir
import numpy as np
import pytest

from coresim.analysis.nir_quant import network_score
from coresim.cli import main
from coresim.errors import SpecError
from coresim.run import prepare, simulate
from coresim.workload.nir_import import load_nir

from . import nir_nets as nets
from .conftest import ROOT

BITS4 = ["chip.core.mac.weight_bits=4"]


def poor_maxabs_graph() -> nir.NIRGraph:
    """Weights 1 and 0.2, threshold 0.85: at 4 bits the max-abs scale 7 makes 0.2 -> 1 and the threshold 6, so six
    small inputs fire where the float network fires after five; the scale 5.25 (factor 0.75) is exact."""
    w = np.full((4, 4), 0.2)
    w[np.arange(4), np.arange(4)] = 1.0
    return nets.graph({"input": nir.Input(input_type=np.array([4])), "fc": nir.Linear(weight=w),
                       "if": nir.IF(r=np.ones(4), v_threshold=np.full(4, 0.85)),
                       "output": nir.Output(output_type=np.array([4]))})


def agreement(path, quantize: str, samples: int, overrides=()) -> tuple[dict, dict]:
    prep = prepare(None, path, samples=samples, overrides=list(overrides), quantize=quantize,
                   calibration_samples=samples)
    return simulate(prep).summary["nir_agreement"], prep.config["run"].get("nir_scales", {})


def test_search_beats_a_poor_maxabs_scale(tmp_path):
    path = tmp_path / "q.nir"
    nir.write(path, poor_maxabs_graph())
    base, none = agreement(path, "maxabs", 16, BITS4)
    found, scales = agreement(path, "search", 16, BITS4)
    assert none == {} and set(scales) == {"fc"} and scales["fc"] != 1
    assert base["layers"]["if"]["spike_count_corr"] < 0.999 and base["output_equal"] < 1
    assert found["layers"]["if"]["spike_count_corr"] == 1.0 and found["output_equal"] == 1.0
    # the chosen factor is in the import: weights and threshold follow the searched scale
    _, params = load_nir(path, None, 4, tuple(scales.items()))
    s = 7 * scales["fc"]
    assert params["fc.weight"].tolist() == np.round(s * poor_maxabs_graph().nodes["fc"].weight).tolist()
    assert params["fc.threshold"].tolist() == [int(np.floor(0.85 * s)) + 1] * 4


@pytest.mark.parametrize("name,bits", [("residual", 4), ("residual", 8), ("recurrent", 4), ("chain", 6)])
def test_search_never_worse_on_calibration_samples(tmp_path, name, bits):
    if name == "chain":
        path = tmp_path / "chain.nir"
        g = nets.chain(np.random.default_rng(5), neuron=nets.lif_node)
        g.nodes["fc1"].weight = g.nodes["fc1"].weight * 0.37  # float weights: quantised
        nir.write(path, g)
    else:
        path = ROOT / "examples" / f"{name}.nir"
    ov = [f"chip.core.mac.weight_bits={bits}"]
    base, _ = agreement(path, "maxabs", 6, ov)
    found, _ = agreement(path, "search", 6, ov)  # calibrated on the very samples it runs
    assert network_score(found) >= network_score(base)


def test_clipping_above_maxabs_stays_in_width(tmp_path):
    path = tmp_path / "q.nir"
    nir.write(path, poor_maxabs_graph())
    _, params = load_nir(path, None, 4, (("fc", 1.25),))
    assert params["fc.weight"].max() == 7 and params["fc.weight"].min() >= -7  # 1.0 x 8.75 clipped to 7


@pytest.mark.parametrize("args,msg", [(["--quantize", "best"], "--quantize"),
                                      (["--calibration-samples", "0"], "--calibration-samples"),
                                      (["--calibration-samples", "x"], "--calibration-samples")])
def test_bad_options_exit_2_one_line(tmp_path, capsys, args, msg):
    path = tmp_path / "q.nir"
    nir.write(path, poor_maxabs_graph())
    with pytest.raises(SystemExit) as exc:
        main(["run", "default", str(path), "--samples", "1", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and msg in err


def test_bad_api_values_are_spec_errors(tmp_path):
    path = tmp_path / "q.nir"
    nir.write(path, poor_maxabs_graph())
    with pytest.raises(SpecError, match="--quantize"):
        prepare(None, path, samples=1, quantize="best")
    with pytest.raises(SpecError, match="--calibration-samples"):
        prepare(None, path, samples=1, quantize="search", calibration_samples=0)
