"""Studies from Python: plan a study file, run its tasks here or on a Dask cluster, collect.

    from dask.distributed import Client, LocalCluster
    strongid.study.plan("study.json", "S")
    with Client(LocalCluster(n_workers=2, threads_per_worker=1)) as client:
        strongid.study.run("S", client)          # or dask-jobqueue's SLURMCluster, ...
    strongid.study.collect("S")

A task's result depends only on the task, so a study gives the same bytes run serially, on any
number of workers, or with workers lost midway (their tasks are retried and resume from their
checkpoints under S/work/ when the directory is shared).
"""
from __future__ import annotations

import json
import os

from . import _strongid


def plan(file, out):
    """Expand ``file`` into ``out``/manifest.json; returns the manifest (name, tasks)."""
    return json.loads(_strongid.study_plan(os.fspath(file), os.fspath(out)))


def manifest(directory):
    """The study directory's manifest.json as a dict: its tasks (id, dataset, model, seed) in order."""
    with open(os.path.join(os.fspath(directory), "manifest.json")) as f:
        return json.load(f)


def status(directory):
    """Task indices by state: done, running, failed (with errors), pending."""
    return json.loads(_strongid.study_status(os.fspath(directory)))


def collect(directory, out=None):
    """results.json, results.md and report.html into ``out`` (default: the study directory);
    returns (rows written, tasks not done)."""
    directory = os.fspath(directory)
    return _strongid.study_collect(directory, os.fspath(out) if out is not None else directory)


def _compute(directory, index):
    """What a worker runs: one task's result (JSON) and codes, returned to the caller."""
    return _strongid.study_compute(directory, index)


def pending(directory):
    """(index, id) of the tasks without a result."""
    directory = os.fspath(directory)
    return [(t["index"], t["id"]) for t in manifest(directory)["tasks"] if not os.path.exists(os.path.join(directory, "results", t["id"] + ".json"))]


def run(directory, client=None, *, retries=2, resources=None, on_result=None):
    """Run every task without a result. With ``client`` (a ``dask.distributed.Client``), one
    future per task (``retries`` on worker loss; ``resources`` e.g. {"cores": 1} if the workers
    declare them), results streamed back as they finish and written here by the caller;
    without, the tasks run one by one in this process. ``on_result(index, id)`` is called after
    each write. Returns the indices run, in completion order."""
    directory = os.path.abspath(os.fspath(directory))
    todo = pending(directory)
    done = []
    if client is None:
        for index, task_id in todo:
            if _strongid.study_run(directory, index):
                done.append(index)
                if on_result:
                    on_result(index, task_id)
        return done
    from distributed import as_completed

    futures = {}
    for index, task_id in todo:
        fut = client.submit(_compute, directory, index, key=f"strongid-{task_id}", retries=retries, resources=resources, pure=False)
        futures[fut] = (index, task_id)
    for fut, (result, codes) in as_completed(list(futures), with_results=True):
        index, task_id = futures[fut]
        _strongid.study_write(directory, result, codes)
        done.append(index)
        if on_result:
            on_result(index, task_id)
    return done
