"""Lecture 2 (CycleGAN): the committed notebook is clean, its setup and FULL-mode settings behave,
and it runs.

The quick tests read the notebook file (and run its settings cell in FULL mode with the download
replaced by a recorder). The slow ones execute it top to bottom in FAST mode with nbclient and
check the numbers printed by its cell tagged ``results`` against facts that do not come from the
code under test: hand-computed entropies, the image pool's rule, the thesis's published tables,
the scorers' own reference rows, and the orderings that the losses' structure implies, with
thresholds checked against runs with seeds 0, 1 and 2 (see each test).
"""
from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import pytest

import lecture_harness as harness

NOTEBOOK = harness.LECTURES / "02_cyclegan.ipynb"


def _read():
    return harness.read(NOTEBOOK)


def _code():
    return harness.code(NOTEBOOK)


# ----------------------------------------------------------------------------- the file
def test_exactly_one_results_cell_and_one_settings_cell():
    cells = _read().cells
    for tag in ("results", "settings"):
        tagged = [c for c in cells if tag in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and tagged[0].cell_type == "code", tag


def test_no_placeholders_left_in_the_text():
    text = "\n".join(c.source for c in _read().cells if c.cell_type == "markdown")
    for placeholder in ("SEED_TABLE", "ABLATION_DISCUSSION", "STEGO_DISCUSSION", "TODO"):
        assert placeholder not in text, placeholder


def test_models_and_losses_come_from_coursekit():
    """The lecture teaches coursekit's CycleGAN: it must not define its own networks, losses or
    pool, and its ablation rows are the library's switches."""
    code = _code()
    assert not re.search(r"^\s*class \w+", code, re.MULTILINE), (
        "the notebook defines a class; import it from coursekit instead")
    for name in ("cyclegan.Config.ablation(", "cyclegan.build(", "ImagePool(", "fit(",
                 "evaluate_unpaired(", "score_zebras(", "CycleGAN.generator_losses"):
        assert name in code, name
    assert not re.search(r"def (cycle_loss|identity_loss|gan_loss|lsgan\w*)\(", code)
    rows = ast.literal_eval(re.search(r"ROWS = (\{.*?\})", code, re.DOTALL).group(1))
    assert list(rows.values()) == ["gan_alone", "gan_forward_cycle", "cyclegan"]


def _settings_namespace(monkeypatch, fast: bool):
    """Run the imports cell and the settings cell with FAST forced; in FULL mode the download
    and the real data set are replaced by recorders (nothing is fetched)."""
    import coursekit.data
    import coursekit.data.download

    calls = {"download": [], "get_dataset": []}
    if not fast:
        monkeypatch.setattr(coursekit.data.download, "download",
                            lambda name, *a, **k: calls["download"].append(name))
        monkeypatch.setattr(coursekit.data, "get_dataset",
                            lambda name, **k: calls["get_dataset"].append((name, k)) or [None] * 3)
    cells = [c for c in _read().cells if c.cell_type == "code"]
    settings = next(c for c in cells if "settings" in c.metadata.get("tags", []))
    namespace = {"FAST": fast, "SEED": 0, "__name__": "__main__"}
    exec(compile(cells[1].source, "imports-cell", "exec"), namespace)  # the imports
    exec(compile(settings.source, "settings-cell", "exec"), namespace)
    return namespace, calls


def test_full_mode_uses_the_paper_preset_on_real_horse2zebra(monkeypatch):
    from coursekit.models.cyclegan import ABLATIONS, Config

    ns, calls = _settings_namespace(monkeypatch, fast=False)
    assert ns["DATA_NAME"] == "horse2zebra" and calls["download"] == ["horse2zebra"]
    assert {(name, k["split"], k["size"]) for name, k in calls["get_dataset"]} == {
        ("horse2zebra", "train", 256), ("horse2zebra", "test", 256)}
    paper = Config.paper()
    for ablation, switches in ABLATIONS.items():
        config = ns["make_config"](ablation)
        # The paper's networks and schedule (thesis §3.2.4): 256 px, ResNet-9, 70x70 PatchGAN,
        # LSGAN, lr 2e-4, batch 1, 100 + 100 epochs, a 50-image pool; only the loss weights move.
        assert (config.image_size, config.n_blocks, config.ngf, config.d_layers, config.gan_mode,
                config.lr, config.pool_size) == (256, 9, 64, 3, "lsgan", 2e-4, 50)
        assert (config.train.epochs, config.train.epochs_decay, config.train.batch_size,
                config.train.steps) == (100, 100, 1, None)
        assert config.train.resume and config.train.seed == 0
        expected = {k: switches.get(k, getattr(paper, k)) for k in
                    ("lambda_gan", "lambda_cycle_A", "lambda_cycle_B", "lambda_identity")}
        assert {k: getattr(config, k) for k in expected} == expected, ablation
    assert not str(ns["RUN_ROOT"]).startswith(("/", ".."))  # inside the notebook's folder


def test_fast_mode_uses_the_fast_preset_and_a_temporary_folder(monkeypatch, tmp_path):
    import tempfile

    from coursekit.models.cyclegan import Config

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ns, _ = _settings_namespace(monkeypatch, fast=True)
    fast = Config.fast()
    config = ns["make_config"]("gan_alone")
    assert ns["DATA_NAME"] == "synthetic-zebras" and ns["SIZE"] == fast.image_size
    assert (config.ngf, config.n_blocks, config.d_layers, config.lr, config.train.batch_size) == (
        fast.ngf, fast.n_blocks, fast.d_layers, fast.lr, fast.train.batch_size)
    assert config.train.steps == ns["ITERATIONS"] and config.lambda_cycle_A == 0.0
    assert Path(config.train.out_dir).is_relative_to(tmp_path)  # nothing written beside the notebook


# ----------------------------------------------------------------------------- running it
@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook executed in FAST mode, in lectures/ as a student would run it. One torch
    thread: on a shared 2-core machine two threads competing with other jobs ran ~10x slower in
    our measurements, and one thread makes the run independent of the machine's core count."""
    return harness.execute_fast(NOTEBOOK, tmp_path_factory.mktemp("lecture02-runs"), threads=1)


@pytest.mark.slow
def test_notebook_runs_in_fast_mode_and_draws(executed):
    nb, results = executed
    assert results["mode"] == "fast" and results["data"] == "synthetic-zebras"
    assert results["size"] <= 64 and results["n_eval"] == 48
    images = harness.image_count(nb)
    # §1 data, §2 outputs + spread maps, §3 entropy curves, §4 pool, §5 bars + two grids,
    # §6 stego grid.
    assert images >= 9, f"expected the notebook's nine figures, got {images} images"
    assert not harness.error_outputs(nb)
    assert set(results["scores"]) == {"GAN alone", "GAN + forward cycle", "CycleGAN"}


@pytest.mark.slow
def test_conditional_entropies_match_the_hand_computation(executed):
    _, results = executed
    e = results["entropy"]
    # H(x|z) of the slides' tables: z independent of x -> 1 bit; z = x or a permutation -> 0;
    # delta = 0.9 -> the binary entropy h(0.9) = 0.469 bits.
    h09 = -(0.9 * math.log2(0.9) + 0.1 * math.log2(0.1))
    assert abs(h09 - 0.469) < 1e-3
    expected_h = {"delta = 1/2 (z ignores x)": 1.0, "delta = 0.9": h09, "diagonal": 0.0,
                  "anti-diagonal": 0.0}
    # The decoder p(x_k | z_k) = 0.9: its cross-entropy -E log2 p is -log2 0.9 on the diagonal,
    # -log2 0.1 on the anti-diagonal, and 0.9/0.1-weighted mixtures in between.
    expected_cycle = {"delta = 1/2 (z ignores x)": -(0.5 * math.log2(0.9) + 0.5 * math.log2(0.1)),
                      "delta = 0.9": -(0.9 * math.log2(0.9) + 0.1 * math.log2(0.1)),
                      "diagonal": -math.log2(0.9), "anti-diagonal": -math.log2(0.1)}
    for name in expected_h:  # float64 sums of four terms: 1e-9 is far below any formula error
        assert abs(e[name]["H"] - expected_h[name]) < 1e-9, name
        assert abs(e[name]["cycle"] - expected_cycle[name]) < 1e-9, name
        assert e[name]["cycle"] >= e[name]["H"] - 1e-12  # the bound itself


@pytest.mark.slow
def test_image_pool_follows_its_rule(executed):
    _, results = executed
    pool = results["pool"]
    # Until the pool is full every image passes straight through.
    assert pool["old_while_filling"] == 0.0
    # After that each image is swapped with probability 1/2: with 2 * (40 - 4) = 72 draws the
    # fraction of old images has a standard deviation of sqrt(0.25 / 72) = 0.059; 0.25..0.75 is
    # more than 4 standard deviations on each side.
    assert 0.25 <= pool["old_after_full"] <= 0.75
    assert pool["mean_age_after_full"] > 0


@pytest.mark.slow
def test_paper_tables_are_the_thesis_numbers(executed):
    _, results = executed
    # Thesis Tables 3.4 (labels->photo) and 3.5 (photo->labels), typed from the seed text.
    t34 = {"Cycle alone": (0.22, 0.07, 0.02), "GAN alone": (0.51, 0.11, 0.08),
           "GAN + forward cycle": (0.55, 0.18, 0.12), "GAN + backward cycle": (0.39, 0.14, 0.06),
           "CycleGAN": (0.52, 0.17, 0.11)}
    t35 = {"Cycle alone": (0.10, 0.05, 0.02), "GAN alone": (0.53, 0.11, 0.07),
           "GAN + forward cycle": (0.49, 0.11, 0.07), "GAN + backward cycle": (0.01, 0.06, 0.01),
           "CycleGAN": (0.58, 0.22, 0.16)}
    paper = results["paper"]
    assert {k: tuple(v["labels->photo"]) for k, v in paper.items()} == t34
    assert {k: tuple(v["photo->labels"]) for k, v in paper.items()} == t35


@pytest.mark.slow
def test_scores_are_valid_and_the_references_bracket_them(executed):
    _, results = executed
    for name, scores in results["scores"].items():
        for key, value in scores.items():
            assert math.isfinite(value) and value >= 0.0, (name, key, value)
            if key.endswith(("_rate", "_iou", "_preservation")):
                assert value <= 1.0, (name, key, value)
    ref = results["reference"]
    # The scorer itself: the true translation is striped and in place, the input is not striped.
    assert ref["true translation"]["AtoB_zebra_rate"] >= 0.9
    assert ref["true translation"]["AtoB_silhouette_iou"] >= 0.8
    assert ref["identity (output = input)"]["AtoB_zebra_rate"] <= 0.1
    # Same animals, same backgrounds: the true translation varies across inputs like them.
    assert 0.8 <= ref["true translation"]["spread_ratio"] <= 1.2


@pytest.mark.slow
def test_gan_alone_collapses_and_the_cycle_keeps_the_input(executed):
    """The robust findings of §2 and §5. Thresholds from runs with seeds 0, 1 and 2 at 300
    iterations on one thread (the notebook's seed table): GAN alone's spread ratio 0.11-0.42,
    silhouette IoU 0.06-0.22, background 0.03-0.04, forward cycle error 0.25-0.27; GAN + forward
    cycle's spread 0.78-0.87 and cycle error 0.13-0.14; CycleGAN's spread 0.88-0.93, IoU
    0.26-0.32, background 0.12-0.15, cycle error 0.13-0.14. Every threshold holds for all three
    seeds with a margin of at least 0.04 (0.2 or more for most, for the seed-0 run tested here),
    so that a retuned fast preset does not trip them by noise. GAN + forward cycle's IoU is
    not tested: it was below GAN alone's in seed 2 (0.18 vs 0.22). On another CPU (AMD EPYC,
    2026-12-07) the same seed-0 run ended elsewhere, as float rounding that differs between
    processors moves a 300-step GAN: spreads 0.53 / 0.88 / 1.02, IoU 0.22 / 0.23 / 0.34,
    background 0.065 / 0.108 / 0.129, cycle error 0.27 / 0.13 / 0.14. The collapse is
    therefore tested against the cycled runs, and every threshold holds on both machines."""
    _, results = executed
    s = results["scores"]
    gan, fwd, full = s["GAN alone"], s["GAN + forward cycle"], s["CycleGAN"]
    assert results["collapse"]["spread_ratio"] == pytest.approx(gan["spread_ratio"], abs=1e-6)
    # Collapse: GAN alone's outputs vary far less across inputs than the inputs do, and far
    # less than with either cycle (margins 0.07 and 0.09 in the run on the second CPU).
    assert gan["spread_ratio"] < 0.6
    assert gan["spread_ratio"] < min(fwd["spread_ratio"], full["spread_ratio"]) - 0.25
    assert fwd["spread_ratio"] > 0.65 and full["spread_ratio"] > 0.65
    # The input's animal and background survive only with the cycle.
    assert full["AtoB_silhouette_iou"] > gan["AtoB_silhouette_iou"] + 0.05
    assert full["AtoB_background_preservation"] > gan["AtoB_background_preservation"] + 0.04
    # A trained forward cycle reconstructs the horse; GAN alone's F(G(x)) does not.
    assert full["cycle_A"] < gan["cycle_A"] - 0.05 and fwd["cycle_A"] < gan["cycle_A"] - 0.05
    # GAN alone's IoU is close to what one fixed picture for every horse scores (0.12 in the
    # seed-0 run) and far below the true translation's.
    assert gan["AtoB_silhouette_iou"] < 0.5 * results["reference"]["true translation"]["AtoB_silhouette_iou"]


@pytest.mark.slow
def test_steganography_numbers_are_measured(executed):
    _, results = executed
    stego = results["stego"]
    assert stego["steps"] == results["iterations"]  # the default probes the CycleGAN of §5
    for key in ("visible", "returned", "returned_luminance_only", "returned_colour_only",
                "returned_background_only", "mean_abs_change_x", "mean_abs_change_G"):
        assert math.isfinite(stego[key]) and stego[key] >= 0.0, key
    assert abs(stego["background_luminance_shift"]) < 1.0  # a mean of differences in [-1, 1]
    # The repainting changes the coat a lot: tan against bay, black, grey... (mean over the body
    # of |x' - x| in [-1, 1] units; 0.43 in our runs).
    assert stego["mean_abs_change_x"] > 0.2
    damage = stego["damage"]
    assert damage["G(x) as it is"]["change"] == 0.0
    # Rounding to 8 bits moves a value by at most half a level, 1/255 of the [-1, 1] range.
    assert 0.0 < damage["rounded to 8 bits"]["change"] <= 1 / 255 + 1e-6
    assert damage["G(x) as it is"]["reconstruction"] == pytest.approx(
        results["scores"]["CycleGAN"]["cycle_A"], abs=1e-5)  # same 48 horses, same model
