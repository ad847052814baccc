"""The full experiment suite as studies on a 2-worker Dask LocalCluster against
`strongid experiments --full` (#14): wall times, the engine's overhead per task, and exactness
(every task's result file byte-identical between the two schedules).

`experiments --full` runs E1-E4 and E6 through the study engine in one process (tasks side by
side on the cores) plus E5 (no fits). The Dask run plans the same shipped study files
(studies/e*.json) and runs their 140 tasks on a LocalCluster of 2 single-threaded workers
(RAYON_NUM_THREADS=1: one core each), the caller writing results as they arrive. Run with the
package installed (`pip install .[dask]`) and the binary built (`cargo build --release`):

    python bench/suite_on_dask.py [OUT]        # about 1.5 h on 2 cores
"""
import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = ROOT / "target" / "release" / "strongid"
IDS = ["e1", "e2", "e3", "e4", "e6"]


def main():
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="suite-dask-"))
    out.mkdir(parents=True, exist_ok=True)
    suite = out / "suite"
    t = time.perf_counter()
    subprocess.run([str(BIN), "experiments", "--full", "--out", str(suite)], check=True, stdout=subprocess.DEVNULL)
    suite_wall = time.perf_counter() - t
    per_experiment = {e["id"]: e["seconds"] for e in json.loads((suite / "results.json").read_text())["experiments"]}

    os.environ["RAYON_NUM_THREADS"] = "1"  # inherited by the workers: one core each
    import strongid
    from dask.distributed import Client, LocalCluster

    dirs = {i: out / "dask" / i.upper() for i in IDS}
    tasks = sum(len(strongid.study.plan(ROOT / "studies" / f"{i}.json", d)["tasks"]) for i, d in dirs.items())
    t = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, Client(cluster) as client:
        # One caller thread per study, so the studies' tasks share the workers at once.
        with concurrent.futures.ThreadPoolExecutor(len(dirs)) as pool:
            list(pool.map(lambda d: strongid.study.run(d, client), dirs.values()))
    dask_wall = time.perf_counter() - t
    for d in dirs.values():
        strongid.study.collect(d)

    differ = []
    for i, d in dirs.items():
        for f in sorted((d / "results").glob("*.json")):
            if f.read_bytes() != (suite / "studies" / i.upper() / "results" / f.name).read_bytes():
                differ.append(f"{i}/{f.name}")
    fits = suite_wall - per_experiment["E5"]
    print(f"tasks: {tasks}")
    print(f"experiments --full: {suite_wall:.0f} s wall ({fits:.0f} s for the fitted experiments E1-E4, E6; E5 {per_experiment['E5']:.0f} s)")
    print(f"2-worker Dask LocalCluster, the same {tasks} tasks: {dask_wall:.0f} s wall ({dask_wall / fits:.3f} x)")
    print(f"difference per task: {(dask_wall - fits) / tasks:+.2f} s")
    print(f"task results identical in both runs: {'yes' if not differ else 'NO: ' + ', '.join(differ[:5])}")
    print(f"per experiment (suite, s): " + ", ".join(f"{k} {v:.0f}" for k, v in per_experiment.items()))


if __name__ == "__main__":
    main()
