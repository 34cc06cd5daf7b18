"""Lecture 7 (SDEdit): the committed notebook is clean, teaches coursekit's own code, and runs.

The quick tests read the notebook file and run its settings cell in both modes; the slow ones
execute it top to bottom in FAST mode with nbclient and check the numbers its cell tagged
``results`` prints against facts that do not come from the code under test: the linear
schedule's products computed here with numpy, Eq. 4's mean and spread as statistics of the
draws, the error of predicting no noise (E[eps^2] = 1), the definition of the faithfulness
score (1 for the guide itself), the realism test's calibration (a photo passes 95 % of the
time), what a copy of a training photo is, the masked edit's promise (kept pixels unchanged)
and diffusers' rule for img2img's step count.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import lecture_harness as harness

NOTEBOOK = harness.LECTURES / "07_sdedit.ipynb"


def _read():
    return harness.read(NOTEBOOK)


def _markdown():
    return "\n".join(c.source for c in _read().cells if c.cell_type == "markdown")


# ----------------------------------------------------------------------------- the file
def test_the_builder_writes_the_committed_notebook(tmp_path):
    """scripts/build_lecture_07.py and lectures/07_sdedit.ipynb say the same."""
    harness.builder_writes(NOTEBOOK, tmp_path)


def test_exactly_one_results_cell_and_one_settings_cell():
    for tag in ("results", "settings"):
        tagged = [c for c in _read().cells if tag in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and tagged[0].cell_type == "code", tag


def test_models_losses_and_scores_come_from_coursekit():
    """The lecture teaches coursekit's DDPM and SDEdit: it defines no network, sampler or
    score of its own."""
    code = harness.code(NOTEBOOK)
    assert not re.search(r"^\s*class \w+", code, re.MULTILINE), (
        "the notebook defines a class; import it from coursekit instead")
    assert not re.search(r"alphas_cumprod\s*=|cumprod\(", code), "the schedule is coursekit's"
    for name in ("inspect.getsource(Schedule.__init__)", "inspect.getsource(q_sample)",
                 "inspect.getsource(DDPM.loss)", "inspect.getsource(predict_x0)",
                 "inspect.getsource(p_sample)", "inspect.getsource(sdedit)",
                 "inspect.getsource(IdealDenoiser.forward)",
                 "inspect.getsource(stable_diffusion.img2img_steps)",
                 'pretrained.load("ddpm-landscapes")', "tradeoff(", "format_tradeoff(",
                 "stroke_faithfulness(", "realism(", "mask=KEEP", "NoiseLevelExplorer(",
                 "stable_diffusion.load_img2img(", "stable_diffusion.img2img(", "fit("):
        assert name in code, name


def test_the_text_says_which_results_are_trained_and_which_live():
    text = _markdown()
    assert "course checkpoint" in text and "live run" in text
    assert not re.search(r"WHAT_TO_SEE|TODO|XXX", text), "a placeholder was left in the text"
    # The seeds' recipe and the paper's recommended range, in the text.
    assert "diffuse, then denoise" in text and "[0.3, 0.6]" in text
    # The benchmark's row quoted in §3 is the one benchmarks/sdedit_tables.py printed.
    for number in ("0.722", "0.556", "0.452", "0.323", "0.170", "6.32", "8.77", "8.67"):
        assert number in text, number


# ----------------------------------------------------------------------------- the two modes
def _settings_namespace(monkeypatch, tmp_path, fast: bool):
    return harness.settings_namespace(NOTEBOOK, monkeypatch, tmp_path, fast)


def test_fast_mode_uses_the_checkpoints_network_for_a_short_run(monkeypatch, tmp_path):
    from coursekit import pretrained
    from coursekit.models import ddpm

    ns = _settings_namespace(monkeypatch, tmp_path, fast=True)
    assert ns["SIZE"] == 32 and ns["STEPS"] <= 100 and ns["EDIT_STEPS"] == 10
    assert ns["ITEMS"] >= 16 and ns["WIDGET"]["steps"] == 10
    config = ns["LIVE_CONFIG"]
    shipped = json.loads((pretrained.locate("ddpm-landscapes") / "config.json").read_text())
    shipped = shipped.get("config", shipped)
    # The live run trains the network the course checkpoint has, from scratch.
    for key in ("image_size", "ch", "num_res_blocks", "groups"):
        assert getattr(config, key) == shipped[key] == getattr(ddpm.Config.fast(), key), key
    assert list(config.ch_mult) == list(shipped["ch_mult"])
    assert config.train.steps == ns["STEPS"] and config.train.seed == 0
    assert config.train.data == "synthetic-strokes"
    assert Path(config.train.out_dir).is_relative_to(tmp_path)  # nothing beside the notebook


def test_full_mode_edits_with_every_step_and_trains_the_paper_preset(monkeypatch, tmp_path):
    ns = _settings_namespace(monkeypatch, tmp_path, fast=False)
    assert ns["EDIT_STEPS"] is None and ns["ITEMS"] == 200 and ns["WIDGET"]["steps"] is None
    assert ns["STEPS"] is None and ns["SIZE"] == 256
    c = ns["LIVE_CONFIG"]
    # SDEdit's configs/church.yml with the DDPM paper's optimiser.
    assert (c.image_size, c.ch, tuple(c.ch_mult), c.num_res_blocks, tuple(c.attn_resolutions),
            c.dropout) == (256, 128, (1, 1, 2, 2, 4, 4), 2, (16,), 0.0)
    assert (c.num_timesteps, c.beta_start, c.beta_end) == (1000, 1e-4, 0.02)
    assert (c.lr, c.train.batch_size, c.grad_clip, c.ema_rate) == (2e-5, 64, 1.0, 0.999)
    assert c.train.resume and c.train.seed == 0 and c.train.data == "synthetic-strokes"
    assert not str(ns["RUN_ROOT"]).startswith(("/", ".."))  # inside the notebook's folder


# ----------------------------------------------------------------------------- running it
@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook executed in FAST mode, in lectures/ as a student would run it."""
    return harness.execute_fast(NOTEBOOK, tmp_path_factory.mktemp("lecture07-runs"))


@pytest.mark.slow
def test_notebook_runs_in_fast_mode_and_draws(executed):
    nb, results = executed
    assert results["mode"] == "fast" and results["size"] == 32
    # §1 forward, x0-hat, samples; §2 one guide; §3 the curve; §4 memorisation; §5 masked;
    # §6 the live run.
    assert harness.image_count(nb) >= 8
    assert not harness.error_outputs(nb)
    widgets = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widgets) == 1, "the noise-level slider"
    assert results["sd_result"] is None  # Stable Diffusion runs in FULL mode only


@pytest.mark.slow
def test_the_forward_process_is_eq_4(executed):
    _, results = executed
    check = results["forward_check"]
    # The linear schedule's products, computed here in float64.
    alphabar = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    for t, value in check["alphabar"].items():
        # Stored in float32: relative rounding 6e-8.
        assert value == pytest.approx(alphabar[int(t) - 1], rel=1e-6), t
    a = alphabar[check["t"] - 1]
    n = 4000  # the notebook's draws
    for x0, mean, std in zip(check["pixel"], check["mean"], check["std"]):
        # Four standard errors of a mean of n draws, and of their standard deviation
        # (sigma / sqrt(2n)): a correct Eq. 4 misses them once in ~10^4.
        assert abs(mean - math.sqrt(a) * x0) < 4 * math.sqrt(1 - a) / math.sqrt(n)
        assert abs(std - math.sqrt(1 - a)) < 4 * math.sqrt(1 - a) / math.sqrt(2 * n)


@pytest.mark.slow
def test_the_course_model_predicts_noise_better_than_nothing(executed):
    _, results = executed
    d = results["denoiser"]
    for level, mse, zero in zip(d["levels"], d["eps_mse"], d["zero_mse"]):
        # Predicting no noise errs E[eps^2] = 1 (the notebook's draws: within 0.02 of it).
        assert abs(zero - 1) < 0.02
        assert mse < zero, level
        if level >= 250:  # where x_t is mostly noise, a trained model finds nearly all of it
            assert mse < 0.1, level
    loss = results["live_losses"]
    # An untrained network predicts about zero (loss about E[eps^2] = 1); 40 steps of Adam more
    # than halve it (measured 1.0 -> 0.25), and 6000 steps reach far lower (measured 0.025).
    assert loss["loss"][0] > 0.7 and loss["loss"][-1] < 0.5 * loss["loss"][0]
    assert loss["checkpoint"] < 0.1 < loss["loss"][-1]


@pytest.mark.slow
def test_the_scores_reference_rows_are_the_datas(executed):
    _, results = executed
    rows = results["reference_rows"]
    assert rows["guides"]["faithfulness"] == pytest.approx(1.0, abs=1e-6)  # exp(0), by definition
    # Strokes pass the realism test 0.5 % of the time and photos 95 % (its calibration): of 16
    # photos, fewer than 12 pass with probability 0.7 %.
    assert rows["guides"]["realism"] <= 1 / 16 and rows["photos"]["realism"] >= 0.75
    assert results["photo_realism"]["realism"] >= 0.75
    # §1's text: the same noise without clipping x0_hat gives samples further from the photos
    # (measured 9.0 against 6.9 on these 8); by more than a real photo's mean distance (1.7)
    # would be a claim the 8 samples cannot carry, by 1 they do.
    assert (results["unclipped_sample_realism"]["realism_distance"]
            > results["sample_realism"]["realism_distance"] + 1)


@pytest.mark.slow
def test_the_tradeoff_loses_faithfulness_with_t0_and_repeats(executed):
    _, results = executed
    steps = results["edit_steps"]
    k1 = [r for r in results["tradeoff"] if r["repeats"] == 1]
    k3 = {r["t0"]: r for r in results["tradeoff"] if r["repeats"] == 3}
    assert [r["t0"] for r in k1] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    for r in results["tradeoff"]:  # 10 DDIM jumps per cycle (t0 >= 0.1 has >= 100 levels)
        assert r["network_calls"] == steps * r["repeats"]
    faith = [r["faithfulness"] for r in k1]
    # Less of the guide survives more noise: the ends differ by far more than the 16 guides'
    # sampling noise (measured 0.73 and 0.19), and each step down the grid may wobble by one
    # guide's worth (1/16) at most.
    assert faith[0] > faith[-1] + 0.3
    assert all(b < a + 1 / 16 for a, b in zip(faith, faith[1:]))
    by_t0 = {r["t0"]: r for r in k1}
    # Repeats re-noise the output: less faithful at the same t0 (measured 0.65 vs 0.73).
    assert k3[0.1]["faithfulness"] < by_t0[0.1]["faithfulness"]
    # The pure-noise end forgets the guide whichever K.
    assert max(by_t0[1.0]["faithfulness"], k3[1.0]["faithfulness"]) < 0.3


@pytest.mark.slow
def test_the_ideal_denoiser_copies_training_photos_and_the_model_does_not(executed):
    _, results = executed
    memo = results["memorisation"]
    # A copy: within 0.02 RMS of a training photo (8-bit rounding alone is 0.002). The test
    # photos are not in the training set, so they are far from every training photo.
    assert memo["test photos"]["copies"] == 0 and memo["test photos"]["rms"] > 0.1
    for t0 in ("0.3", "0.6"):
        ideal, learned = memo[f"ideal denoiser t0={t0}"], memo[f"course model t0={t0}"]
        assert ideal["copies"] == 1.0 and ideal["rms"] < 0.02
        assert learned["copies"] == 0.0 and learned["rms"] > 0.1
        # Its outputs are training photos, which pass like photos (>= 12 of 16, as above).
        assert ideal["realism"] >= 0.75
    ideal_rows = results["ideal_tradeoff"]
    assert min(r["realism"] for r in ideal_rows if r["t0"] >= 0.3) >= 0.75


@pytest.mark.slow
def test_masked_editing_keeps_the_kept_pixels(executed):
    _, results = executed
    m = results["masked"]
    assert m["kept_max_change"] == 0.0  # the guide's own pixels after the last step
    # Without a mask the kept quarters change too, and with one the painted quarter does
    # (each well above 8-bit rounding, 0.004).
    assert m["kept_l1_unmasked"] > 0.05 and m["region_changed"] > 0.05


@pytest.mark.slow
def test_the_img2img_step_table_is_diffusers_rule(executed):
    _, results = executed
    strengths = (0.01, 0.1, 0.3, 0.5, 0.75, 1.0)
    for n, runs in results["sd_steps"].items():
        # diffusers' get_timesteps: init_timestep = min(int(steps * strength), steps).
        assert runs == [min(int(int(n) * s), int(n)) for s in strengths]
    assert results["sd_steps"]["10"][0] == 0  # the pitfall the text warns about
