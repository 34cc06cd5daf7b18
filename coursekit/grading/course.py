"""Drive nbgrader on a throw-away copy of the course: generate, submit, autograde, read scores.

Used by ``scripts/generate_assignments.py`` (regenerate ``assignments/`` from ``solutions/``)
and by the grading tests, which must never write a ``gradebook.db`` or nbgrader's output
folders into the repository::

    course = make_course(repo_root, tmp_path / "course", ["ps1_pix2pix"])
    release = generate_assignment(course, "ps1_pix2pix")            # -> .../assignments/ps1_pix2pix
    answers = solution_sources(course / "solutions/ps1_pix2pix/ps1_pix2pix.ipynb")
    submit(course, "ps1_pix2pix", "alice",
           {"ps1_pix2pix": make_submission(release / "ps1_pix2pix.ipynb", answers)})
    autograde(course, "ps1_pix2pix")                                   # every submitted student
    scores(course, "ps1_pix2pix")["alice"]                             # {grade_id: points}

nbgrader runs as a subprocess of the current interpreter (``python -m nbgrader``), with the
interpreter's folder first on PATH: nbgrader starts ``alembic`` by name when it creates the
gradebook, and the notebooks' ``python3`` kernels must be this environment's.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Mapping

import nbformat

__all__ = [
    "NbgraderError",
    "autograde",
    "course_directories",
    "generate_assignment",
    "generate_feedback",
    "hidden_test_lines",
    "make_course",
    "make_submission",
    "max_scores",
    "run_nbgrader",
    "scores",
    "solution_sources",
    "submit",
]

_SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
_HIDDEN_BEGIN = re.compile(r"^\s*### BEGIN HIDDEN TESTS\s*$")
_HIDDEN_END = re.compile(r"^\s*### END HIDDEN TESTS\s*$")


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message ends with its output."""


def course_directories(course_dir: str | os.PathLike) -> tuple[str, str]:
    """(source_directory, release_directory) as set in the course's ``nbgrader_config.py``
    (nbgrader's defaults are "source" and "release"; coursekit uses "solutions" and
    "assignments")."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    directories = config.CourseDirectory
    return (directories.get("source_directory", "source"),
            directories.get("release_directory", "release"))


def make_course(repo_root: str | os.PathLike, dest: str | os.PathLike,
                assignments: Iterable[str]) -> Path:
    """A fresh course directory at ``dest``: the repository's ``nbgrader_config.py`` and the
    source folders of ``assignments`` (nothing else: no gradebook, no earlier output)."""
    repo_root, dest = Path(repo_root), Path(dest)
    dest.mkdir(parents=True, exist_ok=False)
    shutil.copy2(repo_root / "nbgrader_config.py", dest / "nbgrader_config.py")
    source, _ = course_directories(dest)
    for assignment in assignments:
        src = repo_root / source / assignment
        if not src.is_dir():
            raise FileNotFoundError(f"no assignment {assignment!r}: {src} does not exist")
        shutil.copytree(src, dest / source / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return dest


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_nbgrader(course_dir: str | os.PathLike, *args: str,
                 timeout: float | None = None) -> str:
    """Run ``nbgrader ARGS`` in ``course_dir``; return its output (stdout and stderr), or
    raise :class:`NbgraderError` if it exits with an error."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.run(cmd, cwd=str(course_dir), env=_env(), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise NbgraderError(f"`nbgrader {' '.join(args)}` exited with {proc.returncode} in "
                            f"{course_dir}:\n{proc.stdout[-6000:]}")
    return proc.stdout


def generate_assignment(course_dir: str | os.PathLike, assignment: str) -> Path:
    """``nbgrader generate_assignment ASSIGNMENT --force``; returns the release folder."""
    run_nbgrader(course_dir, "generate_assignment", assignment, "--force")
    _, release = course_directories(course_dir)
    return Path(course_dir) / release / assignment


def solution_sources(source_notebook: str | os.PathLike) -> dict[str, str]:
    """The solution cells of an nbgrader source notebook, by ``grade_id``, as a student who
    wrote exactly the solution would submit them (the ``### BEGIN/END SOLUTION`` lines
    removed)."""
    nb = nbformat.read(str(source_notebook), as_version=4)
    answers = {}
    for cell in nb.cells:
        info = cell.metadata.get("nbgrader", {})
        if info.get("solution"):
            lines = [line for line in cell.source.split("\n") if not _SOLUTION_MARKERS.match(line)]
            answers[info["grade_id"]] = "\n".join(lines)
    return answers


def hidden_test_lines(source_notebook: str | os.PathLike) -> dict[str, list[str]]:
    """The lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` of each test
    cell, by ``grade_id`` (stripped, blank lines left out)."""
    nb = nbformat.read(str(source_notebook), as_version=4)
    hidden: dict[str, list[str]] = {}
    for cell in nb.cells:
        inside, lines = False, []
        for line in cell.source.split("\n"):
            if _HIDDEN_BEGIN.match(line):
                inside = True
            elif _HIDDEN_END.match(line):
                inside = False
            elif inside and line.strip():
                lines.append(line.strip())
        if lines:
            hidden[cell.metadata["nbgrader"]["grade_id"]] = lines
    return hidden


def make_submission(release_notebook: str | os.PathLike,
                    answers: Mapping[str, str]) -> nbformat.NotebookNode:
    """The student notebook with the solution cells named in ``answers`` (``grade_id`` ->
    source) filled in, everything else (metadata, checksums, other cells) as released."""
    nb = nbformat.read(str(release_notebook), as_version=4)
    remaining = dict(answers)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in remaining:
            if not cell.metadata["nbgrader"].get("solution"):
                raise ValueError(f"cell {grade_id!r} is not a solution cell")
            cell.source = remaining.pop(grade_id)
    if remaining:
        raise KeyError(f"no solution cells {sorted(remaining)} in {release_notebook}")
    return nb


def submit(course_dir: str | os.PathLike, assignment: str, student: str,
           notebooks: Mapping[str, nbformat.NotebookNode]) -> Path:
    """Place ``notebooks`` (name without ``.ipynb`` -> notebook) where ``nbgrader collect``
    would: ``submitted/STUDENT/ASSIGNMENT/``."""
    folder = Path(course_dir) / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks.items():
        nbformat.write(nb, str(folder / f"{name}.ipynb"))
    return folder


def autograde(course_dir: str | os.PathLike, assignment: str, student: str | None = None,
              timeout: float | None = None) -> str:
    """``nbgrader autograde ASSIGNMENT --force`` for every submitted student (or one)."""
    args = ["autograde", assignment, "--force"]
    if student is not None:
        args.append(f"--student={student}")
    return run_nbgrader(course_dir, *args, timeout=timeout)


def generate_feedback(course_dir: str | os.PathLike, assignment: str) -> Path:
    """``nbgrader generate_feedback ASSIGNMENT --force``; returns the ``feedback`` folder."""
    run_nbgrader(course_dir, "generate_feedback", assignment, "--force")
    return Path(course_dir) / "feedback"


def _gradebook(course_dir: str | os.PathLike):
    from nbgrader.api import Gradebook

    db = Path(course_dir).resolve() / "gradebook.db"
    if not db.exists():
        raise FileNotFoundError(f"{db} does not exist: generate the assignment first")
    return Gradebook(f"sqlite:///{db}")


def scores(course_dir: str | os.PathLike, assignment: str) -> dict[str, dict[str, float]]:
    """Points of every graded cell of every autograded student: {student: {grade_id: score}}."""
    result: dict[str, dict[str, float]] = {}
    with _gradebook(course_dir) as gb:
        for submission in gb.assignment_submissions(assignment):
            result[submission.student_id] = {
                grade.name: float(grade.score) for nb in submission.notebooks for grade in nb.grades}
    return result


def max_scores(course_dir: str | os.PathLike, assignment: str) -> dict[str, float]:
    """Points of every graded cell of the assignment: {grade_id: max_score}."""
    with _gradebook(course_dir) as gb:
        return {cell.name: float(cell.max_score)
                for nb in gb.find_assignment(assignment).notebooks for cell in nb.grade_cells}
