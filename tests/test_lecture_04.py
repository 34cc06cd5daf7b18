"""Lecture 4 (BicycleGAN): the committed notebook is clean, teaches coursekit's own code, and
runs.

The quick tests read the notebook file; the slow ones execute it top to bottom in FAST mode with
nbclient (under three minutes on two idle CPU cores) and check the numbers its cell tagged
``results`` prints against facts that do not come from the code under test: a KL divergence
computed by hand, lecture 1's measured spread of pix2pix + noise, and what the ablations'
structure implies (a generator whose code nothing asks for ignores it).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import lecture_harness as harness

NOTEBOOK = harness.LECTURES / "04_bicyclegan.ipynb"


def _read():
    return harness.read(NOTEBOOK)


# ----------------------------------------------------------------------------- the file
def test_exactly_one_results_cell():
    tagged = [c for c in _read().cells if "results" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"


def test_models_losses_and_scores_come_from_coursekit():
    """The lecture teaches coursekit's BicycleGAN: it defines no network, loss or score."""
    code = harness.code(NOTEBOOK)
    assert not re.search(r"^\s*class \w+", code, re.MULTILINE), (
        "the notebook defines a class; import it from coursekit instead")
    for name in ("inspect.getsource(reparameterize)", "inspect.getsource(kl_divergence)",
                 "inspect.getsource(BicycleGAN.generator_loss)", "ABLATIONS", "evaluate_samples",
                 'pretrained.load("bicyclegan-facades")', "StyleExplorer", "fit("):
        assert name in code, name


def test_the_text_says_which_results_are_trained_and_which_live():
    text = "\n".join(c.source for c in _read().cells if c.cell_type == "markdown")
    assert "course checkpoint" in text and "live run" in text
    assert "0.027" in text and "0.37" in text  # lecture 1 §7's measured spreads, quoted


# ----------------------------------------------------------------------------- running it
@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook executed in FAST mode, in lectures/ as a student would run it."""
    return harness.execute_fast(NOTEBOOK, tmp_path_factory.mktemp("lecture04-runs"))


@pytest.mark.slow
def test_notebook_runs_in_fast_mode_and_draws(executed):
    nb, results = executed
    assert results["mode"] == "fast" and results["data"] == "synthetic-facades"
    assert results["size"] == 32 and results["steps"] <= 600
    # §1 styles, §2 checkpoint samples and spread bars, §4 score bars and samples, §5 transfer.
    assert harness.image_count(nb) >= 6
    assert not harness.error_outputs(nb)
    widgets = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widgets) == 2, "the explorer on the checkpoint and on the live run"


@pytest.mark.slow
def test_the_kl_example_is_the_hand_computation(executed):
    _, results = executed
    # KL(N(1, 1) || N(0, 1)) = 1/2 per dimension, summed over 8: float32 rounding only.
    assert abs(results["kl_check"]["mu1_logvar0_8dims"] - 4.0) < 1e-5


@pytest.mark.slow
def test_only_the_variants_that_ask_for_the_code_use_it(executed):
    _, results = executed
    scores = results["scores"]
    assert list(scores) == ["pix2pix + noise", "cVAE-GAN", "cLR-GAN", "BicycleGAN"]
    noise = scores["pix2pix + noise"]
    # pix2pix + noise: nothing rewards z (lecture 1 §7: a spread of 0.02-0.07 against 0.37),
    # so its outputs for one label map look like one style.
    assert noise["styles_seen"] <= 1.5 and noise["diversity"] < 0.08
    for name in ("cVAE-GAN", "cLR-GAN", "BicycleGAN"):
        # A code that must be encoded or read back changes the output: at least twice the
        # spread, and more than one style on average (measured 2.1-2.8 with seed 0).
        assert scores[name]["diversity"] > 2 * noise["diversity"], name
        assert scores[name]["styles_seen"] >= 1.5, name
    for s in scores.values():
        assert 0.0 <= s["faithful_rate"] <= 1.0 and 0.0 <= s["pixel_accuracy"] <= 1.0
        assert s["modes_per_input"] <= s["styles_seen"] + 1e-9  # faithful ones are a subset


@pytest.mark.slow
def test_the_checkpoint_spreads_over_z_like_the_data_not_like_pix2pix(executed):
    _, results = executed
    spread = results["spread"]
    trained = spread["BicycleGAN course checkpoint"]
    data = spread["the data: 4 correct photos"]
    # The data's spread between its four photos was 0.37 in lecture 1 (64 px, 16 maps).
    assert 0.3 < data < 0.45
    assert trained > 3 * spread["pix2pix + noise (lecture 1 §7, seed 0)"]
    # The encoder copies most styles: each style is drawn back for at least a third of the maps
    # on average (chance is a quarter).
    assert sum(results["encode_decode"].values()) / 4 > 1 / 3


# ----------------------------------------------------------------------------- the two modes
def _settings_namespace(monkeypatch, tmp_path, fast: bool):
    return harness.settings_namespace(NOTEBOOK, monkeypatch, tmp_path, fast)


def test_full_mode_trains_the_paper_preset_with_each_ablation(monkeypatch, tmp_path):
    from coursekit.models.bicyclegan import ABLATIONS, Config

    ns = _settings_namespace(monkeypatch, tmp_path, fast=False)
    assert ns["SIZE"] == 256 and ns["N_EVAL"] == 100
    paper = Config.paper()
    for name, switches in ABLATIONS.items():
        config = ns["make_config"](**switches)
        # The reference's networks and schedule: 256 px, unet_256 with z everywhere, nz 8,
        # two 2-scale 70x70 PatchGANs, LSGAN, batch 2, 100 + 100 epochs; only the switches move.
        assert (config.image_size, config.num_downs, config.ngf, config.nz, config.d_layers,
                config.d_scales, config.gan_mode, config.lr) == (256, 8, 64, 8, 3, 2, "lsgan", 2e-4)
        assert (config.train.epochs, config.train.epochs_decay, config.train.batch_size) == (100, 100, 2)
        assert config.train.resume and config.train.seed == 0
        for key in ("lambda_l1", "lambda_gan", "lambda_gan2", "lambda_z", "lambda_kl", "use_encoder"):
            assert getattr(config, key) == switches.get(key, getattr(paper, key)), (name, key)
    assert not str(ns["RUN_ROOT"]).startswith(("/", ".."))  # inside the notebook's folder


def test_fast_mode_uses_the_fast_preset_at_32_px_in_a_temporary_folder(monkeypatch, tmp_path):
    from coursekit.models.bicyclegan import Config

    ns = _settings_namespace(monkeypatch, tmp_path, fast=True)
    config = ns["make_config"](lambda_gan2=0.0)
    fast = Config.fast()
    assert (config.image_size, config.num_downs, config.ngf, config.nef, config.lr) == (
        32, 5, fast.ngf, fast.nef, fast.lr)
    assert config.train.steps == ns["STEPS"] <= 600 and config.lambda_gan2 == 0.0
    assert Path(config.train.out_dir).is_relative_to(tmp_path)  # nothing beside the notebook
