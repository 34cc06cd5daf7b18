"""Test-suite settings shared by every test.

The suite must behave the same on a developer's laptop and in CI: offline, on the CPU,
without touching the user's dataset cache.
"""
import os
import sys
from pathlib import Path

# nbgrader starts `alembic` by name, and notebooks start kernels with `python3`: make the
# interpreter running the tests (e.g. .venv/bin/python) come first on PATH even without
# an activated venv.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
# Nothing may be downloaded at test time: Hugging Face must fail fast instead of retrying.
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# Under pytest-xdist (`-n N`, the README's command) the N workers share the machine's cores:
# each worker, and every kernel and subprocess it starts, gets cores // N threads. N workers
# with two OpenMP threads each on two cores oversubscribe them, and OpenMP's busy waiting
# then made one training run 10x slower.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // _WORKERS))

import pytest  # noqa: E402

# The tests that every assignment's grading tests import: pytest's assert messages there too.
pytest.register_assert_rewrite("grading_contract", "lecture_harness")


@pytest.fixture(autouse=True, scope="session")
def _isolated_data_cache(tmp_path_factory):
    """Point COURSEKIT_DATA at an empty temporary folder for the whole session, so tests never
    read or write the developer's real dataset cache (tests that need a specific cache set
    their own with monkeypatch)."""
    old = os.environ.get("COURSEKIT_DATA")
    os.environ["COURSEKIT_DATA"] = str(tmp_path_factory.mktemp("coursekit-data"))
    yield
    if old is None:
        os.environ.pop("COURSEKIT_DATA", None)
    else:
        os.environ["COURSEKIT_DATA"] = old


@pytest.fixture(autouse=True)
def _torch_seed():
    """Every test starts from the same global RNG state, so failures reproduce."""
    import torch

    torch.manual_seed(0)
    yield


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything tries to download (torch hub's fetchers and urllib)."""
    import urllib.request

    import torch

    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args[:1]}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture(scope="session")
def vgg_file(tmp_path_factory):
    """torchvision's VGG-19 conv trunk, random, saved as torchvision names its keys (the
    classifier left out: 80 MB instead of 548; only the trunk is read): the perceptual losses'
    weights file, without a download."""
    import torch
    import torchvision

    torch.manual_seed(0)
    state = torchvision.models.vgg19(weights=None).state_dict()
    path = tmp_path_factory.mktemp("vgg") / "vgg19-trunk.pth"
    torch.save({k: v for k, v in state.items() if k.startswith("features.")}, path)
    yield path
    path.unlink()
