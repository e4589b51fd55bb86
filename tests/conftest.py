from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
REFERENCE = DATA / "reference"   # BookSim2, SCALE-Sim and Lava results (see their READMEs)


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def default_trace(tmp_path_factory) -> Path:
    """An HDF5 trace of the default run (2 samples), shared read-only by the export, plot and report tests."""
    from coresim.run import run
    from coresim.trace.hdf5 import write_trace

    path = tmp_path_factory.mktemp("default_trace") / "default.h5"
    write_trace(path, run(samples=2))
    return path


@pytest.fixture
def data_engine(monkeypatch):
    """Dense chips run by the data-carrying engine (`ChipSimulator`: values travel in the packets) instead of the
    compiled timing loop (`coresim.engine.timing`), for tests of the data path."""
    from coresim.engine import dense
    from coresim.engine.simulator import ChipSimulator

    monkeypatch.setattr(dense, "TimedChip", ChipSimulator)
