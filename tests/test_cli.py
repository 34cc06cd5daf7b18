"""The command line, run as a user would run it (a subprocess) where that matters.

Training and scoring each method through the command line (``coursekit train METHOD`` then
``coursekit eval METHOD --json``) is part of the method contract (tests/method_contract.py);
bad input and faults: tests/test_cli_errors.py."""
import subprocess
import sys

import pytest
from PIL import Image

from coursekit.cli import main


def run_cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "coursekit.cli", *args], capture_output=True,
                          text=True, timeout=120, **kw)


def test_data_list_shows_synthetic_and_catalog(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("synthetic-facades", "synthetic-zebras", "synthetic-landscapes", "horse2zebra"):
        assert name in out
    # Nothing is downloaded in the isolated test cache, so the catalog rows must say "no".
    row = next(line for line in out.splitlines() if line.startswith("horse2zebra"))
    assert " no " in row


@pytest.mark.parametrize("name,rows", [("synthetic-facades", 2), ("synthetic-zebras", 4),
                                       ("synthetic-landscapes", 2)])
def test_data_preview_writes_a_png_of_the_right_size(tmp_path, name, rows):
    out = tmp_path / "preview.png"
    assert main(["data", "preview", name, "--out", str(out), "--size", "32", "--n", "3"]) == 0
    img = Image.open(out)
    # make_grid pads 2 px around each 32 px tile: 3 columns, `rows` image rows (A, B, masks).
    assert img.size == (3 * 34 + 2, rows * 34 + 2)


def test_unknown_dataset_is_a_clear_error(capsys, tmp_path):
    code = main(["data", "preview", "no-such-data", "--out", str(tmp_path / "x.png")])
    assert code == 1
    err = capsys.readouterr().err
    assert "no-such-data" in err and "synthetic-facades" in err


def test_unknown_method_lists_what_exists(capsys):
    assert main(["train", "no-such-method"]) == 2
    assert "Available methods" in capsys.readouterr().err


def test_console_script_help_runs():
    proc = run_cli("--help")
    assert proc.returncode == 0, proc.stderr
    assert "train" in proc.stdout and "data" in proc.stdout


@pytest.mark.parametrize("method", ["cyclegan", "cut", "fastcut"])
def test_direction_is_refused_by_methods_that_have_none(tmp_path, capsys, method):
    # Unpaired methods translate A -> B (CycleGAN both ways): --direction is pix2pix's option.
    out = tmp_path / "run"
    assert main(["train", method, "--steps", "1", "--direction", "BtoA", "--out", str(out)]) == 2
    assert "no --direction" in capsys.readouterr().err
    assert not out.exists()  # refused before anything was written


def test_eval_of_a_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["eval", "pix2pix", "--checkpoint", str(tmp_path / "nope.pt")]) == 1
    assert "nope.pt" in capsys.readouterr().err



def test_set_changes_the_methods_settings_with_their_types(tmp_path, capsys, monkeypatch):
    from coursekit.models import config_from_dict, spade
    from coursekit.train import load_checkpoint

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-weights"))
    out = tmp_path / "run"
    args = ["train", "spade", "--steps", "1", "--out", str(out), "--set", "image_size=32",
            "--set", "num_up=3", "--set", "ngf=2", "--set", "spade_hidden=8", "--set", "ndf=4",
            "--set", "d_layers=1", "--set", "spectral_G=false", "--set", "betas=0.5,0.9"]
    assert main(args) == 0
    config = config_from_dict(spade.Config, load_checkpoint(out / "latest.pt")["method_config"])
    assert (config.image_size, config.ngf, config.spectral_G, config.betas) == (32, 2, False, (0.5, 0.9))
    capsys.readouterr()
    # The paper preset asks for VGG-19's weights: missing, the error says how to do without.
    assert main(["train", "spade", "--preset", "paper", "--steps", "1",
                 "--out", str(tmp_path / "paper")]) == 1
    err = capsys.readouterr().err
    assert "vgg19-dcbb9e9d.pth" in err and "--set lambda_vgg=0" in err


@pytest.mark.parametrize("pair, message", [
    ("lambda_vg=0", "has no setting 'lambda_vg'"),
    ("ngf=wide", "ngf=wide: ngf is 8 by default"),
    ("spectral_G=maybe", "expected true or false"),
    ("lambda_vgg", "takes KEY=VALUE"),
    ("image_size=72", "multiple of 2**num_up"),
])
def test_set_errors_say_what_is_wrong(tmp_path, capsys, pair, message):
    out = tmp_path / "run"
    assert main(["train", "spade", "--steps", "1", "--out", str(out), "--set", pair]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
