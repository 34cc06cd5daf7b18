"""Autograding cost on a CPU server: seconds per notebook for each assignment.

    python benchmarks/autograde.py [--assignments ps1_pix2pix ps2_cyclegan ps3_cut]
                                   [--students 3] [--threads 1]

For each assignment: a fresh nbgrader course in a temporary folder (coursekit.grading.course),
``nbgrader generate_assignment``, ``--students`` copies of the reference solution submitted,
one ``nbgrader autograde`` call for all of them, and the scores read back (every copy must get
full marks, or the row says so). Prints one row per assignment: the seconds of
generate_assignment, of the autograde call, per notebook, and the score.

The target (issues 3 and 5): one notebook autogrades in under 60 s on this 2-core machine.
The per-notebook figure is mostly fixed cost (nbgrader, a kernel, importing torch) plus each
assignment's hidden training runs; ``--threads`` sets OMP_NUM_THREADS for nbgrader's kernels, as
an instructor running one autograde process per core would (docs/instructors.md).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from coursekit.grading import course

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ("ps1_pix2pix", "ps2_cyclegan", "ps3_cut")


def measure(name: str, students: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        course_dir = course.make_course(ROOT, Path(tmp) / "course", [name])
        start = time.perf_counter()
        release = course.generate_assignment(course_dir, name)
        generate = time.perf_counter() - start
        notebook = next(release.glob("*.ipynb"))
        answers = course.solution_sources(course_dir / "solutions" / name / notebook.name)
        submission = course.make_submission(notebook, answers)
        for i in range(students):
            course.submit(course_dir, name, f"student{i:03d}", {notebook.stem: submission})
        start = time.perf_counter()
        course.autograde(course_dir, name)
        autograde = time.perf_counter() - start
        scores = course.scores(course_dir, name)
        full = sum(course.max_scores(course_dir, name).values())
        got = [sum(s.values()) for s in scores.values()]
    return {"generate": generate, "autograde": autograde, "per_notebook": autograde / students,
            "score": f"{min(got):g}/{full:g}" + ("" if min(got) == full else " (NOT FULL)")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", nargs="+", choices=ASSIGNMENTS, default=list(ASSIGNMENTS))
    parser.add_argument("--students", type=int, default=3,
                        help="copies of the solution graded in one autograde call")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS for the kernels")
    args = parser.parse_args()
    if args.students < 1:
        parser.error("--students must be >= 1")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    load = os.getloadavg()[0]
    print(f"{args.students} submissions of the solution per assignment, OMP_NUM_THREADS="
          f"{args.threads}, load average {load:.1f} at the start, {os.cpu_count()} CPUs")
    header = (f"{'assignment':<14} {'generate s':>10} {'autograde s':>11} {'s/notebook':>10} "
              f"{'score':>14}")
    print(header)
    print("-" * len(header))
    for name in args.assignments:
        row = measure(name, args.students)
        print(f"{name:<14} {row['generate']:>10.1f} {row['autograde']:>11.1f} "
              f"{row['per_notebook']:>10.1f} {row['score']:>14}", flush=True)


if __name__ == "__main__":
    main()
