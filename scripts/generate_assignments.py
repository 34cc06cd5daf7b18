"""Regenerate the student notebooks in assignments/ from the nbgrader sources in solutions/.

    .venv/bin/python scripts/generate_assignments.py               # every assignment
    .venv/bin/python scripts/generate_assignments.py ps1_pix2pix   # just these

Runs ``nbgrader generate_assignment`` in a temporary copy of the course (so no gradebook.db or
other nbgrader output lands in the repository) and copies the generated release folder over
``assignments/<assignment>/``. Commit the result: tests/test_grading_*.py check that the
committed files are exactly what nbgrader generates from the committed sources.
"""
from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coursekit.grading.course import (  # noqa: E402  (after the path set-up)
    course_directories,
    generate_assignment,
    make_course,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="*",
                        help="assignment names (folders of solutions/); default: all")
    args = parser.parse_args(argv)
    source, release = course_directories(ROOT)
    names = args.assignments or sorted(p.name for p in (ROOT / source).iterdir() if p.is_dir())
    if not names:
        print(f"no assignments in {ROOT / source}")
        return 1
    with tempfile.TemporaryDirectory(prefix="coursekit-generate-") as tmp:
        course = make_course(ROOT, Path(tmp) / "course", names)
        for name in names:
            generated = generate_assignment(course, name)
            target = ROOT / release / name
            same = target.is_dir() and not _differences(generated, target)
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(generated, target)
            print(f"{release}/{name}: {'unchanged' if same else 'regenerated'}")
    return 0


def _differences(a: Path, b: Path) -> list[str]:
    """Relative paths that differ between the folders a and b (content or presence)."""
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    differ = sorted(str(p) for p in files_a ^ files_b)
    differ += sorted(str(p) for p in files_a & files_b
                     if not filecmp.cmp(a / p, b / p, shallow=False))
    return differ


if __name__ == "__main__":
    raise SystemExit(main())
