from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
REFERENCE = DATA / "reference"   # BookSim2, SCALE-Sim and Lava results (see their READMEs)


@pytest.fixture
def root() -> Path:
    return ROOT
