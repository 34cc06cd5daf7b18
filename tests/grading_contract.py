"""The tests every nbgrader assignment has, collected by tests/test_grading_<psN>.py.

A test file describes its assignment as ``ASSIGNMENT = Assignment(...)`` and takes, with
``from grading_contract import *``, the tests below (pytest collects an imported ``test_*``
function as one of the file's own, under its name), the fixtures ``assignment`` and
``graded``, and ``pytest_generate_tests`` (which gives the tests that take ``mutant`` or
``equivalent`` one case per mutant or correct variant in the assignment's mutants module,
tests/grading_mutants/<name>.py). What only one assignment has (its hand-computed values,
checks of hand-written parts, the training-run threshold) stays in its own file.

Quick tests: the source notebook's structure and points, the committed student notebook is
exactly nbgrader's output and hides solutions and hidden tests, every mutant applies.

Slow tests share one nbgrader run per test file (``graded``) in a temporary copy of the
course: the solution, the untouched student notebook, the correct solutions written
differently, the mutants (one per part in each submission), a submission that calls
coursekit's own implementations, and one with a crashing part, an endless loop and a flood of
output, all autograded in one ``nbgrader autograde`` call, then ``nbgrader
generate_feedback``.
"""
from __future__ import annotations

import ast
import html
import importlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Callable

import nbformat
import pytest

from coursekit.grading import course
from grading_mutants.common import Mutant, mutant_submissions, mutants_of

ROOT = Path(__file__).resolve().parents[1]
# nbgrader_config.py: c.LimitOutput.max_lines = 500 (nbgrader keeps the first 500 lines of an
# output and adds one line saying that the rest was cut).
MAX_OUTPUT_LINES = 500


@dataclass
class Assignment:
    """One problem set, as its tests see it."""

    #: The folder and notebook name under solutions/ and assignments/, e.g. "ps1_pix2pix".
    name: str
    #: The module of checks its test cells call, e.g. "coursekit.grading.pix2pix".
    checks_module: str
    #: The points of each part (the grade_id of its solution cell), as the introduction says.
    part_points: dict[str, int]
    #: A visible test line of the student notebook: the positive control of the searches that
    #: find no hidden line in the student notebook or the feedback.
    visible_line: str
    #: How many ``raise NotImplementedError()`` the student notebook's solution cells hold (one
    #: per function or method to write).
    stub_raises: int
    #: The part of the mutants module's BROKEN submission that loops forever.
    endless_loop_part: str
    #: The source notebook has more hidden-test lines and more solution lines than this.
    min_secret_lines: int = 30
    #: Ungraded cells that call the FLOOD part too: their output is cut as well.
    flood_also_in: tuple[str, ...] = ()
    #: tests/grading_mutants/<name>.py.
    mutants: ModuleType = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.mutants = importlib.import_module(f"grading_mutants.{self.name}")

    @property
    def notebook(self) -> str:
        return f"{self.name}.ipynb"

    @property
    def source(self) -> Path:
        return ROOT / "solutions" / self.name / self.notebook

    @property
    def release(self) -> Path:
        return ROOT / "assignments" / self.name / self.notebook

    def solution_function(self, part: str) -> Callable:
        """The source notebook's solution of ``part`` (a function of that name), defined in a
        namespace of its own with torch imported."""
        namespace: dict = {}
        exec("import torch", namespace)
        exec(course.solution_sources(self.source)[part], namespace)
        return namespace[part]


@pytest.fixture(scope="module")
def assignment(request) -> Assignment:
    return request.module.ASSIGNMENT


def pytest_generate_tests(metafunc) -> None:
    """One case per mutant (``mutant``) and per correct variant (``equivalent``) of the test
    file's ASSIGNMENT."""
    mutants = metafunc.module.ASSIGNMENT.mutants
    if "mutant" in metafunc.fixturenames:
        metafunc.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
    if "equivalent" in metafunc.fixturenames:
        metafunc.parametrize("equivalent", sorted(mutants.EQUIVALENT))


def _graded_cells(nb) -> dict[str, list[tuple[str, float]]]:
    """{solution grade_id: [(test grade_id, points), ...]}: each test cell belongs to the
    solution cell above it."""
    parts: dict[str, list[tuple[str, float]]] = {}
    current = None
    for cell in nb.cells:
        info = cell.metadata.get("nbgrader", {})
        if info.get("solution"):
            current = info["grade_id"]
            parts[current] = []
        elif info.get("grade"):
            parts[current].append((info["grade_id"], info["points"]))
    return parts


def _code_lines(source: str) -> list[str]:
    return [line.strip() for line in source.split("\n") if line.strip()]


# ====================================================================================== quick
def test_notebooks_are_committed_without_outputs(assignment):
    for path in (assignment.source, assignment.release):
        for cell in nbformat.read(str(path), as_version=4).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (path, cell.id)


def test_parts_points_and_cell_metadata(assignment):
    nb = nbformat.read(str(assignment.source), as_version=4)
    nbformat.validate(nb)
    parts = _graded_cells(nb)
    assert ({part: tuple(cell for cell, _ in cells) for part, cells in parts.items()}
            == assignment.mutants.PARTS)
    assert ({part: sum(points for _, points in cells) for part, cells in parts.items()}
            == assignment.part_points)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), "duplicate grade_id"
    for cell in nb.cells:
        info = cell.metadata.get("nbgrader")
        if info is None:
            continue
        assert info["schema_version"] == 3
        if info["grade"]:
            assert info["locked"] and not info["solution"] and info["points"] > 0
            assert cell.source.startswith(f"# Test ({info['points']} point") or cell.source.startswith(
                "# Hidden test"), cell.id
            if "### BEGIN HIDDEN TESTS" in cell.source:
                _assert_hidden_cell_layout(cell)
    # Each part has visible tests (feedback while working) and hidden ones.
    for part, cells in parts.items():
        names = [name for name, _ in cells]
        assert any(n.startswith("test_") for n in names) and any(n.startswith("hidden_") for n in names), part
    # The introduction's table announces the same points.
    intro = nb.cells[0].source
    for part, points in assignment.part_points.items():
        assert re.search(rf"`{part.split('_')[0]}[^|]*\| {points} \|", intro), part
    assert f"**{sum(assignment.part_points.values())}**" in intro


def _assert_hidden_cell_layout(cell) -> None:
    """A cell with hidden tests is: the import, one `with grade.hidden_tests():` block that
    contains the hidden tests, a print. IPython shows the lines around a failing line, so a
    failure outside that block could show hidden code; inside it, a failure is reported
    without source lines (checks.HiddenTestFailed)."""
    tree = ast.parse(cell.source)
    assert [type(node).__name__ for node in tree.body] == ["ImportFrom", "With", "Expr"], cell.id
    block = tree.body[1]
    assert ast.unparse(block.items[0].context_expr) == "grade.hidden_tests()", cell.id
    lines = cell.source.split("\n")
    begin = 1 + next(i for i, line in enumerate(lines) if "### BEGIN HIDDEN TESTS" in line)
    end = 1 + next(i for i, line in enumerate(lines) if "### END HIDDEN TESTS" in line)
    assert block.lineno < begin < block.end_lineno < end < tree.body[2].lineno, cell.id


def test_committed_student_notebook_is_nbgraders_output(assignment, tmp_path):
    """assignments/ is exactly what `nbgrader generate_assignment` makes of solutions/
    (regenerate with scripts/generate_assignments.py)."""
    name, release = assignment.name, assignment.release.parent
    course_dir = course.make_course(ROOT, tmp_path / "course", [name])
    generated = course.generate_assignment(course_dir, name)
    files = sorted(p.relative_to(generated) for p in generated.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(release) for p in release.rglob("*") if p.is_file())
    assert files == committed
    for rel in files:
        assert (generated / rel).read_bytes() == (release / rel).read_bytes(), (
            f"{rel} differs from nbgrader's output: run scripts/generate_assignments.py")


def _secret_lines(assignment: Assignment) -> tuple[set[str], set[str]]:
    """(hidden test lines, solution lines) of the source notebook that occur nowhere else in
    it (a line such as the `from coursekit.grading import ...` of a hidden block is also in
    visible cells, so finding it proves nothing)."""
    nb = nbformat.read(str(assignment.source), as_version=4)
    hidden, solution, public = set(), set(), set()
    for cell in nb.cells:
        text = cell.source
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", text, re.S):
            hidden.update(_code_lines(block))
        for block in re.findall(r"### BEGIN SOLUTION(.*?)### END SOLUTION", text, re.S):
            solution.update(_code_lines(block))
        text = re.sub(r"### BEGIN (HIDDEN TESTS|SOLUTION).*?### END (HIDDEN TESTS|SOLUTION)",
                      "", text, flags=re.S)
        public.update(_code_lines(text))
    assert {line for lines in course.hidden_test_lines(assignment.source).values()
            for line in lines} == hidden
    return hidden - public, solution - public


def test_student_notebook_has_no_solutions_and_no_hidden_tests(assignment):
    release_text = assignment.release.read_text()
    release = nbformat.read(str(assignment.release), as_version=4)
    release_lines = {line for cell in release.cells for line in _code_lines(cell.source)}
    hidden, solution = _secret_lines(assignment)
    # The notebook has plenty of both.
    assert len(hidden) > assignment.min_secret_lines and len(solution) > assignment.min_secret_lines
    assert not hidden & release_lines
    assert not solution & release_lines
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in release_text
    stubs = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(stubs) == len(assignment.part_points)
    assert all("raise NotImplementedError()" in c.source for c in stubs)
    # Classes keep their method signatures; every function and method body is a stub.
    assert sum(c.source.count("raise NotImplementedError()") for c in stubs) == assignment.stub_raises
    assert assignment.visible_line in release_lines  # positive control


def test_every_check_runs_on_one_thread(assignment):
    """Every check the test cells can call runs with torch on one thread (checks.one_thread:
    on a loaded grading server torch's spinning threads made checks up to 100x slower), so the
    module ends with ``one_thread_checks(globals())``; and the test cells call no other."""
    module = importlib.import_module(assignment.checks_module)
    names = [n for n in dir(module) if n.startswith("check_") and callable(getattr(module, n))]
    assert len(names) >= len(assignment.part_points)
    assert [n for n in names if not getattr(getattr(module, n), "one_thread", False)] == []
    nb = nbformat.read(str(assignment.source), as_version=4)
    called = {name for cell in nb.cells if cell.cell_type == "code"
              for name in re.findall(r"\bgrade\.(check_\w+)\(", cell.source)}
    assert called and called <= set(names), called - set(names)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert f"from {assignment.checks_module.rsplit('.', 1)[0]} import " \
                   f"{assignment.checks_module.rsplit('.', 1)[1]} as grade" in cell.source, cell.id


def test_every_mutant_applies_to_the_solution(assignment):
    mutants = assignment.mutants
    solutions = course.solution_sources(assignment.source)
    for mutant in (*mutants.MUTANTS, mutants.FLOOD):
        changed = mutant.apply(solutions[mutant.cell])  # `old` occurs exactly once
        assert changed != solutions[mutant.cell]
        compile(changed, mutant.name, "exec")
        assert mutant.caught_by <= set(mutants.PARTS[mutant.cell]), mutant.name
    per_part = {part: [m for m in mutants.MUTANTS if m.cell == part] for part in mutants.PARTS}
    assert all(len(ms) >= 2 for ms in per_part.values()), per_part
    # A mutant that calls another part's solution shares its submission with no mistake there.
    for ms in per_part.values():
        for k, m in enumerate(ms):
            assert m.calls <= set(mutants.PARTS), m.name
            clashes = [other.name for part in m.calls for other in per_part[part][k:k + 1]]
            assert not clashes, f"{m.name} would call a mutant ({clashes}): move it in MUTANTS"
    assert all(m.caught_by for m in mutants.MUTANTS)
    assert len(mutants.EQUIVALENT) >= 2 and all(
        set(answers) <= set(mutants.PARTS) for answers in mutants.EQUIVALENT.values())


# ======================================================================================= slow
@pytest.fixture(scope="module")
def graded(assignment, tmp_path_factory):
    """One nbgrader run with every submission (see the module docstring)."""
    name, notebook, mutants = assignment.name, assignment.notebook, assignment.mutants
    course_dir = course.make_course(ROOT, tmp_path_factory.mktemp(f"{name}-grading") / "course",
                                    [name])
    release = course.generate_assignment(course_dir, name)
    solutions = course.solution_sources(course_dir / "solutions" / name / notebook)
    students: dict[str, dict[str, str]] = {"solution": solutions, "untouched": {}}
    students.update(mutant_submissions(mutants.MUTANTS, solutions))
    students["uses_reference"] = {**solutions, **mutants.USES_REFERENCE}
    broken = {**solutions, **mutants.BROKEN}
    broken[mutants.FLOOD.cell] = mutants.FLOOD.apply(solutions[mutants.FLOOD.cell])
    students["broken"] = broken
    for student, answers in mutants.EQUIVALENT.items():
        students[student] = {**solutions, **answers}
    for student, answers in students.items():
        course.submit(course_dir, name, student,
                      {name: course.make_submission(release / notebook, answers)})
    start = time.perf_counter()
    course.autograde(course_dir, name)
    seconds = time.perf_counter() - start
    feedback = course.generate_feedback(course_dir, name)
    print(f"\nautograde: {len(students)} notebooks in {seconds:.0f} s "
          f"({seconds / len(students):.1f} s per notebook)")
    return SimpleNamespace(
        course=course_dir, students=students, feedback=feedback, seconds=seconds,
        scores=course.scores(course_dir, name),
        max=course.max_scores(course_dir, name),
        autograded=lambda s: nbformat.read(
            str(course_dir / "autograded" / s / name / notebook), as_version=4),
        feedback_page=lambda s: feedback / s / name / notebook.replace(".ipynb", ".html"))


def _part_scores(graded, assignment: Assignment, student: str) -> dict[str, float]:
    return {part: sum(graded.scores[student][c] for c in cells)
            for part, cells in assignment.mutants.PARTS.items()}


def _failed(graded, student: str) -> set[str]:
    return {c for c, points in graded.max.items() if graded.scores[student][c] < points}


def _outputs(nb, grade_id: str) -> list:
    return next(c.outputs for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.mark.slow
def test_solution_gets_full_marks(graded, assignment):
    assert graded.scores["solution"] == graded.max
    assert sum(graded.max.values()) == sum(assignment.part_points.values())


@pytest.mark.slow
def test_solutions_written_differently_get_full_marks(graded, equivalent):
    assert graded.scores[equivalent] == graded.max


@pytest.mark.slow
def test_untouched_notebook_gets_zero_on_every_part(graded):
    assert set(graded.scores["untouched"]) == set(graded.max)
    assert all(score == 0 for score in graded.scores["untouched"].values())
    nb = graded.autograded("untouched")
    errors = [o.ename for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert set(errors) == {"NotImplementedError", "HiddenTestFailed"}


@pytest.mark.slow
def test_each_mistake_loses_points_in_its_own_part(graded, assignment, mutant: Mutant):
    mutants = assignment.mutants
    student = next(s for s in mutant_submissions(mutants.MUTANTS,
                                                 course.solution_sources(assignment.source))
                   if mutant in mutants_of(mutants.MUTANTS, s))
    failed = _failed(graded, student) & set(mutants.PARTS[mutant.cell])
    print(f"{mutant.name} ({mutant.mistake}): caught by {sorted(failed)}")
    assert failed == mutant.caught_by
    assert (_part_scores(graded, assignment, student)[mutant.cell]
            < assignment.part_points[mutant.cell])
    # The submission's other mistakes (one per part) fail only their own cells: no cross-talk.
    assert _failed(graded, student) == set().union(
        *(m.caught_by for m in mutants_of(mutants.MUTANTS, student)))


@pytest.mark.slow
def test_calling_coursekit_earns_nothing(graded, assignment):
    assert all(score == 0 for score in _part_scores(graded, assignment, "uses_reference").values())
    nb = graded.autograded("uses_reference")
    for cells in assignment.mutants.PARTS.values():
        for grade_id in cells:
            (error,) = [o for o in _outputs(nb, grade_id) if o.output_type == "error"]
            assert "coursekit's own implementation" in error.evalue, (grade_id, error.evalue)


@pytest.mark.slow
def test_a_broken_part_costs_only_its_own_points(graded, assignment):
    mutants, points = assignment.mutants, assignment.part_points
    parts = _part_scores(graded, assignment, "broken")
    # The broken parts (an exception, an endless loop) earn nothing; the others, including the
    # one that prints thousands of lines, keep all their points.
    assert assignment.endless_loop_part in mutants.BROKEN
    assert {p: parts[p] for p in mutants.BROKEN} == {p: 0 for p in mutants.BROKEN}
    assert {p: s for p, s in parts.items() if p not in mutants.BROKEN} == {
        p: points[p] for p in points if p not in mutants.BROKEN}
    nb = graded.autograded("broken")
    # The endless loop was stopped by the check's time limit, once; later checks skip it.
    first, *later = mutants.PARTS[assignment.endless_loop_part]
    assert "did not finish within" in str(_outputs(nb, first)[-1])
    assert all("did not finish in an earlier test" in str(_outputs(nb, c)[-1]) for c in later)
    # The flood (2000 lines per call) was cut to nbgrader's LimitOutput.max_lines, in each of
    # the part's test cells and in the ungraded cells that call it, and nowhere else.
    truncated = set()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                assert len(output.text.split("\n")) <= MAX_OUTPUT_LINES, cell.id
                if "Output truncated" in output.text:
                    truncated.add(cell.metadata.get("nbgrader", {}).get("grade_id", cell.id))
    assert truncated == set(mutants.PARTS[mutants.FLOOD.cell]) | set(assignment.flood_also_in)


def _html_text(path: Path) -> str:
    """The text of an HTML page: tags removed, entities decoded (syntax highlighting splits
    code into many tags; the text between them is the code)."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


@pytest.mark.slow
def test_feedback_never_shows_hidden_tests(graded, assignment):
    secret, _ = _secret_lines(assignment)
    for student in graded.students:
        lines = {line.strip() for line in _html_text(graded.feedback_page(student)).split("\n")}
        # Positive control: a visible test line is found by the same search.
        assert assignment.visible_line in lines
        leaked = sorted(secret & lines)
        assert not leaked, (student, leaked[:5])
    # Failures of hidden tests are reported, as one line each.
    assert "HiddenTestFailed: NotImplementedError" in _html_text(graded.feedback_page("untouched"))


#: What a test file takes with ``from grading_contract import *``: every test above, so that a
#: test added here runs for every assignment.
__all__ = ["Assignment", "assignment", "graded", "pytest_generate_tests",
           *(name for name in list(globals()) if name.startswith("test_"))]
