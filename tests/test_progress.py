"""Progress bars: shown when asked (or on a terminal), silent otherwise; -v logs mapping and simulation."""

from __future__ import annotations

from coresim.cli import main
from coresim.run import prepare, simulate


def test_progress_bar_counts_timesteps(capsys):
    prep = prepare(samples=2)
    simulate(prep, progress=True)
    err = capsys.readouterr().err
    assert "simulating" in err and "/16 [" in err
    simulate(prep)  # not a terminal: quiet
    assert capsys.readouterr().err == ""


def test_verbose_logs(capsys, caplog):
    caplog.set_level("INFO", logger="coresim")
    assert main(["-v", "run", "--samples", "1"]) == 0
    text = caplog.text
    assert "mapping digits_cnn" in text and "simulating 1 samples" in text
