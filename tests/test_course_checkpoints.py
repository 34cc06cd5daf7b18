"""The shipped course checkpoints are what their cards say: size, hash and scores.

Each card records the scores of the stored networks on the first ``check.items`` test items
(scripts/train_course_checkpoints.py computes them from the shipped float16 weights, loaded
back as a user loads them). Scoring is deterministic on a CPU; the tolerance, 0.005 on each
score (rates and IoUs in [0, 1]), allows for summation order on other CPUs and thread counts,
far below what a different or damaged model changes."""
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
