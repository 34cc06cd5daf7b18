"""Lecture 5 (SPADE): the committed notebook is clean, teaches coursekit's own code, and runs.

The quick tests read the notebook file and run its settings cell in both modes; the slow ones
execute it top to bottom in FAST mode with nbclient and check the numbers its cell tagged
``results`` prints against facts that do not come from the code under test: the thesis's exact
claims (SPADE with a uniform map and kernel is AdaIN; InstanceNorm of a constant is 0), the
wash-out that the architectures imply (a ResNet + IN paints one photo for every uniform map,
whose recalls then sum to at most 1), and the true photos' own scores.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import lecture_harness as harness

NOTEBOOK = harness.LECTURES / "05_spade.ipynb"


def _read():
    return harness.read(NOTEBOOK)


# ----------------------------------------------------------------------------- the file
def test_the_builder_writes_the_committed_notebook(tmp_path):
    """scripts/build_lecture_05.py and lectures/05_spade.ipynb say the same."""
    harness.builder_writes(NOTEBOOK, tmp_path)


def test_exactly_one_results_cell_and_one_settings_cell():
    for tag in ("results", "settings"):
        tagged = [c for c in _read().cells if tag in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and tagged[0].cell_type == "code", tag


def test_models_losses_and_scores_come_from_coursekit():
    """The lecture teaches coursekit's SPADE: it defines no network, loss or score."""
    code = harness.code(NOTEBOOK)
    assert not re.search(r"^\s*class \w+", code, re.MULTILINE), (
        "the notebook defines a class; import it from coursekit instead")
    for name in ("inspect.getsource(SPADE.forward)", "inspect.getsource(adain)",
                 "inspect.getsource(SPADEResBlock.forward)", "inspect.getsource(feature_matching_loss)",
                 "inspect.getsource(SPADEModel.generator_loss)", "spade.Config.ablation(",
                 "uniform_map_recall", 'pretrained.load("spade-landscapes")',
                 'pretrained.load("resnet-in-landscapes")', 'pretrained.load("spade-vae-landscapes")',
                 "LandscapePainter", "fit("):
        assert name in code, name


def test_the_text_says_which_results_are_trained_and_which_live():
    text = "\n".join(c.source for c in _read().cells if c.cell_type == "markdown")
    assert "course checkpoint" in text and "live run" in text
    assert "ABLATION_TABLE" not in text, "the 64 px table was not filled in"
    # The thesis's numbers quoted where the text compares with them.
    assert "35.2" in text and "24.7" in text


# ----------------------------------------------------------------------------- the two modes
def _settings_namespace(monkeypatch, tmp_path, fast: bool):
    return harness.settings_namespace(NOTEBOOK, monkeypatch, tmp_path, fast)


def test_fast_mode_trains_small_runs_in_a_temporary_folder(monkeypatch, tmp_path):
    from coursekit.models import spade

    ns = _settings_namespace(monkeypatch, tmp_path, fast=True)
    assert ns["SIZE"] == 32 and ns["STEPS"] <= 400 and ns["N_EVAL"] == 50
    for name, (module, config) in ns["LIVE"].items():
        config = ns["with_budget"](config, "x", ns["STEPS"])
        assert config.image_size == 32 and config.train.steps == ns["STEPS"], name
        assert config.train.data == "synthetic-landscapes:day-summer"
        assert Path(config.train.out_dir).is_relative_to(tmp_path)  # nothing beside the notebook
    live = ns["LIVE"]
    assert live["decoder w/ Concat"][1].condition == "concat"
    assert live["SPADE"][1].spade_kernel == spade.Config.fast().spade_kernel == 3
    resnet = live["ResNet + IN"][1]
    assert (resnet.generator, resnet.norm) == ("resnet", "instance")


def test_full_mode_trains_the_paper_presets(monkeypatch, tmp_path):
    ns = _settings_namespace(monkeypatch, tmp_path, fast=False)
    assert ns["SIZE"] == 256 and ns["N_EVAL"] == 200
    spade_config = ns["LIVE"]["SPADE"][1]
    # The thesis's generator and objective at 256 px: ngf 64, 5 upsamplings from 8x8, hinge,
    # feature matching 10, TTUR 1e-4 / 4e-4, betas (0, 0.999), batch 32.
    assert (spade_config.image_size, spade_config.ngf, spade_config.num_up, spade_config.gan_mode,
            spade_config.lambda_feat, spade_config.lr_G, spade_config.lr_D,
            spade_config.betas, spade_config.train.batch_size) == (
        256, 64, 5, "hinge", 10.0, 1e-4, 4e-4, (0.0, 0.999), 32)
    config = ns["with_budget"](spade_config, "x", ns["STEPS"])
    assert config.train.resume and config.train.seed == 0
    assert (config.train.epochs, config.train.epochs_decay) == (100, 100)  # the thesis's schedule
    assert not str(ns["RUN_ROOT"]).startswith(("/", ".."))  # inside the notebook's folder


def test_full_mode_on_a_label_folder_takes_its_classes(monkeypatch, tmp_path):
    """FULL mode with COURSEKIT_LABEL_DATA: the thesis's SPADE with the folder's classes, and
    without the VGG loss (said) where its weights are missing."""
    from PIL import Image
    import numpy as np

    from coursekit.data import get_dataset

    root = tmp_path / "labels-data"
    for split in ("train", "test"):
        for i in range(2):
            ids = np.zeros((24, 24), np.uint8)
            ids[12:, :] = 1 + i  # classes 0, 1 and 2: three classes by the scan
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            Image.fromarray(ids).save(root / "labels" / split / f"x{i}.png")
            Image.fromarray(np.stack([ids * 80] * 3, -1)).save(root / "images" / split / f"x{i}.png")
    monkeypatch.setenv("COURSEKIT_LABEL_DATA", str(root))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-weights"))
    ns = _settings_namespace(monkeypatch, tmp_path, fast=False)
    assert ns["LABEL_DATA"] == str(root)
    config = ns["real_spade_config"](get_dataset(str(root), split="train", size=32))
    assert config.label_channels == 3 and config.lambda_vgg == 0.0
    assert (config.image_size, config.ngf, config.lambda_feat) == (256, 64, 10.0)
    assert config.train.resume and config.train.data == str(root)
    assert "lecture05/real" in config.train.out_dir
    code = harness.code(NOTEBOOK)
    assert "real_spade_config(real_train)" in code and "fit(REAL_MODEL" in code


# ----------------------------------------------------------------------------- running it
@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook executed in FAST mode, in lectures/ as a student would run it."""
    return harness.execute_fast(NOTEBOOK, tmp_path_factory.mktemp("lecture05-runs"))


@pytest.mark.slow
def test_notebook_runs_in_fast_mode_and_draws(executed):
    nb, results = executed
    assert results["mode"] == "fast" and results["size"] == 32
    # §1 groups, statistics (2), §2 checkpoints, §3 uniform maps + bars, §5 bars + samples.
    assert harness.image_count(nb) >= 8
    assert not harness.error_outputs(nb)
    widgets = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widgets) == 1, "the painter"


@pytest.mark.slow
def test_the_theses_exact_claims_hold_in_the_notebook(executed):
    _, results = executed
    # SPADE with a uniform map, 1x1 kernels, instance statistics and N = 1 is AdaIN: float32
    # rounding only (values of order 1).
    assert results["adain_gap"] < 1e-5
    # InstanceNorm of a convolution of a uniform map is 0 up to float32 rounding; SPADE's
    # output differs between classes by far more.
    assert results["wash_demo"]["instance_norm_max"] < 1e-4
    assert results["wash_demo"]["spade_distance"] > 0.1


@pytest.mark.slow
def test_the_wash_out_on_trained_models(executed):
    _, results = executed
    recall = results["checkpoint_recall"]
    washed = recall["ResNet + IN"]
    # One photo for every class: its recalls are that photo's class fractions, which sum to 1
    # (measured 1.25: float rounding, amplified by the norms, changes some pixels); a
    # generator that kept the class could reach 8.
    assert sum(washed.values()) < 1.6, washed
    assert min(recall["SPADE"].values()) > 0.85  # every class recalled (measured 0.93-1.00)
    assert sum(recall["SPADE"].values()) > 3 * sum(washed.values())
    live = results["live"]
    # After 300 iterations (seed 0): ResNet + IN 0.11, chance being 1/8; SPADE 0.42.
    assert live["ResNet + IN"]["uniform_recall"] < 0.2
    assert live["SPADE"]["uniform_recall"] > 2 * live["ResNet + IN"]["uniform_recall"]


@pytest.mark.slow
def test_scores_are_plausible_against_the_true_photos(executed):
    _, results = executed
    real = results["real_scores"]
    assert real["pixel_accuracy"] > 0.95  # the segmenter on true photos (measured 0.979)
    for name, s in results["checkpoint_scores"].items():
        assert s["pixel_accuracy"] <= real["pixel_accuracy"] + 0.01, name
    live = results["live"]
    assert len({s["iterations"] for s in live.values()}) == 1  # equal iterations
    # SPADE's iteration costs several pix2pix ones (64 px fast presets: 20.3 against 4.5 GFLOP);
    # the concatenating decoder has no gamma/beta convolutions: fewer parameters and FLOPs.
    assert live["SPADE"]["gflop_per_iteration"] > 2 * live["pix2pix U-Net"]["gflop_per_iteration"]
    assert live["decoder w/ Concat"]["G_parameters"] < live["SPADE"]["G_parameters"]
    assert live["decoder w/ Concat"]["gflop_per_iteration"] < live["SPADE"]["gflop_per_iteration"]
