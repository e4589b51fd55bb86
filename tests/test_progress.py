"""Progress bars: shown when asked (or on a terminal), silent otherwise; -v logs mapping and simulation."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios

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


def test_compare_bar_counts_variants(capsys, monkeypatch):
    from coresim.commands.compare import compare

    monkeypatch.setenv("COLUMNS", "200")   # the bar's width comes from the environment: wide enough for its text

    rows = compare(None, None, ["layerwise", "density"], ["forward"], ["barrier"], samples=1,
                   overrides=["workload.timesteps=2"], progress=True)
    assert len(rows) == 2
    err = capsys.readouterr().err
    assert "compare" in err and "2/2" in err and "density/forward/barrier: simulating" in err
    compare(None, None, ["layerwise"], ["forward"], ["barrier"], samples=1, overrides=["workload.timesteps=2"])
    assert capsys.readouterr().err == ""   # not a terminal: quiet


def test_compare_shows_a_bar_on_a_terminal():
    """`coresim compare` with stderr on a pseudo-terminal draws its bar of variants there."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))   # a 160-column terminal
    proc = subprocess.Popen([sys.executable, "-m", "coresim.cli", "compare", "default", "default", "--samples", "1",
                             "--set", "workload.timesteps=2"], stdout=subprocess.PIPE, stderr=slave,
                            stdin=subprocess.DEVNULL)
    os.close(slave)
    err = b""
    while True:                                   # read as it comes, so a full pty buffer cannot block the child
        ready, _, _ = select.select([master], [], [], 600)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:                           # EIO: the child closed its end
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    out = proc.communicate(timeout=600)[0].decode()
    assert proc.returncode == 0, err.decode(errors="replace")
    assert "layerwise/forward/barrier" in out
    text = err.decode(errors="replace")
    assert "compare:" in text and "1/2" in text and "density/forward/barrier: mapping" in text
