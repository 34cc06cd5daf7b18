"""The shipped course checkpoints are what their cards say: size, hash and scores.

Each card records the scores of the stored networks on the first ``check.items`` test items
(scripts/train_course_checkpoints.py computes them from the shipped float16 weights, loaded
back as a user loads them). Scoring is deterministic on a CPU; the tolerance, 0.005 on each
score (rates and IoUs in [0, 1]), allows for summation order on other CPUs and thread counts,
far below what a different or damaged model changes.

The script that makes them (scripts/train_course_checkpoints.py) is run end to end on a tiny
preset, and its training curve is checked on a hand-written metrics.jsonl."""
import torch
import pytest

from coursekit import pretrained
from coursekit.data import get_dataset

SHIPPED = [row["name"] for row in pretrained.available()]
TOLERANCE = 0.005
MAX_BYTES, MAX_TOTAL = 8 * 2**20, 40 * 2**20  # issue 12's budget for package data


def test_the_shipped_checkpoints_fit_the_package_budget():
    sizes = [row["bytes"] for row in pretrained.available()]
    assert all(size <= MAX_BYTES for size in sizes) and sum(sizes) <= MAX_TOTAL


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_checkpoint_scores_what_its_card_says(name):
    card = pretrained.card(name)
    method = pretrained.load(name)  # also checks the weights' SHA-256 against the card
    test = get_dataset(card["data"], split=card["split"], size=method.config.image_size)
    with torch.no_grad():
        torch.manual_seed(card["check"]["torch_seed"])  # pix2pix keeps dropout at test time
        scores = method.evaluate(torch.utils.data.Subset(test, range(card["check"]["items"])))
    expected = card["check"]["scores"]
    assert set(scores) == set(expected)
    for key, value in expected.items():
        assert abs(scores[key] - value) <= TOLERANCE, (key, scores[key], value)


def _script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "train_course_checkpoints.py"
    spec = importlib.util.spec_from_file_location("train_course_checkpoints", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_training_script_writes_a_folder_that_scores_what_its_card_says(tmp_path, monkeypatch):
    """scripts/train_course_checkpoints.py end to end, on a tiny CycleGAN course preset (4 steps,
    32 px, 4 base filters): it trains, writes the folder into ROOT/coursekit/checkpoints, and the
    card's scores are what the loaded folder scores (same process, so exactly)."""
    from coursekit.models import cyclegan
    from coursekit.train import TrainConfig

    script = _script()
    tiny = cyclegan.Config.fast(ngf=4, n_blocks=1, ndf=4, train=TrainConfig(
        steps=4, decay_steps=2, batch_size=2, eval_every=2, log_every=1, sample_every=0,
        checkpoint_every=0, progress=False))
    monkeypatch.setattr(cyclegan.Config, "course", classmethod(lambda cls: tiny))
    monkeypatch.setattr(script, "ROOT", tmp_path)
    monkeypatch.setattr(script, "COURSE", {"tiny-zebras": ("cyclegan", "synthetic-zebras", 8)})
    monkeypatch.setattr("sys.argv", ["train_course_checkpoints.py", "tiny-zebras", "--device",
                                     "cpu", "--runs", str(tmp_path / "runs")])
    script.main()
    folder = tmp_path / "coursekit" / "checkpoints" / "tiny-zebras"
    card = pretrained.card(folder)
    assert card["steps"] == 4 and card["method"] == "cyclegan" and card["threads"] >= 1
    assert card["command"] == "python scripts/train_course_checkpoints.py tiny-zebras"
    assert card["curve"]["steps"] == [2, 4] and "AtoB_zebra_rate" in card["curve"]["scores"]
    method = pretrained.load(folder)
    test = get_dataset("synthetic-zebras", split="test", size=32)
    with torch.no_grad():
        torch.manual_seed(0)
        check = method.evaluate(torch.utils.data.Subset(test, range(8)))
    assert check == card["check"]["scores"] and set(card["scores"]) == set(check)
    # Over the size budget: the script says so and stops with an error.
    monkeypatch.setattr(script, "MAX_BYTES", 1000)
    with pytest.raises(SystemExit, match="over the 0 MB a shipped checkpoint may take"):
        script.main()


def test_the_card_carries_the_training_curve(tmp_path):
    """scripts/train_course_checkpoints.py reads the run's evaluations from metrics.jsonl (a
    resumed run logs a step twice: the last one counts) and the card's README tabulates them."""
    import json

    from coursekit.models import cyclegan

    module = _script()
    metrics = tmp_path / "metrics.jsonl"
    rows = [{"step": 100, "losses": {"G": 1.0}},
            {"step": 500, "eval": {"AtoB_zebra_rate": 0.25, "AtoB_silhouette_iou": 0.5}},
            {"step": 1000, "eval": {"AtoB_zebra_rate": 0.1, "AtoB_silhouette_iou": 0.6}},
            {"step": 1000, "eval": {"AtoB_zebra_rate": 0.75, "AtoB_silhouette_iou": 0.7}}]
    metrics.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    curve = module.eval_curve(metrics)
    assert curve == {"steps": [500, 1000], "scores": {"AtoB_silhouette_iou": [0.5, 0.7],
                                                      "AtoB_zebra_rate": [0.25, 0.75]}}
    method = cyclegan.build(cyclegan.Config.fast(image_size=32, ngf=4, n_blocks=1, ndf=4))
    folder = tmp_path / "zebras"
    about = pretrained.save(method, "cyclegan", folder, {"scores": {"AtoB_zebra_rate": 0.5}})
    pretrained.write_card(folder, {**about, "curve": curve, "threads": 1, "check": {"items": 50}})
    readme = (folder / "README.md").read_text()
    assert ", 1 thread)" in readme and "on the first 50 test items" in readme
    assert "| 1000 | 0.700 | 0.750 |" in readme and "|---|---|---|\n| 500 |" in readme


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_checkpoint_was_made_by_its_course_preset(name):
    """The shipped networks were trained with the method's Config.course() as it is now, with the
    script's OVERRIDES for the checkpoint (all but
    the run's bookkeeping: folder, device, resume), so a preset changed without retraining
    and re-shipping fails here."""
    import json
    from dataclasses import replace

    from coursekit.models import config_from_dict, load_method_module

    script = _script()
    method, data, _ = script.COURSE[name]
    assert pretrained.card(name)["method"] == method and pretrained.card(name)["data"] == data
    module = load_method_module(method)
    shipped = config_from_dict(module.Config, json.loads(
        (pretrained.SHIPPED / name / pretrained.CONFIG).read_text())["config"])
    preset = script.course_config(name)  # Config.course() with the checkpoint's overrides
    assert replace(shipped, train=preset.train) == preset
    for key in ("steps", "decay_steps", "batch_size", "seed", "eval_every"):
        assert getattr(shipped.train, key) == getattr(preset.train, key), key
