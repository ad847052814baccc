"""The newcomer's example runs and shows what it claims."""
import pathlib
import subprocess
import sys

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "tmi_vs_flow.py"


def test_the_example_runs_and_only_the_tmi_flow_finds_the_latent(tmp_path):
    out = subprocess.run([sys.executable, str(EXAMPLE)], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines() if line.startswith(("TMIFlow", "Flow "))]
    strong = {(r[0], r[1]): float(r[3]) for r in rows}
    rmse = {(r[0], r[1]): float(r[5]) for r in rows}
    for s in "01":
        assert strong[("TMIFlow", s)] > 0.98 and strong[("Flow", s)] < strong[("TMIFlow", s)] - 0.03
        assert rmse[("Flow", s)] > 2 * rmse[("TMIFlow", s)]
    assert (tmp_path / "tmi_vs_flow.png").exists()
