"""Lecture 6 (MUNIT and AdaIN): the committed notebook is clean, teaches coursekit's own code,
and runs.

The quick tests read the notebook file and run its settings cell in both modes; the slow ones
execute it top to bottom in FAST mode with nbclient and check the numbers its cell tagged
``results`` prints against facts that do not come from the code under test: AdaIN's definition
(the output has the style's statistics and forgets the input's), the seeds' claim that the
contrast of a stylized image does not depend on the contrast of the content image (instance
norm in the content encoder), the card the shipped checkpoint was written with, and what the
data's own scorer says of images that are not translations (the input, the reference, the true
render).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import lecture_harness as harness

NOTEBOOK = harness.LECTURES / "06_munit.ipynb"


def _read():
    return harness.read(NOTEBOOK)


def _markdown():
    return "\n".join(c.source for c in _read().cells if c.cell_type == "markdown")


# ----------------------------------------------------------------------------- the file
def test_the_builder_writes_the_committed_notebook(tmp_path):
    """scripts/build_lecture_06.py and lectures/06_munit.ipynb say the same."""
    harness.builder_writes(NOTEBOOK, tmp_path)


def test_exactly_one_results_cell_and_one_settings_cell():
    for tag in ("results", "settings"):
        tagged = [c for c in _read().cells if tag in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and tagged[0].cell_type == "code", tag


def test_the_benchmark_table_cell_waits_for_its_rows():
    """One markdown cell, tagged ``benchmark-table``, holds the table of
    benchmarks/munit_tables.py (the comparison with CycleGAN and the ablations)."""
    (cell,) = [c for c in _read().cells if "benchmark-table" in c.metadata.get("tags", [])]
    assert cell.cell_type == "markdown"
    assert "benchmarks/munit_tables.py" in cell.source
    assert re.search(r"^\| run \|.*\|$", cell.source, re.MULTILINE), "the table's header"
    assert "TODO" not in cell.source
    rows = re.findall(r"^\| (MUNIT|w/o|CycleGAN)[^|]*\|( [0-9.]+ \|){6}", cell.source, re.MULTILINE)
    assert len(rows) == 6, "MUNIT, its four ablations and CycleGAN, each with its numbers"


def test_models_losses_and_scores_come_from_coursekit():
    """The lecture teaches coursekit's MUNIT: it defines no network, loss or score."""
    code = harness.code(NOTEBOOK)
    assert not re.search(r"^\s*class \w+", code, re.MULTILINE), (
        "the notebook defines a class; import it from coursekit instead")
    for name in ("inspect.getsource(adain)", "inspect.getsource(channel_stats)",
                 "inspect.getsource(style_recon_loss)", "inspect.getsource(MUNIT.generator_losses)",
                 "inspect.getsource(Decoder.adain_params)",
                 "inspect.getsource(AdaINResBlock.forward)", "inspect.getsource(Decoder.forward)",
                 "inspect.getsource(StyleEncoder.__init__)", 'pretrained.load("munit-seasons")',
                 ".evaluate(", ".translate_like(", ".guided_item(", ".score_guided(",
                 "ABLATIONS", "training_cost_in_fresh_process(", "SeasonExplorer(", "fit("):
        assert name in code, name


def test_the_text_says_which_results_are_trained_and_which_live():
    text = _markdown()
    assert "course checkpoint" in text and "live run" in text
    assert not re.search(r"WHAT_TO_SEE|TODO|XXX", text), "a placeholder was left in the text"
    # The seeds' words, and the thesis's Table 3.6 row quoted where the text compares with it.
    assert "contrast of a stylized image" in text
    assert "shared, domain-invariant" in text and "domain-specific" in text
    for number in ("0.39", "3.84", "0.98", "0.80"):
        assert number in text, number


# ----------------------------------------------------------------------------- the two modes
def _settings_namespace(monkeypatch, tmp_path, fast: bool):
    return harness.settings_namespace(NOTEBOOK, monkeypatch, tmp_path, fast)


def test_fast_mode_trains_a_short_run_in_a_temporary_folder(monkeypatch, tmp_path):
    from coursekit.models import munit

    ns = _settings_namespace(monkeypatch, tmp_path, fast=True)
    assert ns["SIZE"] == 32 and ns["STEPS"] <= 300 and ns["DATA"] == "synthetic-seasons"
    config, fast = ns["LIVE_CONFIG"], munit.Config.fast()
    # The checkpoint's networks (the fast preset), for STEPS iterations.
    assert (config.image_size, config.dim, config.n_res, config.style_dim, config.mlp_dim,
            config.d_scales) == (fast.image_size, fast.dim, fast.n_res, fast.style_dim,
                                 fast.mlp_dim, fast.d_scales)
    assert config.train.steps == ns["STEPS"] and config.train.seed == 0
    assert config.train.data == "synthetic-seasons"
    assert Path(config.train.out_dir).is_relative_to(tmp_path)  # nothing beside the notebook
    assert ns["COST_SIZE"] == 64  # the smallest size MUNIT's 3-scale discriminator takes


def test_full_mode_trains_the_paper_preset_resumably(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSEKIT_DATA", str(tmp_path / "no-data"))
    ns = _settings_namespace(monkeypatch, tmp_path, fast=False)
    assert ns["SIZE"] == 256 and ns["STEPS"] is None and ns["COST_SIZE"] == 256
    c = ns["LIVE_CONFIG"]
    # The reference's summer2winter_yosemite256 settings.
    assert (c.image_size, c.dim, c.n_downsample, c.n_res, c.style_dim, c.mlp_dim, c.ndf,
            c.d_layers, c.d_scales, c.gan_mode) == (256, 64, 2, 4, 8, 256, 64, 4, 3, "lsgan")
    assert (c.lambda_gan, c.lambda_x, c.lambda_c, c.lambda_s, c.lambda_cycle) == (1, 10, 1, 1, 10)
    assert (c.lr, c.betas, c.weight_decay, c.lr_policy, c.lr_step, c.lr_gamma) == (
        1e-4, (0.5, 0.999), 1e-4, "step", 100_000, 0.5)
    assert (c.train.batch_size, c.train.steps) == (1, 1_000_000)
    assert c.train.resume and c.train.seed == 0
    assert not str(ns["RUN_ROOT"]).startswith(("/", ".."))  # inside the notebook's folder
    # Not downloaded: the synthetic seasons at 256 px.
    assert ns["DATA"] == "synthetic-seasons" == c.train.data


def test_full_mode_uses_summer2winter_yosemite_when_it_is_downloaded(monkeypatch, tmp_path):
    from PIL import Image

    folder = tmp_path / "data" / "cyclegan" / "summer2winter_yosemite"
    for split in ("trainA", "trainB", "testA", "testB"):
        (folder / split).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(folder / split / "x.jpg")
    monkeypatch.setenv("COURSEKIT_DATA", str(tmp_path / "data"))
    ns = _settings_namespace(monkeypatch, tmp_path, fast=False)
    assert ns["DATA"] == "summer2winter_yosemite" == ns["LIVE_CONFIG"].train.data
    code = harness.code(NOTEBOOK)
    assert 'get_dataset(DATA, split="train", size=SIZE)' in code and "fit(LIVE, TRAIN" in code


# ----------------------------------------------------------------------------- running it
@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook executed in FAST mode, in lectures/ as a student would run it."""
    return harness.execute_fast(NOTEBOOK, tmp_path_factory.mktemp("lecture06-runs"))


@pytest.mark.slow
def test_notebook_runs_in_fast_mode_and_draws(executed):
    nb, results = executed
    assert results["mode"] == "fast" and results["size"] == 32
    # §1 content/style, losses, contrast; §2 random styles, guided; §3 swap, statistics;
    # §4 losses, samples; §5 cost.
    assert harness.image_count(nb) >= 10
    assert not harness.error_outputs(nb)
    widgets = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widgets) == 1, "the season explorer"


@pytest.mark.slow
def test_adain_and_instance_norm_claims_hold_in_the_notebook(executed):
    _, results = executed
    check = results["adain_check"]
    # AdaIN's output has the given mean and std (std: eps inside the square root).
    assert check["mean_gap"] < 1e-5 and check["std_gap"] < 1e-4
    assert check["affine_gap"] < 1e-3  # AdaIN(a h + b) = AdaIN(h), a > 0
    contrast = results["contrast"]
    # The seeds' claim, on MUNIT: a third of the contrast in, the same contrast out.
    assert contrast["input_std"][1] < 0.4 * contrast["input_std"][0]
    assert abs(contrast["output_std"][0] - contrast["output_std"][1]) < 1e-3
    assert contrast["content_gap"] < 1e-3 and contrast["output_gap"] < 1e-3
    assert contrast["style_gap"] > 0.05  # the style encoder, without normalisation, sees it
    # Decoder.forward is decode_with(adain_params); AdaIN's output statistics are its params.
    assert results["decode_gap"] < 1e-6
    stats = results["adain_stats"]
    assert stats["input_same"] == 0.0  # before AdaIN the style plays no part
    assert stats["mean_gap"] < 1e-4 and stats["std_gap"] < 1e-2


@pytest.mark.slow
def test_the_checkpoint_reproduces_its_card_and_the_brackets_are_the_datas(executed):
    _, results = executed
    # The shipped weights give the card's check. Float rounding that differs with the thread
    # count may move a pixel across a class boundary: 1 / (50 x 32 x 32) = 2e-5 of pixel
    # accuracy each (measured: one pixel at one thread); a whole image's verdict is 0.02.
    assert results["recheck_gap"] < 1e-4
    for direction, rows in results["brackets"].items():
        truth, itself, reference = rows["true render"], rows["input itself"], rows["reference itself"]
        assert truth["l1"] == 0.0 and truth["season_rate"] == 1.0, direction
        assert truth["time_follows_reference"] == 1.0
        assert itself["season_rate"] == 0.0 and itself["time_kept"] == 1.0
        assert reference["time_follows_reference"] == 1.0
        # Another scene: its content is far from the input's (the faithfulness bar is 0.8).
        assert reference["pixel_accuracy"] < 0.7 < truth["pixel_accuracy"]


@pytest.mark.slow
def test_the_style_code_carries_the_time_of_day(executed):
    """Multimodality on the course checkpoint: a random code decides the time of day (the same
    for every input), random codes give all three, and a reference's is followed."""
    _, results = executed
    for direction, rows in results["random_times"].items():
        columns = list(zip(*rows))
        agree = sum(len(set(c)) == 1 for c in columns)
        assert agree >= len(columns) - 1, (direction, rows)  # measured: all 5 columns
        assert len({t for c in columns for t in c}) >= 2, (direction, rows)
        assert min(results["time_shares"][direction]) > 0.1, results["time_shares"]
    card = results["checkpoint_scores"]  # the first 50 test items, as the card's check
    for direction in ("AtoB", "BtoA"):
        # Chance is 1/3 for following the reference; a one-to-one translator keeps the time.
        assert card[f"{direction}_guided_time_follows_reference"] >= 0.9  # measured 1.000
        assert card[f"{direction}_time_kept"] < 0.5  # measured 0.36-0.37
        assert card[f"{direction}_guided_season_rate"] >= 0.9
        reference = results["brackets"][direction]["reference itself"]
        assert card[f"{direction}_guided_l1"] < reference["l1"]  # nearer the truth
    swap = results["swap_times"]
    assert (swap["all day"], swap["all night"]) == ("day", "night")
    # The style encoders' codes of real photos lie inside the prior's shell (measured 1.7
    # against 2.7).
    norms = results["code_norms"]
    assert max(norms["A"], norms["B"]) < norms["prior"]


@pytest.mark.slow
def test_the_live_run_starts_to_learn_and_the_cost_counts_munits_passes(executed):
    _, results = executed
    first, last = results["live_losses"]["first"], results["live_losses"]["last"]
    for key in ("recon_x_A", "recon_x_B", "cycle_A", "cycle_B", "recon_c_A", "recon_c_B"):
        assert last[key] < 0.5 * first[key], key  # measured: a quarter or less
    live = results["live_scores"]
    assert live["AtoB_guided_time_follows_reference"] >= 0.8  # measured 1.000 at 300 steps
    cost = results["cost"]
    # More encoder and decoder passes per iteration than CycleGAN's generators make: more
    # work, whatever the image size (measured 1.48x at 64 px).
    assert 1.2 < cost["MUNIT"]["flop_ratio"] < 2.0
    assert results["notebook_seconds"] < 600
