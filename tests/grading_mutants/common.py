"""What the mutants modules of every assignment share (tests/grading_mutants/<psN_name>.py).

A *mutant* is the reference solution of one solution cell with one realistic mistake: the edit
``old -> new`` is applied to the source notebook's solution (``old`` must occur exactly once,
so a mutant that no longer applies fails loudly instead of silently testing the solution);
``prefix`` is put in front of the cell. ``caught_by`` lists the graded cells that must fail for
it, and only those: the mutation test asserts the exact set, so the mutants module documents
which test catches each mistake.

Mutants of different parts are independent, so one submission carries one mutant of every part
(:func:`mutant_submissions`), which keeps the number of notebooks to autograde small. The
exception is a mutant that calls the notebook's own solution of another part instead of the
argument it was given ("call the arguments"): ``calls`` names those parts, which must be correct
in its submission (no mutant of theirs at the same position in ``MUTANTS``; the grading contract
checks this), or their mistake would cost its cells too.

A mutants module defines ``PARTS`` (grade_id of each solution cell -> its graded cells),
``MUTANTS``, ``USES_REFERENCE`` (every part delegating to coursekit), ``BROKEN`` (one part per
kind of failure: an exception, an endless loop), ``FLOOD`` (a correct part that prints
thousands of lines) and ``EQUIVALENT`` (correct solutions written differently).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Mutant:
    name: str
    cell: str  # grade_id of the solution cell it changes
    mistake: str
    old: str
    new: str
    caught_by: frozenset[str]
    prefix: str = ""
    calls: frozenset[str] = frozenset()

    def apply(self, solution: str) -> str:
        count = solution.count(self.old)
        if count != 1:
            raise ValueError(f"mutant {self.name}: {self.old!r} occurs {count} times in the "
                             f"solution of {self.cell}; update the mutant")
        return self.prefix + solution.replace(self.old, self.new)


def mutant(name: str, cell: str, mistake: str, old: str, new: str, caught_by: Iterable[str],
           prefix: str = "", calls: Iterable[str] = ()) -> Mutant:
    return Mutant(name, cell, mistake, old, new, frozenset(caught_by), prefix, frozenset(calls))


def _by_cell(mutants: Iterable[Mutant]) -> dict[str, list[Mutant]]:
    by_cell: dict[str, list[Mutant]] = {}
    for m in mutants:
        by_cell.setdefault(m.cell, []).append(m)
    return by_cell


def mutant_submissions(mutants: Iterable[Mutant],
                       solutions: dict[str, str]) -> dict[str, dict[str, str]]:
    """Student id -> solution cells: submission k carries the k-th mutant of every part (and
    the correct solution of parts that have fewer mutants)."""
    by_cell = _by_cell(mutants)
    count = max(len(ms) for ms in by_cell.values())
    students = {}
    for k in range(count):
        answers = dict(solutions)
        for cell, ms in by_cell.items():
            if k < len(ms):
                answers[cell] = ms[k].apply(solutions[cell])
        students[f"mutants{k + 1}"] = answers
    return students


def mutants_of(mutants: Iterable[Mutant], student: str) -> list[Mutant]:
    """The mutants carried by a student id from :func:`mutant_submissions`."""
    k = int(student.removeprefix("mutants")) - 1
    return [ms[k] for ms in _by_cell(mutants).values() if k < len(ms)]
