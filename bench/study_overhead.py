"""Per-task overhead of the study engine (#14): 40 tiny tasks (factor analysis on 200 rows, a fit
of about a millisecond), so the time per task is the engine's: planning aside, regenerating the
data, the fit call, encoding, the metrics and the atomic writes; then the same through one
`strongid study run --index` process per task (what a Slurm array does) and through a 2-worker
Dask LocalCluster. Prints seconds per task for each; run with the package installed
(`pip install .[dask]`) and the binary built (`cargo build --release`).

    python bench/study_overhead.py
"""
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import strongid

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = ROOT / "target" / "release" / "strongid"
STUDY = {
    "name": "overhead",
    "datasets": [{"name": "tiny", "simulate": "tmi", "recipe": {"dim": 2, "n": 200}, "data_seeds": list(range(10))}],
    "models": [{"name": "fa", "kind": "fa", "options": ["--latent-dim", "2"]}],
    "seeds": [0, 1, 2, 3],
}


def plan(tmp, name):
    f = tmp / "study.json"
    f.write_text(json.dumps(STUDY))
    d = tmp / name
    n = len(strongid.study.plan(f, d)["tasks"])
    return d, n


def main():
    tmp = pathlib.Path(tempfile.mkdtemp())
    rows = []
    d, n = plan(tmp, "serial")
    t = time.perf_counter()
    strongid.study.run(d)
    rows.append(("in-process (strongid.study.run, no client)", (time.perf_counter() - t) / n))
    d, n = plan(tmp, "cli")
    t = time.perf_counter()
    for i in range(n):
        subprocess.run([str(BIN), "study", "run", str(d), "--index", str(i), "--quiet"], check=True, capture_output=True)
    rows.append(("one `strongid study run --index` process per task", (time.perf_counter() - t) / n))
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=50) as c, Client(c) as client:
        client.run(lambda: __import__("strongid"))  # workers import the package before timing
        d, n = plan(tmp, "dask")
        t = time.perf_counter()
        strongid.study.run(d, client)
        rows.append(("Dask LocalCluster, 2 workers (wall / tasks)", (time.perf_counter() - t) / n))
    print(f"{n} tasks of factor analysis on 200 rows ({sys.platform}):")
    for name, s in rows:
        print(f"  {name:55s} {s * 1000:7.1f} ms per task")


if __name__ == "__main__":
    main()
