"""Rules every notebook in lectures/, solutions/ and assignments/ keeps, so that it opens from
the README on Colab and runs there as in JupyterLab:

* committed without outputs;
* its first code cell installs coursekit when it is missing, from the repository address in
  pyproject.toml, and picks the device;
* its random seeds are fixed before anything random happens;
* it reads nothing outside its folder or the package (no ``../``, no absolute paths);
* README.md has an "Open in Colab" link for each lecture and assignment, built from the same
  address.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
import torch

import lecture_harness as harness

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("colab_links", ROOT / "scripts" / "colab_links.py")
links = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(links)

NOTEBOOKS = links.notebooks(ROOT)
IDS = [p.relative_to(ROOT).as_posix() for p in NOTEBOOKS]
LECTURE_NOTEBOOKS = [p for p in NOTEBOOKS if p.parent.name == "lectures"]


def test_the_rules_see_every_kind_of_notebook():
    folders = {p.relative_to(ROOT).parts[0] for p in NOTEBOOKS}
    assert folders == {"lectures", "solutions", "assignments"}, IDS


def _code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3", f"{path.name}: not a python3 kernel"
    dirty = [i for i, c in enumerate(_code_cells(path))
             if c.get("outputs") or c.get("execution_count") is not None]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs; clear them before committing"


def _run_first_cell(path, monkeypatch, coursekit_missing):
    return harness.run_setup_cell(path, monkeypatch, fast=None, coursekit_missing=coursekit_missing)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_cell_installs_coursekit_only_when_missing_and_picks_the_device(path, monkeypatch):
    magics, namespace = _run_first_cell(path, monkeypatch, coursekit_missing=True)
    expected = links.install_line(ROOT).removeprefix("%pip ")
    assert magics == [("pip", expected)], (
        f"{path.name}: when coursekit is missing the first code cell must run exactly "
        f"`{links.install_line(ROOT)}` (run scripts/colab_links.py), it ran {magics}")
    magics, namespace = _run_first_cell(path, monkeypatch, coursekit_missing=False)
    assert magics == [], f"{path.name}: coursekit is installed here, yet the first cell ran pip"
    devices = [v for v in namespace.values() if isinstance(v, torch.device)]
    assert devices, f"{path.name}: the first code cell must pick the device (select_device)"
    assert "select_device(" in _code_cells(path)[0].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_seeds_are_fixed_before_anything_random(path):
    cells = _code_cells(path)
    seeded = [i for i, c in enumerate(cells) if re.search(r"\b(seed_everything|manual_seed)\(",
                                                          c.source)]
    assert seeded and seeded[0] <= 2, (
        f"{path.name}: seed the random generators (coursekit.train.seed_everything) in one of "
        f"the first three code cells; seeded cells: {seeded}")


# A path literal that leaves the notebook's folder, or an absolute path into some machine.
_OUTSIDE = re.compile(r"""(["'])(?:\.\./|\.\.\\|/(?:home|work|Users|root|mnt|tmp|opt|srv)/)"""
                      r"""|__file__|[A-Za-z]:\\\\""")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_nothing_outside_the_notebooks_folder_or_the_package(path):
    offending = [(i, m.group(0)) for i, c in enumerate(_code_cells(path))
                 for m in _OUTSIDE.finditer(c.source)]
    assert not offending, (f"{path.name}: code cells refer to files outside the notebook's "
                           f"folder (a Colab runtime has only the notebook and the package): "
                           f"{offending}")


def test_outside_path_pattern_catches_what_it_should():
    caught = ['open("../data/x.png")', "Path('/home/me/facades')", "ROOT = Path(__file__)",
              "load(r'C:\\\\data')"]
    allowed = ['Path("runs/lecture01")', 'x = a / 2', "'https://example.org/home/'"]
    assert all(_OUTSIDE.search(s) for s in caught)
    assert not any(_OUTSIDE.search(s) for s in allowed)


def test_readme_has_an_open_in_colab_link_for_every_lecture_and_assignment():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = set(re.findall(r"https://colab\.research\.google\.com/github/[^\s)\"'>]+", readme))
    wanted = {links.colab_url(p.relative_to(ROOT).as_posix(), ROOT)
              for p in links.linked_notebooks(ROOT)}
    assert wanted <= found, (f"README.md lacks Colab links {sorted(wanted - found)}; run "
                             f"scripts/colab_links.py")
    # Every Colab link in the README (also outside the generated table) opens an existing
    # notebook of this repository.
    prefix = links.colab_url("", ROOT)
    for url in found:
        assert url.startswith(prefix), f"{url} does not open {links.repository(ROOT)} ({prefix})"
        assert (ROOT / url.removeprefix(prefix)).is_file(), f"{url}: no such notebook"


def test_links_and_install_lines_follow_the_one_repository_address(tmp_path):
    """Changing [project.urls] Repository makes every link and install line disagree, and
    the script rewrites them (checked on a copy of the repository's files)."""
    assert not links.fix_readme(ROOT, write=False), "README links disagree: run scripts/colab_links.py"
    assert not [p for p in NOTEBOOKS if links.fix_notebook(p, ROOT, write=False)]

    copy = tmp_path / "repo"
    for rel in ["pyproject.toml", "README.md", *IDS]:
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_bytes((ROOT / rel).read_bytes())
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        links.repository(ROOT), "https://github.com/someone/fork"))
    assert links.fix_readme(copy, write=False)
    copies = links.notebooks(copy)
    assert all(links.fix_notebook(p, copy, write=False) for p in copies)
    links.fix_readme(copy), [links.fix_notebook(p, copy) for p in copies]
    assert "colab.research.google.com/github/someone/fork/blob/main/lectures/" in (
        copy / "README.md").read_text()
    assert all('git+https://github.com/someone/fork.git"' in _code_cells(p)[0].source
               for p in copies)


def test_repository_address_must_be_on_github(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project.urls]\nRepository = "https://example.org/x"\n')
    with pytest.raises(ValueError, match="GitHub address"):
        links.repository(tmp_path)


@pytest.mark.parametrize("path", LECTURE_NOTEBOOKS, ids=[p.name for p in LECTURE_NOTEBOOKS])
@pytest.mark.parametrize("value, expected", [("1", True), ("0", False)])
def test_lecture_mode_follows_COURSEKIT_FAST(path, monkeypatch, value, expected):
    _, namespace = harness.run_setup_cell(path, monkeypatch, fast=value)
    assert namespace["FAST"] is expected


@pytest.mark.parametrize("path", LECTURE_NOTEBOOKS, ids=[p.name for p in LECTURE_NOTEBOOKS])
def test_lecture_defaults_to_fast_without_a_cuda_gpu_and_rejects_a_bad_value(path, monkeypatch):
    _, namespace = harness.run_setup_cell(path, monkeypatch, fast=None)
    assert namespace["FAST"] == (namespace["DEVICE"].type != "cuda")
    with pytest.raises(ValueError, match="COURSEKIT_FAST"):
        harness.run_setup_cell(path, monkeypatch, fast="yes")
