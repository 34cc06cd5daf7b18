"""coursekit.pretrained: course checkpoint folders (safetensors + JSON), their cards and errors."""
import json

import pytest
import torch

from coursekit import pretrained
from coursekit.cli import main
from coursekit.models import cyclegan

TINY = dict(image_size=32, ngf=4, n_blocks=1, ndf=4)  # 32 px: synthetic data starts there


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    method = cyclegan.build(cyclegan.Config.fast(**TINY))
    about = pretrained.save(method, "cyclegan", tmp_path / "zebras",
                            {"data": "synthetic-zebras", "steps": 0, "scores": {"AtoB_zebra_rate": 0.5}})
    return method.eval(), tmp_path / "zebras", about


def test_a_saved_folder_loads_the_same_generators(saved):
    method, folder, about = saved
    loaded = pretrained.load(folder)
    assert not loaded.training and loaded.config == method.config
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        for direction in ("AtoB", "BtoA"):
            # float16 weights (11-bit mantissa: relative error <= 2^-11 each) move a tiny
            # network's outputs by ~1e-3; 1e-2 allows that and fails any wrong network.
            diff = (loaded.translate(x, direction) - method.translate(x, direction)).abs().max()
            assert diff < 1e-2, direction
    # Only the generators are stored, in float16, and the card says so with the file's hash.
    assert about["networks"] == ["G_AB", "G_BA"] and about["dtype"] == "torch.float16"
    from safetensors.torch import load_file
    state = load_file(str(folder / pretrained.WEIGHTS))
    assert {k.split(".")[0] for k in state} == {"G_AB", "G_BA"}
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    assert about["bytes"] == (folder / pretrained.WEIGHTS).stat().st_size
    assert json.loads((folder / pretrained.CARD).read_text())["sha256"] == about["sha256"]
    assert "| AtoB_zebra_rate | 0.500 |" in (folder / "README.md").read_text()


def test_damaged_folders_and_unknown_names_are_clear_errors(saved, tmp_path):
    _, folder, _ = saved
    with pytest.raises(pretrained.PretrainedError, match="neither a shipped name"):
        pretrained.load("no-such-checkpoint")
    weights = folder / pretrained.WEIGHTS
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(pretrained.PretrainedError, match="truncated or was replaced"):
        pretrained.load(folder)
    weights.write_bytes(data)
    (folder / pretrained.CONFIG).write_text("{not json")
    with pytest.raises(pretrained.PretrainedError, match="is damaged"):
        pretrained.load(folder)
    (folder / pretrained.CONFIG).unlink()
    with pytest.raises(pretrained.PretrainedError, match="has no config.json"):
        pretrained.load(folder)


def test_weights_of_other_settings_do_not_load(saved, tmp_path):
    _, folder, _ = saved
    config = json.loads((folder / pretrained.CONFIG).read_text())
    config["config"]["ngf"] = 8  # the stored generators have 4 base filters
    (folder / pretrained.CONFIG).write_text(json.dumps(config))
    with pytest.raises(pretrained.PretrainedError, match="has shape"):
        pretrained.load(folder)


def test_the_command_line_uses_a_course_checkpoint(saved, tmp_path, capsys, monkeypatch):
    _, folder, _ = saved
    assert main(["eval", "cyclegan", "--pretrained", str(folder), "--json"]) == 0
    captured = capsys.readouterr()
    assert f"scoring course checkpoint {folder} on synthetic-zebras" in captured.err
    assert "AtoB_zebra_rate" in json.loads(captured.out)
    assert main(["eval", "cut", "--pretrained", str(folder)]) == 1
    assert "is a cyclegan model, not cut" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # neither --checkpoint nor --pretrained: argparse
        main(["eval", "cyclegan"])
    assert stop.value.code == 2 and "one of the arguments --checkpoint --pretrained" in capsys.readouterr().err
    capsys.readouterr()
    # `pretrained list` shows what is shipped: here, the folder above as the only one.
    monkeypatch.setattr(pretrained, "SHIPPED", folder.parent)
    assert main(["pretrained", "list"]) == 0
    said = capsys.readouterr().out
    assert "zebras: cyclegan on synthetic-zebras, 0 steps" in said and "AtoB_zebra_rate 0.500" in said
    assert pretrained.load("zebras").config.ngf == 4  # a shipped name resolves to its folder
