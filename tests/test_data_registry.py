"""coursekit.data.get_dataset: one entry point for synthetic, catalog, Hugging Face and folder data."""
import numpy as np
import pytest
import torch
from PIL import Image

from coursekit.data import SYNTHETIC, get_dataset, list_datasets
from coursekit.data.metrics import labels_from_palette, segmentation_scores


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_names_resolve_at_the_requested_size(name):
    item = get_dataset(name, split="test", size=32)[0]
    assert item["A"].shape == (3, 32, 32) and item["B"].shape == (3, 32, 32)
    assert item["A"].dtype == torch.float32
    assert -1.0 <= float(item["B"].min()) and float(item["B"].max()) <= 1.0


def test_a_folder_path_is_opened_with_the_requested_crop(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "train").mkdir()
    for i in range(2):  # aligned pix2pix files: A | B side by side
        Image.fromarray(rng.integers(0, 256, (40, 80, 3), dtype=np.uint8)).save(tmp_path / "train" / f"{i}.png")
    ds = get_dataset(tmp_path, split="train", size=32)
    assert len(ds) == 2 and ds[0]["A"].shape == (3, 32, 32)


def test_a_catalog_name_that_is_not_downloaded_says_how_to_get_it():
    with pytest.raises(FileNotFoundError, match=r"coursekit data download"):
        get_dataset("horse2zebra")


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"synthetic-zebras.*horse2zebra|horse2zebra.*synthetic-zebras"):
        get_dataset("horse2zebar-typo")


def test_hf_prefix_reads_a_saved_hugging_face_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)) for _ in range(4)]
    ds = datasets.Dataset.from_dict({"imageA": images[:2], "imageB": images[2:]},
                                    features=datasets.Features({"imageA": datasets.Image(),
                                                                "imageB": datasets.Image()}))
    ds.save_to_disk(str(tmp_path / "saved"))
    loaded = get_dataset(f"hf:{tmp_path / 'saved'}", split="train", size=16)
    assert len(loaded) == 2 and loaded[1]["B"].shape == (3, 16, 16)


def test_list_datasets_marks_synthetic_data_available_and_the_catalog_not():
    rows = {r["name"]: r for r in list_datasets()}
    assert rows["synthetic-facades"]["available"] is True
    assert rows["pix2pix/facades"]["available"] is False  # the test cache is empty


def test_segmentation_scores_on_a_hand_computed_confusion_matrix():
    # target [0 0 1 1], prediction [0 1 1 1]; class 2 absent from the target.
    # pixel acc 3/4; class acc mean(1/2, 2/2); IoU class0 1/(2+1-1), class1 2/(2+3-2).
    s = segmentation_scores(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), num_classes=3)
    assert s["pixel_accuracy"] == pytest.approx(0.75)
    assert s["class_accuracy"] == pytest.approx(0.75)
    assert s["class_iou"] == pytest.approx((0.5 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="same shape"):
        segmentation_scores(torch.zeros(3), torch.zeros(4), 2)


def test_labels_from_palette_tolerates_slightly_wrong_colours():
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 0, 255]], dtype=np.uint8)
    # Pixels close to red, blue and black (0.2 off in [-1, 1] units) map to those classes.
    img = torch.tensor([[0.8, -0.8, -1.0], [-0.8, -1.0, 0.8], [-1.0, -0.8, -0.8]])  # rows = pixels
    labels = labels_from_palette(img.T.reshape(1, 3, 1, 3), palette)
    assert labels.tolist() == [[[1, 2, 0]]]


def test_a_synthetic_name_with_a_style_opens_that_style_only():
    one = get_dataset("synthetic-landscapes:sunset-winter", split="test", size=32, length=4)
    assert {int(one[i]["style"]) for i in range(4)} == {5}  # LANDSCAPE_STYLES[5]
    mixed = get_dataset("synthetic-landscapes", split="test", size=32, length=12)
    assert len({int(mixed[i]["style"]) for i in range(12)}) > 1
    # The same layouts, redrawn: the name changes the style, not the items.
    assert torch.equal(one[0]["labels"], mixed[0]["labels"])
    assert int(get_dataset("synthetic-facades:2", split="test", size=32)[0]["style"]) == 2
    with pytest.raises(ValueError, match="synthetic-zebras has no styles"):
        get_dataset("synthetic-zebras:x")
    with pytest.raises(ValueError, match="unknown style 'noon'"):
        get_dataset("synthetic-landscapes:noon")
    with pytest.raises(ValueError, match="given twice"):
        get_dataset("synthetic-landscapes:day-summer", style=1)
