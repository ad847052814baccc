"""The experiment suite E1–E6 (the CLI's ``experiments``)."""
from __future__ import annotations

import json
import os

from . import _strongid


def run(quick=True, out="strongid-experiments", only=None, resume=False):
    """Run the suite into ``out`` (results.json, results.md, report.html, SVG figures) and return
    results.json as a dict. ``only``: e.g. ["E1", "E3"]; ``resume``: keep finished rows of an
    earlier run into ``out``."""
    _strongid.experiments_run(bool(quick), os.fspath(out), list(only) if only else None, bool(resume))
    with open(os.path.join(os.fspath(out), "results.json")) as f:
        return json.load(f)
