"""What every notebook's tests do the same way: read the notebook, run its first cell as
IPython would (with pip faked), and execute the whole notebook in FAST mode.

Each ``tests/test_lecture_NN.py`` keeps only what is particular to its lecture; what they all
check of an executed notebook (its pictures, no error) is counted by :func:`image_count` and
:func:`error_outputs`.
"""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import nbformat

LECTURES = Path(__file__).resolve().parent.parent / "lectures"
# Taken at import: a test may run the cell twice, and the second call must not wrap the fake.
_REAL_FIND_SPEC = importlib.util.find_spec


def read(notebook: Path):
    return nbformat.read(notebook, as_version=4)


def code(notebook: Path) -> str:
    """All code cells of the notebook, joined."""
    return "\n".join(c.source for c in read(notebook).cells if c.cell_type == "code")


class FakeIPython:
    """Records the magics a cell runs instead of running them."""

    def __init__(self):
        self.magics = []

    def run_line_magic(self, name, line, *args, **kwargs):
        self.magics.append((name, line))


def run_setup_cell(notebook: Path, monkeypatch, *, fast: str | None,
                   coursekit_missing: bool = False):
    """Execute the first code cell as IPython would (magics turned into calls, recorded, not
    run), as a student would outside nbgrader.

    ``fast``: the value of COURSEKIT_FAST, or None to leave it unset. ``coursekit_missing``:
    pretend coursekit is not installed (as on a fresh Colab runtime).
    Returns ``(magics, namespace)``."""
    from IPython.core.inputtransformer2 import TransformerManager

    first = next(c for c in read(notebook).cells if c.cell_type == "code")
    python = TransformerManager().transform_cell(first.source)
    shell = FakeIPython()
    real_find_spec = _REAL_FIND_SPEC

    def find_spec(name, *args, **kwargs):
        if name == "coursekit" and coursekit_missing:
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    if fast is None:
        monkeypatch.delenv("COURSEKIT_FAST", raising=False)
    else:
        monkeypatch.setenv("COURSEKIT_FAST", fast)
    namespace = {"get_ipython": lambda: shell, "__name__": "__main__"}
    exec(compile(python, f"{Path(notebook).name}: first code cell", "exec"), namespace)
    return shell.magics, namespace


def execute_fast(notebook: Path, tmp_dir: Path, threads: int | None = None, timeout: int = 900):
    """The notebook executed in FAST mode in lectures/, as a student would run it.

    ``tmp_dir`` becomes the kernel's TMPDIR (the notebook's temporary runs stay out of the
    user's /tmp); ``threads`` sets OMP_NUM_THREADS for the kernel. Returns the executed
    notebook and the JSON printed by its cell tagged ``results``. A failing cell raises
    nbclient's CellExecutionError with the traceback."""
    from nbclient import NotebookClient

    nb = read(notebook)
    env = dict(os.environ, COURSEKIT_FAST="1", TMPDIR=str(tmp_dir))
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    env.pop("MPLBACKEND", None)  # the kernel's own inline backend, as in JupyterLab
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(LECTURES)}})
    client.execute(env=env)
    (cell,) = [c for c in nb.cells if "results" in c.metadata.get("tags", [])]
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    return nb, json.loads(text)


def settings_namespace(notebook: Path, monkeypatch, tmp_path, fast: bool) -> dict:
    """The notebook's imports cell (its second code cell) and its cell tagged ``settings``, run
    with ``FAST`` forced and temporary folders under ``tmp_path``: the settings of either mode
    without running anything heavy."""
    import tempfile

    import torch

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cells = [c for c in read(notebook).cells if c.cell_type == "code"]
    (settings,) = [c for c in cells if "settings" in c.metadata.get("tags", [])]
    namespace = {"FAST": fast, "SEED": 0, "torch": torch, "__name__": "__main__"}  # cell 1's
    exec(compile(cells[1].source, "imports-cell", "exec"), namespace)
    exec(compile(settings.source, "settings-cell", "exec"), namespace)
    return namespace


def builder_writes(notebook: Path, tmp_path: Path) -> None:
    """scripts/build_lecture_NN.py, run with its output redirected to ``tmp_path``, writes the
    cells (type, source, tags) of the committed ``notebook``."""
    builder = LECTURES.parent / "scripts" / f"build_lecture_{Path(notebook).name[:2]}.py"
    source = builder.read_text()
    target = f'Path(__file__).resolve().parents[1] / "lectures" / "{Path(notebook).name}"'
    assert target in source, f"{builder.name} no longer writes {Path(notebook).name}"
    exec(compile(source.replace(target, repr(str(tmp_path / Path(notebook).name))),
                 str(builder), "exec"), {"__name__": "build"})
    built = read(tmp_path / Path(notebook).name)
    assert [(c.cell_type, c.source, c.metadata.get("tags")) for c in built.cells] == [
        (c.cell_type, c.source, c.metadata.get("tags")) for c in read(notebook).cells], (
        f"{notebook.name} differs from what scripts/{builder.name} writes: run the script")


def image_count(nb) -> int:
    """How many PNG pictures the executed notebook's code cells show."""
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.outputs)


def error_outputs(nb) -> list:
    """The executed notebook's error outputs, and tracebacks written to stderr (a cell that
    catches an exception and prints it has not failed for nbclient)."""
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr"
                                            and "Traceback" in o.text)]
