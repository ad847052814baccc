"""Studies on Dask: a 2-worker LocalCluster gives the serial run's bytes, also with a worker killed
mid-run (its tasks are retried; every task is written exactly once)."""
import json
import os
import signal

import pytest

import strongid

distributed = pytest.importorskip("distributed")

STUDY = {
    "name": "dask",
    "datasets": [
        {"name": "tmi2", "simulate": "tmi", "recipe": {"dim": 2, "n": 3000}, "data_seeds": [1, 2]},
        {"name": "lin", "simulate": "linear-env", "recipe": {"envs": 3, "per_env": 300, "latent_dim": 2, "obs_dim": 4}, "data_seeds": [3]},
    ],
    "models": [
        {"name": "tmi-flow", "kind": "tmi-flow", "options": ["--epochs", "8", "--hidden", "16"]},
        {"name": "fa", "kind": "fa", "options": ["--latent-dim", "2"]},
    ],
    "seeds": [0, 1],
}
OUTPUTS = ["results.json", "results.md", "report.html"]


def _plan(tmp_path, name, study=STUDY):
    f = tmp_path / "study.json"
    f.write_text(json.dumps(study))
    d = tmp_path / name
    assert len(strongid.study.plan(f, d)["tasks"]) == 12
    return d


def _collected(d):
    assert strongid.study.collect(d) == (6, 0)
    return {f: (d / f).read_bytes() for f in OUTPUTS}


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50) as c:
        with distributed.Client(c) as client:
            yield client


def test_a_dask_run_equals_the_serial_run_byte_for_byte(tmp_path, cluster):
    serial, dask = _plan(tmp_path, "serial"), _plan(tmp_path, "dask")
    assert len(strongid.study.run(serial)) == 12
    written = []
    assert sorted(strongid.study.run(dask, cluster, on_result=lambda i, _: written.append(i))) == list(range(12))
    assert sorted(written) == list(range(12))
    assert _collected(serial) == _collected(dask)
    for f in os.listdir(serial / "results"):
        assert (serial / "results" / f).read_bytes() == (dask / "results" / f).read_bytes()
    assert strongid.study.run(dask, cluster) == [], "done tasks are skipped"


def test_a_worker_killed_mid_run_still_completes_every_task_once(tmp_path, cluster):
    serial, dask = _plan(tmp_path, "serial"), _plan(tmp_path, "dask")
    strongid.study.run(serial)
    pids = list(cluster.run(os.getpid).values())
    written = []

    def kill_once(index, task_id):
        written.append(index)
        if len(written) == 2:
            os.kill(pids[0], signal.SIGKILL)

    strongid.study.run(dask, cluster, on_result=kill_once, retries=3)
    assert sorted(written) == list(range(12)), "every task written exactly once"
    assert strongid.study.status(dask)["pending"] == []
    assert _collected(serial) == _collected(dask)
