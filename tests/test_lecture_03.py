"""Lecture 3 (CUT / FastCUT): the committed notebook is clean, its setup cell behaves, and it runs.

The quick tests read the notebook file; the slow ones execute it top to bottom in FAST mode with
nbclient (under three minutes on two idle CPU cores) and check the numbers it prints in its cell
tagged ``results`` against facts that do not come from the code under test: the thesis's
receptive fields, a hand-computed InfoNCE value, and the orderings that the methods' structure
implies.
"""
from __future__ import annotations

import math
import re

import pytest

import lecture_harness as harness

NOTEBOOK = harness.LECTURES / "03_cut.ipynb"


def _read():
    return harness.read(NOTEBOOK)


# ----------------------------------------------------------------------------- the file
def test_exactly_one_results_cell():
    tagged = [c for c in _read().cells if "results" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"


def test_models_and_losses_come_from_coursekit():
    """The lecture teaches coursekit's CUT: it must not define its own networks or losses."""
    code = "\n".join(c.source for c in _read().cells if c.cell_type == "code")
    assert not re.search(r"^\s*class \w+", code, re.MULTILINE), (
        "the notebook defines a class; import it from coursekit instead")
    for name in ("patch_nce_loss", "training_cost_in_fresh_process", "evaluate_unpaired", "fit("):
        assert name in code, name


# ----------------------------------------------------------------------------- running it
@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook executed in FAST mode, in lectures/ as a student would run it."""
    return harness.execute_fast(NOTEBOOK, tmp_path_factory.mktemp("lecture03-runs"))


@pytest.mark.slow
def test_notebook_runs_in_fast_mode_and_draws(executed):
    nb, results = executed
    assert results["mode"] == "fast" and results["data"] == "synthetic-zebras"
    assert results["size"] == results["shared_settings"]["image_size"] <= 64
    images = harness.image_count(nb)
    # §1 data, §3 sampled patches, §4 outputs, §5 cost bars, §6 similarity maps, §7 G(y).
    assert images >= 6, f"expected the notebook's six figures, got {images} images"
    assert not harness.error_outputs(nb)


@pytest.mark.slow
def test_worked_infonce_example_matches_the_hand_computation(executed):
    _, results = executed
    infonce = results["infonce"]
    # The markdown's table: dot products 0.8, 0, -1 at tau = 0.5 -> p = 4.953 / 6.088.
    hand = -math.log(math.exp(1.6) / (math.exp(1.6) + 1.0 + math.exp(-2.0)))
    assert abs(hand - 0.2064) < 1e-4  # the value printed in the lecture's text
    # float32 softmax of three logits: agreement to 1e-5 (a wrong positive index or a missing
    # temperature changes the value by > 0.1).
    assert abs(infonce["patch_nce_loss"] - hand) < 1e-5
    by_tau = {float(k): v for k, v in infonce["tau"].items()}
    for tau, loss in by_tau.items():
        logits = [0.8 / tau, 0.0, -1.0 / tau]
        expected = -logits[0] + math.log(sum(math.exp(z) for z in logits))
        assert abs(loss - expected) < 1e-4 * max(1.0, expected), (tau, loss, expected)


@pytest.mark.slow
def test_receptive_fields_are_the_thesis_ones(executed):
    _, results = executed
    paper = {int(k): v for k, v in results["receptive_fields"]["paper"].items()}
    # Thesis §3.3.2: layers 0, 4, 8, 12, 16 see 1x1, 9x9, 15x15, 35x35 and 99x99 pixels.
    assert paper == {0: 1, 4: 9, 8: 15, 12: 35, 16: 99}
    fast = {int(k): v for k, v in results["receptive_fields"]["fast"].items()}
    # With fewer than 5 blocks the last PatchNCE layer is the last block: each block after the
    # first adds two 3x3 convolutions at a quarter of the resolution, 2 * 2 * 4 = 16 px.
    blocks = results["shared_settings"]["n_blocks"]
    last = results["fast_nce_layers"][-1]
    assert fast == {0: 1, 4: 9, 8: 15, 12: 35, last: 35 + 16 * (min(blocks, 5) - 1)}


@pytest.mark.slow
def test_quality_scores_are_valid_and_the_references_bracket_them(executed):
    _, results = executed
    quality = results["quality"]
    assert {"CycleGAN", "CUT", "FastCUT", "identity (output = input)", "true translation"} <= set(quality)
    for name, scores in quality.items():
        for key, value in scores.items():
            assert 0.0 <= value <= 1.0 and math.isfinite(value), (name, key, value)
    # The scorer itself: the correct translation is striped and in place, the input is not striped.
    assert quality["true translation"]["zebra_rate"] >= 0.9
    assert quality["true translation"]["silhouette_iou"] >= 0.8
    assert quality["identity (output = input)"]["zebra_rate"] <= 0.1


@pytest.mark.slow
def test_fastcut_does_the_least_work_per_iteration(executed):
    """FastCUT's step is CUT's without the identity batch (G and PatchNCE on x only, the same D),
    and CycleGAN's runs two generators on six batches: the FLOP ordering follows from that
    structure on any machine. (The seconds are not compared: at 32 px on a CPU they are within
    a few percent of each other and their order changes with the machine's load.)"""
    _, results = executed
    cost = results["cost"]
    assert cost["FastCUT"]["flops"] < cost["CUT"]["flops"], cost
    assert cost["FastCUT"]["flops"] < cost["CycleGAN"]["flops"], cost
    for name, c in cost.items():
        assert c["seconds"] > 0 and c["memory_bytes"] > 0, (name, c)
        assert c["flop_ratio"] == pytest.approx(c["flops"] / cost["CycleGAN"]["flops"])
    thesis = results["thesis_ratios"]
    assert abs(thesis["CUT"][0] - 0.60) < 0.005 and abs(thesis["FastCUT"][1] - 0.47) < 0.005


@pytest.mark.slow
def test_trained_encoder_finds_the_positive(executed):
    _, results = executed
    top1 = results["correspondence_top1"]
    chance = 1.0 / results["correspondence_locations"]
    # PatchNCE trains exactly this (N+1)-way classification; 10x chance is far below what a
    # trained encoder reaches and far above what a random one does.
    assert top1["CUT (trained)"] > 10 * chance, top1
    assert top1["FastCUT (trained)"] > 10 * chance, top1
    assert top1["CUT (trained)"] > top1["CUT, untrained G and H"], top1
