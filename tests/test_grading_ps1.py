"""Problem set 1 (pix2pix): the notebooks, the checks its test cells call, and nbgrader end to end.

Quick tests: the source notebook's structure and points, the committed student notebook is
exactly nbgrader's output and hides solutions and hidden tests, and the building blocks of
``coursekit.grading.checks`` on hand-made cases.

Slow tests share one nbgrader run (``graded``) in a temporary copy of the course: the solution,
the untouched student notebook, correct solutions written differently, 20 realistic mistakes
(4 submissions carrying one mistake per part, see tests/grading_mutants/ps1_pix2pix.py), a
submission that calls coursekit's own implementations, and one with a crashing part, an
endless loop and a flood of output, all autograded in one ``nbgrader autograde`` call, then
``nbgrader generate_feedback``.
"""
from __future__ import annotations

import ast
import html
import importlib.util
import math
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import torch
from torch import nn

from coursekit.grading import checks, course
from coursekit.grading import pix2pix as grade

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "ps1_pix2pix"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SOURCE = ROOT / "solutions" / ASSIGNMENT / NOTEBOOK
RELEASE = ROOT / "assignments" / ASSIGNMENT / NOTEBOOK

# The points of each part, as announced in the notebook's introduction.
PART_POINTS = {"unet_forward": 4, "patchgan_layers": 5, "discriminator_loss": 4,
               "generator_loss": 4, "training_step": 6}
# nbgrader_config.py: c.LimitOutput.max_lines = 500 (nbgrader keeps the first 500 lines
# of an output and adds one line saying that the rest was cut).
MAX_OUTPUT_LINES = 500


def _load_mutants():
    path = Path(__file__).parent / "grading_mutants" / "ps1_pix2pix.py"
    spec = importlib.util.spec_from_file_location("grading_mutants_ps1", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


mutants = _load_mutants()


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
def test_notebooks_are_committed_without_outputs():
    for path in (SOURCE, RELEASE):
        for cell in nbformat.read(str(path), as_version=4).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (path, cell.id)


def test_parts_points_and_cell_metadata():
    nb = nbformat.read(str(SOURCE), as_version=4)
    nbformat.validate(nb)
    parts = _graded_cells(nb)
    assert {part: tuple(cell for cell, _ in cells) for part, cells in parts.items()} == mutants.PARTS
    assert {part: sum(points for _, points in cells) for part, cells in parts.items()} == PART_POINTS
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), "duplicate grade_id"
    for cell in nb.cells:
        info = cell.metadata.get("nbgrader")
        if info is None:
            continue
        assert info["schema_version"] == 3
        if info["grade"]:
            assert info["locked"] and not info["solution"] and info["points"] > 0
            if "### BEGIN HIDDEN TESTS" in cell.source:
                _assert_hidden_cell_layout(cell)
    # Each part has visible tests (feedback while working) and hidden ones.
    for part, cells in parts.items():
        names = [name for name, _ in cells]
        assert any(n.startswith("test_") for n in names) and any(n.startswith("hidden_") for n in names), part


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


def test_committed_student_notebook_is_nbgraders_output(tmp_path):
    """assignments/ is exactly what `nbgrader generate_assignment` makes of solutions/
    (regenerate with scripts/generate_assignments.py)."""
    course_dir = course.make_course(ROOT, tmp_path / "course", [ASSIGNMENT])
    generated = course.generate_assignment(course_dir, ASSIGNMENT)
    files = sorted(p.relative_to(generated) for p in generated.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(RELEASE.parent) for p in RELEASE.parent.rglob("*") if p.is_file())
    assert files == committed
    for rel in files:
        assert (generated / rel).read_bytes() == (RELEASE.parent / rel).read_bytes(), (
            f"{rel} differs from nbgrader's output: run scripts/generate_assignments.py")


def _secret_lines() -> tuple[set[str], set[str]]:
    """(hidden test lines, solution lines) of the source notebook that occur nowhere else in
    it (a line such as the `from coursekit.grading import ...` of a hidden block is also in
    visible cells, so finding it proves nothing)."""
    nb = nbformat.read(str(SOURCE), as_version=4)
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
    assert {line for lines in course.hidden_test_lines(SOURCE).values() for line in lines} == hidden
    return hidden - public, solution - public


def test_student_notebook_has_no_solutions_and_no_hidden_tests():
    release_text = RELEASE.read_text()
    release = nbformat.read(str(RELEASE), as_version=4)
    release_lines = {line for cell in release.cells for line in _code_lines(cell.source)}
    hidden, solution = _secret_lines()
    assert len(hidden) > 30 and len(solution) > 30  # the notebook has plenty of both
    assert not hidden & release_lines
    assert not solution & release_lines
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in release_text
    stubs = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(stubs) == 5 and all("raise NotImplementedError()" in c.source for c in stubs)
    # Positive control: the visible tests are in the student notebook.
    assert "order = grade.check_unet_wiring(unet_forward, num_downs=3, channels=2)" in release_lines


def test_every_mutant_applies_to_the_solution():
    solutions = course.solution_sources(SOURCE)
    for mutant in (*mutants.MUTANTS, mutants.FLOOD):
        changed = mutant.apply(solutions[mutant.cell])  # `old` occurs exactly once
        assert changed != solutions[mutant.cell]
        assert mutant.caught_by <= set(mutants.PARTS[mutant.cell]), mutant.name
    per_part = {part: [m for m in mutants.MUTANTS if m.cell == part] for part in mutants.PARTS}
    assert all(len(ms) >= 2 for ms in per_part.values()), per_part
    assert all(m.caught_by for m in mutants.MUTANTS)


# ---------------------------------------------------------------- coursekit.grading.checks
class _Owner:
    def method(self):
        return "original"


class _Child(_Owner):
    pass


def test_forbid_refuses_the_reference_and_restores_it():
    with checks.forbid([(_Owner, "method")], "part X"):
        with pytest.raises(checks.ReferenceUsed, match="part X"):
            _Owner().method()
    assert _Owner().method() == "original"
    # Restored after an error inside the block, and an inherited attribute is put back by
    # removing the patch from the subclass.
    with pytest.raises(ZeroDivisionError):
        with checks.forbid([(_Child, "method")]):
            assert "method" in vars(_Child)
            1 / 0
    assert "method" not in vars(_Child) and _Child().method() == "original"


def test_time_limit_stops_an_endless_loop_and_is_not_retried():
    def endless():
        while True:
            pass

    start = time.perf_counter()
    with pytest.raises(checks.StudentTimeout, match="endless"):
        checks.call_student(endless, seconds=0.2)
    assert time.perf_counter() - start < 5  # stopped at 0.2 s; 5 s allows a loaded machine
    start = time.perf_counter()
    with pytest.raises(checks.StudentTimeout, match="earlier test"):
        checks.call_student(endless, seconds=0.2)
    assert time.perf_counter() - start < 0.1  # not run again
    # A function that finishes is unaffected, and no alarm is left behind.
    assert checks.call_student(lambda a: a + 1, 1, seconds=0.2) == 2
    time.sleep(0.3)  # a timer left running would raise StudentTimeout here


def test_nested_time_limits_keep_the_earlier_deadline():
    def spin():
        while True:
            pass

    start = time.perf_counter()
    with pytest.raises(checks.StudentTimeout):
        with checks.time_limit(0.3, "outer"):
            with checks.time_limit(5, "inner"):
                spin()
    assert time.perf_counter() - start < 3  # the outer 0.3 s, not 5 s (slack for a busy machine)
    with pytest.raises(checks.StudentTimeout, match="outer"):  # resumes after an inner block
        with checks.time_limit(0.3, "outer"):
            with checks.time_limit(5, "inner"):
                pass
            spin()


def test_call_student_keeps_warnings_off_stderr(capfd):
    import warnings

    def noisy():
        warnings.warn("UserWarning from student code")
        return 3

    assert checks.call_student(noisy) == 3
    assert capfd.readouterr().err == ""


def test_hidden_tests_report_without_source():
    def student_code():
        raise ValueError("boom")

    with pytest.raises(checks.HiddenTestFailed) as info:
        with checks.hidden_tests():
            secret_case = 1234  # noqa: F841  (a "hidden" line)
            student_code()
    rendered = info.value._render_traceback_()
    assert rendered == [f"HiddenTestFailed: {info.value}"]
    assert "ValueError: boom" in str(info.value) and "secret_case" not in str(info.value)
    assert info.value.__suppress_context__  # the original traceback is not chained either
    with pytest.raises(checks.HiddenTestFailed, match="ran longer"):
        with checks.hidden_tests():
            raise KeyboardInterrupt
    with checks.hidden_tests():  # nothing happens when the tests pass
        pass


def test_measured_receptive_field_hand_values():
    # r <- (r - 1) s + k from the last layer back, r = 1 at the output.
    assert checks.measure_receptive_field(nn.Conv2d(1, 1, 3), 1) == 3
    assert checks.measure_receptive_field(
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.LeakyReLU(0.2), nn.Conv2d(2, 1, 3)), 1) == 5  # 1 -> 3 -> 5
    assert checks.measure_receptive_field(
        nn.Sequential(nn.Conv2d(2, 2, 4, 2, 1), nn.Conv2d(2, 1, 4, 1, 1)), 2) == 10  # 1 -> 4 -> 10


def test_assert_close_reports_shape_and_values():
    with pytest.raises(AssertionError, match="shape"):
        checks.assert_close(torch.zeros(2), torch.zeros(3), atol=0, rtol=0, what="x")
    with pytest.raises(AssertionError, match="expected 1, got 1.1"):
        checks.assert_close(1.1, 1.0, atol=1e-3, rtol=0, what="x")
    checks.assert_close(torch.tensor(1.0005), 1.0, atol=1e-3, rtol=0, what="x")


def test_notebook_hand_values_agree_with_coursekit():
    """The hand-computed expectations in the notebook's test cells and coursekit's reference
    losses agree (so a correct solution cannot be caught between two contradicting tests)."""
    softplus = lambda t: math.log1p(math.exp(t))  # noqa: E731  (-log sigma(-t))
    x = torch.full((2, 3, 4, 4), 0.5)
    y = torch.full((2, 3, 4, 4), 2.0)
    fake = torch.full((2, 3, 4, 4), -1.0)
    D = grade.StubDiscriminator(x)
    assert float(grade.reference_discriminator_loss(D, x, y, fake)) == pytest.approx(
        0.5 * (softplus(-2.0) + softplus(-1.0)), rel=1e-6)  # float32 vs. the exact value
    y = torch.full((2, 3, 4, 4), 0.5)
    fake = fake.clone().requires_grad_(True)
    losses = grade.reference_generator_loss(D, x, y, fake, 100.0)
    assert float(losses["G_gan"].detach()) == pytest.approx(softplus(1.0), rel=1e-6)
    assert float(losses["G_l1"].detach()) == pytest.approx(1.5, rel=1e-6)
    losses["G"].backward()
    sigma_1 = 1 / (1 + math.exp(-1.0))
    assert torch.allclose(fake.grad, torch.full_like(fake, -(sigma_1 + 100.0) / 96), rtol=1e-6)


# ======================================================================================= slow
@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ps1-grading")
    course_dir = course.make_course(ROOT, tmp / "course", [ASSIGNMENT])
    release = course.generate_assignment(course_dir, ASSIGNMENT)
    solutions = course.solution_sources(course_dir / "solutions" / ASSIGNMENT / NOTEBOOK)
    students: dict[str, dict[str, str]] = {"solution": solutions, "untouched": {}}
    students.update(mutants.mutant_submissions(solutions))
    students["uses_reference"] = {**solutions, **mutants.USES_REFERENCE}
    broken = {**solutions, **mutants.BROKEN}
    broken[mutants.FLOOD.cell] = mutants.FLOOD.apply(solutions[mutants.FLOOD.cell])
    students["broken"] = broken
    for name, answers in mutants.EQUIVALENT.items():
        students[name] = {**solutions, **answers}
    for student, answers in students.items():
        course.submit(course_dir, ASSIGNMENT, student,
                      {ASSIGNMENT: course.make_submission(release / NOTEBOOK, answers)})
    start = time.perf_counter()
    course.autograde(course_dir, ASSIGNMENT)
    seconds = time.perf_counter() - start
    feedback = course.generate_feedback(course_dir, ASSIGNMENT)
    print(f"\nautograde: {len(students)} notebooks in {seconds:.0f} s "
          f"({seconds / len(students):.1f} s per notebook)")
    return SimpleNamespace(
        course=course_dir, students=students, feedback=feedback,
        scores=course.scores(course_dir, ASSIGNMENT),
        max=course.max_scores(course_dir, ASSIGNMENT),
        autograded=lambda s: nbformat.read(
            str(course_dir / "autograded" / s / ASSIGNMENT / NOTEBOOK), as_version=4))


def _part_scores(graded, student: str) -> dict[str, float]:
    return {part: sum(graded.scores[student][c] for c in cells)
            for part, cells in mutants.PARTS.items()}


def _failed(graded, student: str) -> set[str]:
    return {c for c, points in graded.max.items() if graded.scores[student][c] < points}


def _outputs(nb, grade_id: str) -> list:
    return next(c.outputs for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.mark.slow
def test_solution_gets_full_marks(graded):
    assert graded.scores["solution"] == graded.max
    assert sum(graded.max.values()) == 23


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(mutants.EQUIVALENT))
def test_solutions_written_differently_get_full_marks(graded, student):
    assert graded.scores[student] == graded.max


@pytest.mark.slow
def test_untouched_notebook_gets_zero_on_every_part(graded):
    assert set(graded.scores["untouched"]) == set(graded.max)
    assert all(score == 0 for score in graded.scores["untouched"].values())
    nb = graded.autograded("untouched")
    errors = [o.ename for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert set(errors) == {"NotImplementedError", "HiddenTestFailed"}


@pytest.mark.slow
@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
def test_each_mistake_loses_points_in_its_own_part(graded, mutant):
    student = next(s for s in mutants.mutant_submissions(course.solution_sources(SOURCE))
                   if mutant in mutants.mutants_of(s))
    failed = _failed(graded, student) & set(mutants.PARTS[mutant.cell])
    print(f"{mutant.name} ({mutant.mistake}): caught by {sorted(failed)}")
    assert failed == mutant.caught_by
    assert _part_scores(graded, student)[mutant.cell] < PART_POINTS[mutant.cell]
    # The submission's other mistakes (one per part) fail only their own cells: no cross-talk.
    assert _failed(graded, student) == set().union(
        *(m.caught_by for m in mutants.mutants_of(student)))


@pytest.mark.slow
def test_calling_coursekit_earns_nothing(graded):
    assert all(score == 0 for score in _part_scores(graded, "uses_reference").values())
    nb = graded.autograded("uses_reference")
    for cells in mutants.PARTS.values():
        for grade_id in cells:
            (error,) = [o for o in _outputs(nb, grade_id) if o.output_type == "error"]
            assert "coursekit's own implementation" in error.evalue, (grade_id, error.evalue)


@pytest.mark.slow
def test_a_broken_part_costs_only_its_own_points(graded):
    parts = _part_scores(graded, "broken")
    assert parts["unet_forward"] == 0  # IndexError
    assert parts["patchgan_layers"] == 0  # endless loop
    # The other parts, including the one that prints 30000 lines, keep all their points.
    assert {p: s for p, s in parts.items() if p not in mutants.BROKEN} == {
        p: PART_POINTS[p] for p in PART_POINTS if p not in mutants.BROKEN}
    nb = graded.autograded("broken")
    # The endless loop was stopped by the check's time limit, once; later checks skip it.
    first, *later = mutants.PARTS["patchgan_layers"]
    assert "did not finish within" in str(_outputs(nb, first)[-1])
    assert all("did not finish in an earlier test" in str(_outputs(nb, c)[-1]) for c in later)
    # The flood (2000 lines per call) was cut to nbgrader's LimitOutput.max_lines, in each of
    # the part's test cells.
    truncated = set()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                assert len(output.text.split("\n")) <= MAX_OUTPUT_LINES, cell.id
                if "Output truncated" in output.text:
                    truncated.add(cell.metadata["nbgrader"]["grade_id"])
    assert truncated == set(mutants.PARTS[mutants.FLOOD.cell])


def _html_text(path: Path) -> str:
    """The text of an HTML page: tags removed, entities decoded (syntax highlighting splits
    code into many tags; the text between them is the code)."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


@pytest.mark.slow
def test_feedback_never_shows_hidden_tests(graded):
    secret, _ = _secret_lines()
    for student in graded.students:
        page = graded.feedback / student / ASSIGNMENT / NOTEBOOK.replace(".ipynb", ".html")
        lines = {line.strip() for line in _html_text(page).split("\n")}
        # Positive control: a visible test line is found by the same search.
        assert "order = grade.check_unet_wiring(unet_forward, num_downs=3, channels=2)" in lines
        leaked = sorted(secret & lines)
        assert not leaked, (student, leaked[:5])
    # Failures of hidden tests are reported, as one line each.
    assert "HiddenTestFailed: NotImplementedError" in _html_text(
        graded.feedback / "untouched" / ASSIGNMENT / NOTEBOOK.replace(".ipynb", ".html"))


@pytest.mark.slow
def test_training_run_threshold_holds_for_other_seeds():
    """The solution's training step passes the hidden training-run check with another seed
    than the graded one (the thresholds were set from seeds 0..19)."""
    namespace: dict = {}
    exec("import torch", namespace)
    exec(course.solution_sources(SOURCE)["training_step"], namespace)
    for seed in (1,):
        # Raises AssertionError if the L1 error or the score misses the notebook's thresholds.
        grade.check_training_run(namespace["training_step"], seed=seed, max_l1_ratio=0.8,
                                 min_pixel_accuracy=0.30)
