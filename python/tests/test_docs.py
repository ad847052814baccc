"""The user guide's Python side (docs/src, an mdBook):

- every ``python`` code block of every page runs, in order, one namespace per page, in a fresh
  directory holding the repository's ``examples`` and ``studies`` (a block whose info string
  holds ``norun`` is shown, not run: it needs a cluster);
- the Python API reference page is generated from the package's signatures and docstrings and
  must equal it (``STRONGID_BLESS=1 pytest python/tests/test_docs.py`` rewrites it);
- the package's docstring examples (``>>>``) run as doctests.
"""
import doctest
import importlib
import inspect
import os
import pathlib
import re

import pytest

import strongid

ROOT = pathlib.Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "src"
MODULES = ["strongid", "strongid.metrics", "strongid.simulate", "strongid.probe", "strongid.theory",
           "strongid.experiments", "strongid.study", "strongid.plot"]


def blocks(text):
    """(info string, first line, text) of each fenced block."""
    out, open_ = [], None
    for i, line in enumerate(text.splitlines()):
        if line.lstrip().startswith("```"):
            if open_ is None:
                open_ = [line.lstrip().strip("`").strip(), i + 2, []]
            else:
                out.append((open_[0], open_[1], "\n".join(open_[2]) + "\n"))
                open_ = None
        elif open_ is not None:
            open_[2].append(line)
    assert open_ is None, "an unclosed code block"
    return out


def pages_with_python():
    pages = []
    for page in sorted(GUIDE.rglob("*.md")):
        runnable = [b for b in blocks(page.read_text()) if b[0].split(",")[0] == "python" and "norun" not in b[0]]
        if runnable:
            pages.append(pytest.param(page, runnable, id=str(page.relative_to(GUIDE))))
    return pages


@pytest.mark.parametrize("page, runnable", pages_with_python())
def test_every_python_block_of_the_guide_runs(page, runnable, tmp_path, monkeypatch, cli):
    for shipped in ("examples", "studies"):
        (tmp_path / shipped).symlink_to(ROOT / shipped)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{pathlib.Path(cli).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__guide__"}
    for info, line, code in runnable:
        try:
            exec(compile(code, f"{page}:{line}", "exec"), namespace)
        except Exception as e:  # name the page and line in the failure
            raise AssertionError(f"{page}:{line}: the block failed: {e!r}\n{code}") from e


def test_the_guide_has_python_blocks():
    assert len(pages_with_python()) >= 3


def first_paragraph(doc):
    doc = inspect.cleandoc(doc or "")
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def signature(obj):
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def api_reference():
    """Markdown of every public name of the package: signature and docstring."""
    out = ["# Python API reference", "",
           "Generated from the package's signatures and docstrings (`python/tests/test_docs.py` checks that "
           "this page equals them; `STRONGID_BLESS=1 pytest python/tests/test_docs.py` rewrites it). The estimators' "
           "parameters are the CLI options of the same name ([command-line reference](cli.md)).", ""]
    for name in MODULES:
        mod = importlib.import_module(name)
        out += [f"## `{name}`", "", inspect.cleandoc(mod.__doc__ or "").split("\n\n")[0].replace("\n", " "), ""]
        public = getattr(mod, "__all__", None) or [n for n in vars(mod) if not n.startswith("_")]
        for attr in public:
            obj = getattr(mod, attr)
            if inspect.ismodule(obj) or (name != "strongid" and getattr(obj, "__module__", name) not in (name, None)
                                         and not getattr(obj, "__module__", "").startswith(name)):
                continue
            if inspect.isclass(obj):
                out += [f"### class `{name}.{attr}{signature(obj)}`", "", inspect.cleandoc(obj.__doc__ or "(no docstring)"), ""]
                own = {}
                for base in reversed(obj.__mro__):  # methods the package defines, nearest class last
                    if base.__module__.startswith("strongid"):
                        own.update(vars(base))
                for meth, member in sorted(own.items()):
                    if meth.startswith("_") or not (inspect.isfunction(member) or isinstance(member, (classmethod, staticmethod, property))):
                        continue
                    if isinstance(member, property):
                        out += [f"- `{meth}` (property): {first_paragraph(member.__doc__)}"]
                    else:
                        fn = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
                        out += [f"- `{meth}{signature(fn)}`: {first_paragraph(fn.__doc__)}"]
                out.append("")
            elif callable(obj):
                out += [f"### `{name}.{attr}{signature(obj)}`", "", inspect.cleandoc(obj.__doc__ or "(no docstring)"), ""]
    text = "\n".join(out).rstrip() + "\n"
    # Signatures print default objects by address, dataclass factories as <factory>; keep the
    # page stable and free of what Markdown would read as HTML.
    return re.sub(r" at 0x[0-9a-f]+", "", text).replace("<factory>", "factory()")


def test_the_python_api_page_is_the_packages_docstrings():
    path = GUIDE / "reference" / "python.md"
    want = api_reference()
    if os.environ.get("STRONGID_BLESS"):
        path.write_text(want)
    assert path.read_text() == want, f"{path} is out of date: run STRONGID_BLESS=1 pytest python/tests/test_docs.py"


def test_every_public_name_has_a_docstring():
    missing = []
    for name in MODULES:
        mod = importlib.import_module(name)
        for attr in getattr(mod, "__all__", None) or [n for n in vars(mod) if not n.startswith("_")]:
            obj = getattr(mod, attr)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and not (obj.__doc__ or "").strip():
                if getattr(obj, "__module__", "").startswith("strongid"):
                    missing.append(f"{name}.{attr}")
    missing += [line for line in api_reference().splitlines() if line.startswith("- `") and line.endswith("`: ")]
    assert not missing, f"public names or methods without a docstring: {missing}"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0
