"""Autograding cost on a CPU server: seconds per notebook for each assignment, on a quiet
machine and while other processes keep cores busy.

    python benchmarks/autograde.py [--assignments ps1_pix2pix ps2_cyclegan ps3_cut ps4_bicyclegan
                                   ps5_spade ps6_munit ps7_sdedit]
                                   [--students 3] [--threads 0] [--load 1]

For each assignment: a fresh nbgrader course in a temporary folder (coursekit.grading.course),
``nbgrader generate_assignment``, ``--students`` copies of the reference solution submitted,
one ``nbgrader autograde`` call for all of them, and the scores read back (every copy must get
full marks, or the row says so). Then the same autograde call again (``--force``) while
``--load`` competing processes each keep a core busy (a pure-Python loop, as another user's
job would). Prints one row per assignment: the seconds of generate_assignment, and per
notebook without and with the load.

The target (issues 3, 5 and 9): one notebook autogrades in under 60 s on this 2-core machine,
and a busy server changes that by no more than its share of the cores. Every check runs torch
on one thread (coursekit.grading.checks.one_thread), whatever the kernel's default: with
torch's default threads, its spinning worker threads made checks up to 100x slower on a loaded
server (measured: 24 s instead of 0.3 s for three CycleGAN generator steps at load 14 on 2
cores);
``--threads`` sets OMP_NUM_THREADS for nbgrader's kernels (0: unset, torch then starts one
thread per core, as on a server nobody configured).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from coursekit.grading import course

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ("ps1_pix2pix", "ps2_cyclegan", "ps3_cut", "ps4_bicyclegan", "ps5_spade",
               "ps6_munit", "ps7_sdedit")


@contextlib.contextmanager
def busy(processes: int) -> Iterator[None]:
    """``processes`` pure-Python loops, each keeping one core busy, for the block."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
             for _ in range(processes)]
    try:
        time.sleep(0.5)  # let them start
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def _score(course_dir: Path, name: str) -> str:
    scores = course.scores(course_dir, name)
    full = sum(course.max_scores(course_dir, name).values())
    got = min(sum(s.values()) for s in scores.values())
    return f"{got:g}/{full:g}" + ("" if got == full else " (NOT FULL)")


def measure(name: str, students: int, load: int) -> dict:
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
        row = {"generate": generate}
        for label, processes in (("quiet", 0), ("loaded", load)):
            if label == "loaded" and not load:
                continue
            with busy(processes):
                start = time.perf_counter()
                course.autograde(course_dir, name)  # --force: the second run grades again
                row[label] = (time.perf_counter() - start) / students
            row[f"score_{label}"] = _score(course_dir, name)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", nargs="+", choices=ASSIGNMENTS, default=list(ASSIGNMENTS))
    parser.add_argument("--students", type=int, default=3,
                        help="copies of the solution graded in one autograde call")
    parser.add_argument("--threads", type=int, default=0,
                        help="OMP_NUM_THREADS for the kernels (0: unset, the server's default)")
    parser.add_argument("--load", type=int, default=1,
                        help="busy processes competing with the second autograde call (0: none)")
    args = parser.parse_args()
    if args.students < 1:
        parser.error("--students must be >= 1")
    if args.threads < 0 or args.load < 0:
        parser.error("--threads and --load must be >= 0")
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    else:
        os.environ.pop("OMP_NUM_THREADS", None)
    print(f"{args.students} submissions of the solution per assignment, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, {args.load} busy process(es) in the "
          f"loaded run, load average {os.getloadavg()[0]:.1f} at the start, {os.cpu_count()} CPUs")
    header = (f"{'assignment':<14} {'generate s':>10} {'s/notebook quiet':>16} "
              f"{'s/notebook loaded':>17} {'score':>8}")
    print(header)
    print("-" * len(header))
    for name in args.assignments:
        row = measure(name, args.students, args.load)
        loaded = f"{row['loaded']:>17.1f}" if "loaded" in row else f"{'-':>17}"
        scores = {row["score_quiet"], row.get("score_loaded", row["score_quiet"])}
        print(f"{name:<14} {row['generate']:>10.1f} {row['quiet']:>16.1f} {loaded} "
              f"{' / '.join(sorted(scores)):>8}", flush=True)


if __name__ == "__main__":
    main()
