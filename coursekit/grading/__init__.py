"""Autograding for the course's nbgrader assignments.

* :mod:`coursekit.grading.checks` -- building blocks for test cells: call a student's function
  with coursekit's own implementation of the part refused, a time limit and no warnings on
  stderr; compare with tolerances; run hidden tests without revealing their source.
* :mod:`coursekit.grading.pix2pix` -- the checks of problem set 1 (``ps1_pix2pix``).
* :mod:`coursekit.grading.course` -- drive nbgrader on a temporary copy of the course:
  generate the student version, submit notebooks, autograde, read the gradebook.

See ``docs/instructors.md`` for the workflow.
"""
from coursekit.grading.checks import (
    HiddenTestFailed,
    ReferenceUsed,
    StudentTimeout,
    call_student,
    forbid,
    hidden_tests,
    time_limit,
)

__all__ = [
    "HiddenTestFailed",
    "ReferenceUsed",
    "StudentTimeout",
    "call_student",
    "forbid",
    "hidden_tests",
    "time_limit",
]
