"""Autograding for the course's nbgrader assignments.

* :mod:`coursekit.grading.checks` -- the toolkit every assignment's checks are made of: call a
  student's function with coursekit's implementation of the part refused, a time limit, no
  warnings on stderr and torch on one thread; compare values, gradients and optimizer steps
  with tolerances; stand-ins (a stub discriminator, random PatchGANs and images); copy the
  reference's weights into a student's layers; short training runs with measured thresholds;
  hidden tests that fail without revealing their source.
* The checks of each problem set, which its test cells call as ``grade.check_...``:
  :mod:`coursekit.grading.pix2pix` (``ps1_pix2pix``), :mod:`coursekit.grading.cyclegan`
  (``ps2_cyclegan``), :mod:`coursekit.grading.cut` (``ps3_cut``),
  :mod:`coursekit.grading.bicyclegan` (``ps4_bicyclegan``), :mod:`coursekit.grading.spade`
  (``ps5_spade``), :mod:`coursekit.grading.munit` (``ps6_munit``),
  :mod:`coursekit.grading.sdedit` (``ps7_sdedit``).
* :mod:`coursekit.grading.course` -- drive nbgrader on a temporary copy of the course:
  generate the student version, submit notebooks, autograde, read the gradebook.

See ``docs/instructors.md`` for the workflow and the requirement each check tests.
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
