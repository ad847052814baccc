import os
import pathlib
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli():
    """The strongid binary the same checkout built (test.sh builds it before the Python tests)."""
    path = os.environ.get("STRONGID_BIN") or str(ROOT / "target" / "release" / "strongid")
    if not os.path.exists(path):
        path = shutil.which("strongid")
    if not path:
        pytest.skip("the strongid binary is not built (cargo build --release)")
    return path
