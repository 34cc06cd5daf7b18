"""Keep every "Open in Colab" link and every notebook's install line in step with the one
repository address, ``[project.urls] Repository`` in pyproject.toml.

    .venv/bin/python scripts/colab_links.py           # rewrite README links and install lines
    .venv/bin/python scripts/colab_links.py --check   # only report what disagrees (exit 1)

Rewrites (1) the table between the ``colab-links`` markers in README.md: one link per lecture
(lectures/*.ipynb) and assignment (assignments/*/*.ipynb), and (2) the ``%pip install`` line of
the first code cell of every notebook in lectures/, solutions/ and assignments/. After a change
to a solution notebook, regenerate the assignments (scripts/generate_assignments.py).
tests/test_notebook_rules.py fails when anything here disagrees with pyproject.toml.
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NOTEBOOK_FOLDERS = ("lectures", "solutions", "assignments")
START, END = "<!-- colab-links:start -->", "<!-- colab-links:end -->"
BRANCH = "main"
# The install line of a first cell: `%pip install [flags] "coursekit @ git+URL.git"` or any
# other way of naming coursekit after `%pip install` / `!pip install`.
_INSTALL = re.compile(r"^(?P<indent>[ \t]*)[%!]pip install\b.*coursekit.*$", re.MULTILINE)


def repository(root: Path = ROOT) -> str:
    """The repository address, e.g. https://github.com/OWNER/REPO (no trailing .git or /)."""
    with open(root / "pyproject.toml", "rb") as f:
        urls = tomllib.load(f).get("project", {}).get("urls", {})
    url = urls.get("Repository")
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", url or "")
    if not match:
        raise ValueError(f"pyproject.toml [project.urls] Repository must be a GitHub address "
                         f"https://github.com/OWNER/REPO (Colab opens notebooks from GitHub), "
                         f"got {url!r}")
    return f"https://github.com/{match[1]}/{match[2]}"


def install_line(root: Path = ROOT) -> str:
    """What a notebook's first cell runs when coursekit is missing (e.g. on Colab)."""
    return f'%pip install -q "coursekit @ git+{repository(root)}.git"'


def colab_url(path: str, root: Path = ROOT) -> str:
    """The Colab address that opens ``path`` (relative to the repository root) from GitHub."""
    owner_repo = repository(root).removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/{path}"


def notebooks(root: Path = ROOT, folders=NOTEBOOK_FOLDERS) -> list[Path]:
    """Every committed notebook in ``folders`` (nbgrader/Jupyter working copies excluded)."""
    found = []
    for folder in folders:
        found += [p for p in sorted((root / folder).rglob("*.ipynb"))
                  if ".ipynb_checkpoints" not in p.parts]
    return found


def linked_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks students open: lectures and assignments (not the instructors' solutions)."""
    return notebooks(root, ("lectures", "assignments"))


def readme_block(root: Path = ROOT) -> str:
    rows = ["| notebook | open |", "|---|---|"]
    for path in linked_notebooks(root):
        rel = path.relative_to(root).as_posix()
        rows.append(f"| [`{rel}`]({rel}) | [Open in Colab]({colab_url(rel, root)}) |")
    return "\n".join([START, *rows, END])


def fix_notebook(path: Path, root: Path = ROOT, write: bool = True) -> bool:
    """Give ``path``'s first code cell the canonical install line; True if it changed."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    new = _INSTALL.sub(lambda m: m["indent"] + install_line(root), cell.source, count=1)
    if new == cell.source:
        return False
    if write:
        cell.source = new
        nbformat.write(nb, path)
    return True


def fix_readme(root: Path = ROOT, write: bool = True) -> bool:
    text = (root / "README.md").read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise ValueError(f"README.md must contain the markers {START} and {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = head + readme_block(root) + tail
    if write and new != text:
        (root / "README.md").write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report only; exit 1 on a difference")
    args = parser.parse_args(argv)
    changed = [str(p.relative_to(ROOT)) for p in notebooks()
               if fix_notebook(p, write=not args.check)]
    if fix_readme(write=not args.check):
        changed.append("README.md")
    verb = "disagree with" if args.check else "rewritten from"
    for path in changed:
        print(f"{path}: {verb} {repository()}")
    if any(p.startswith("solutions/") for p in changed) and not args.check:
        print("a solution changed: run scripts/generate_assignments.py and commit both")
    return 1 if (changed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
