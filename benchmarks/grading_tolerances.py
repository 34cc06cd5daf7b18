"""How far correct and wrong optimizer steps are from the reference's, in the step checks of
the problem sets: the numbers behind the tolerance of ``checks.assert_same_update``.

    python benchmarks/grading_tolerances.py

For ps1's ``training_step`` and ps2's ``generator_step``, every variant in
tests/grading_mutants/ (the reference solution, the correct solutions written differently,
the mistakes of that part) runs through the visible and hidden step checks of its notebook
(``check_training_step_matches_reference`` / ``check_generator_step_matches_reference`` with
the notebook's arguments). Each gradient that an optimizer step applied is compared with the
reference's from the same state, and the table prints, over all steps and parameters:

* ``gap``: the largest |applied - reference| as a fraction of the optimizer's largest
  reference gradient;
* ``tolerance used``: the largest |applied - reference| / (1e-5 * largest + 1e-4 * |reference|),
  the comparison's allowance (above 1 the check fails);
* ``verdict``: what the check said (a mistake may also be caught by its step count or its
  returned losses, before any gradient is compared).
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from coursekit.grading import checks, course  # noqa: E402
from coursekit.grading import cyclegan as ps2  # noqa: E402
from coursekit.grading import pix2pix as ps1  # noqa: E402

# (assignment, part, the check, its calls in the notebook's visible and hidden cells)
CASES = (
    ("ps1_pix2pix", "training_step", ps1.check_training_step_matches_reference,
     [dict(steps=3), dict(steps=4, batch=3, size=32, lambda_l1=10.0, lr=1e-3, seed=3)]),
    ("ps2_cyclegan", "generator_step", ps2.check_generator_step_matches_reference,
     [dict(steps=3), dict(steps=3, batch=1, size=24, lambda_cycle=5.0, lambda_identity=0.0,
                          lr=1e-3, seed=3),
      dict(steps=2, batch=3, size=8, lambda_cycle=10.0, lambda_identity=0.5, lr=5e-4, seed=4)]),
)


def variants(assignment: str, part: str) -> list[tuple[str, str, str]]:
    """(name, kind, source of the solution cell) of every variant of ``part``."""
    import importlib

    mutants = importlib.import_module(f"grading_mutants.{assignment}")
    solution = course.solution_sources(ROOT / "solutions" / assignment / f"{assignment}.ipynb")[part]
    rows = [("solution", "correct", solution)]
    rows += [(student, "correct", answers[part]) for student, answers in mutants.EQUIVALENT.items()
             if part in answers]
    rows += [(m.name, "mistake", m.apply(solution)) for m in mutants.MUTANTS if m.cell == part]
    return rows


def define(assignment: str, source: str, name: str):
    """``name`` from ``source``, defined after the solutions of the assignment's other parts
    (a variant may call them, as a student's notebook can)."""
    namespace: dict = {}
    exec("import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n", namespace)
    for part, solution in course.solution_sources(
            ROOT / "solutions" / assignment / f"{assignment}.ipynb").items():
        exec(solution, namespace)
    exec(source, namespace)
    return namespace[name]


def measure(check, calls, fn) -> tuple[float, float, str]:
    """Run the check's calls with a recording comparison: (gap, tolerance used, verdict)."""
    worst = {"gap": 0.0, "used": 0.0}
    real = checks.assert_gradients_match

    def recording(grads, *, what, missing):
        grads = list(grads)
        scale = max((checks.largest(r) for _, _, r in grads), default=0.0)
        for _, grad, ref in grads:
            if grad is None or scale == 0:
                continue
            diff = (grad.double() - ref.double()).abs()
            worst["gap"] = max(worst["gap"], float(diff.max()) / scale)
            worst["used"] = max(worst["used"], float(
                (diff / (1e-5 * scale + 1e-4 * ref.double().abs())).max()))
        real(grads, what=what, missing=missing)

    checks.assert_gradients_match = recording
    try:
        for kwargs in calls:
            check(fn, **kwargs)
        verdict = "passes"
    except Exception as error:  # noqa: BLE001  (a mistake may fail in any way)
        verdict = "fails: " + " ".join(str(error).split())[:70]
    finally:
        checks.assert_gradients_match = real
    return worst["gap"], worst["used"], verdict


def main() -> None:
    torch.set_num_threads(1)
    header = f"{'part':<24} {'variant':<26} {'kind':<8} {'gap':>9} {'tolerance used':>15}  verdict"
    print(header)
    print("-" * len(header))
    for assignment, part, check, calls in CASES:
        for name, kind, source in variants(assignment, part):
            fn = define(assignment, source, part)
            gap, used, verdict = measure(check, calls, fn)
            print(f"{assignment + '.' + part:<24} {name:<26} {kind:<8} {gap:>9.1e} {used:>15.3g}  "
                  f"{verdict}", flush=True)


if __name__ == "__main__":
    main()
