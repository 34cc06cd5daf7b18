"""Label maps beside photos (coursekit.data.labels): ADE20K, Cityscapes and generic folders,
opened as datasets and trained on by SPADE through the command line.

Every folder here is written by the test: 40x30 images with known class ids. Expected values
are computed by hand (numpy indexing, PIL's own resize of the photo, the official colours
typed in), never with the code under test."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from coursekit.cli import main
from coursekit.data import get_dataset
from coursekit.data.folders import DataFolderError, SingleFolder, open_folder
from coursekit.data.labels import LabelFolders, colours_to_ids, indexed_palette

W, H = 40, 30


def _ids(seed: int, high: int) -> np.ndarray:
    """Random ids 0..high-1 per pixel: any interpolation but nearest would mix them."""
    return np.random.default_rng(seed).integers(0, high, (H, W)).astype(np.uint8)


def _photo(ids: np.ndarray) -> np.ndarray:
    """A photo whose every pixel is a function of its id (so label and photo can be matched
    pixel for pixel after a crop and a flip)."""
    ids = ids.astype(np.int64)
    return np.stack([(ids * 37) % 256, (ids * 91 + 13) % 256, (255 - ids) % 256],
                    -1).astype(np.uint8)


def _save(path, array, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)


def make_ade(root, n_train=3, n_val=2):
    """ADEChallengeData2016 inside root: ADE_{train,val}_*.jpg + .png, ids 0..150."""
    ade = root / "ADEChallengeData2016"
    for split, tag, n in (("training", "train", n_train), ("validation", "val", n_val)):
        for i in range(n):
            ids = _ids(100 * len(tag) + i, 151)
            name = f"ADE_{tag}_{i + 1:08d}"
            _save(ade / "annotations" / split / f"{name}.png", ids)
            _save(ade / "images" / split / f"{name}.jpg", _photo(ids), quality=95)
    return ade


def make_cityscapes(root, n_train=2, n_val=1):
    """leftImg8bit/ + gtFine/ with the colour, instance and polygon files beside labelIds."""
    for split, city, n in (("train", "aachen", n_train), ("val", "frankfurt", n_val)):
        for i in range(n):
            ids = _ids(7 + i + len(split), 34)
            ids[0, 0], ids[0, 1] = 7, 26  # road and car, whose official colours are checked
            stem = f"{city}_000000_{i:06d}"
            gt = root / "gtFine" / split / city
            _save(gt / f"{stem}_gtFine_labelIds.png", ids)
            _save(gt / f"{stem}_gtFine_color.png", _photo(ids))  # colours: must be ignored
            _save(gt / f"{stem}_gtFine_instanceIds.png", ids.astype(np.uint16) * 1000)
            (gt / f"{stem}_gtFine_polygons.json").write_text("{}")
            _save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", _photo(ids))
    return root


def make_generic(root, splits=(("train", 3, 7), ("test", 2, 10))):
    """labels/{split}/xN.png + images/{split}/xN.png; ids 0..high-1 per split."""
    for split, n, high in splits:
        for i in range(n):
            ids = _ids(1000 + 10 * high + i, high)
            ids[0, 0] = high - 1  # the largest id is there, so the scan's count is known
            _save(root / "labels" / split / f"x{i}.png", ids)
            _save(root / "images" / split / f"x{i}.png", _photo(ids))
    return root


@pytest.fixture
def ade(tmp_path):
    return make_ade(tmp_path / "ade")


@pytest.fixture
def city(tmp_path):
    return make_cityscapes(tmp_path / "city")


@pytest.fixture
def generic(tmp_path):
    return make_generic(tmp_path / "mine")


# ----------------------------------------------------------------------------- items
@pytest.mark.parametrize("layout", ["ade20k", "cityscapes", "generic"])
def test_items_have_labels_colours_photo_and_paths(tmp_path, layout):
    root = {"ade20k": lambda: make_ade(tmp_path / "a").parent,  # its parent folder works too
            "cityscapes": lambda: make_cityscapes(tmp_path / "c"),
            "generic": lambda: make_generic(tmp_path / "g")}[layout]()
    ds = get_dataset(root, split="train", size=32)
    assert isinstance(ds, LabelFolders) and ds.layout == layout and ds.pairing == "paired"
    assert len(ds) == {"ade20k": 3, "cityscapes": 2, "generic": 3}[layout]
    item = ds[0]
    assert set(item) == {"labels", "A", "B", "path_A", "path_B"}
    assert item["labels"].shape == (32, 32) and item["labels"].dtype == torch.int64
    for key in ("A", "B"):
        assert item[key].shape == (3, 32, 32) and item[key].dtype == torch.float32
        assert item[key].min() >= -1 and item[key].max() <= 1
    suffix = {"ade20k": ("ADE_train_00000001.png", "ADE_train_00000001.jpg"),
              "cityscapes": ("aachen_000000_000000_gtFine_labelIds.png",
                             "aachen_000000_000000_leftImg8bit.png"),
              "generic": ("x0.png", "x0.png")}[layout]
    assert item["path_A"].endswith(suffix[0]) and item["path_B"].endswith(suffix[1])
    # "test" reads ADE20K's and Cityscapes' validation sets.
    assert len(get_dataset(root, split="test", size=32)) == {"ade20k": 2, "cityscapes": 1,
                                                             "generic": 2}[layout]


@pytest.mark.parametrize("layout", ["ade20k", "cityscapes", "generic"])
def test_labels_are_resized_with_nearest_neighbour_and_photos_bicubic(tmp_path, layout):
    make = {"ade20k": make_ade, "cityscapes": make_cityscapes, "generic": make_generic}[layout]
    root = make(tmp_path / layout)
    ds = LabelFolders(root, "train", preprocess="resize_and_crop", load_size=20, crop_size=20,
                      flip=False)  # load == crop: the crop is the whole resized image
    item = ds[0]
    ids = np.asarray(Image.open(item["path_A"]))
    # Nearest neighbour samples the source pixel under each output pixel's centre:
    # floor((i + 0.5) * in / out); rows 30 -> 20, columns 40 -> 20.
    rows = np.floor((np.arange(20) + 0.5) * H / 20).astype(int)
    cols = np.floor((np.arange(20) + 0.5) * W / 20).astype(int)
    np.testing.assert_array_equal(item["labels"].numpy(), ids[rows][:, cols])
    # The photo keeps the usual bicubic filter (PIL's own resize, exact: same computation).
    photo = Image.open(item["path_B"]).convert("RGB").resize((20, 20), Image.Resampling.BICUBIC)
    expected = torch.from_numpy(np.asarray(photo).copy()).permute(2, 0, 1).float() / 127.5 - 1
    torch.testing.assert_close(item["B"], expected, rtol=0, atol=0)
    # "A" draws each id in the dataset's colour.
    colours = ds.palette[ids[rows][:, cols]]
    a = np.rint((item["A"].permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)
    np.testing.assert_array_equal(a, colours)


def test_cityscapes_draws_the_official_colours_and_ade20k_the_voc_colour_map(city, ade):
    ds = LabelFolders(city, "train", preprocess="none", flip=False)  # 40x30 -> 40x32 (x4)
    assert tuple(ds.palette[7]) == (128, 64, 128) and tuple(ds.palette[26]) == (0, 0, 142)
    assert tuple(ds.palette[21]) == (107, 142, 35)  # vegetation
    assert ds.class_names[7] == "road" and ds.class_names[33] == "bicycle"
    item = ds[0]
    assert item["labels"][0, 0] == 7 and item["labels"][0, 1] == 26
    torch.testing.assert_close(item["A"][:, 0, 0], torch.tensor([128, 64, 128]) / 127.5 - 1)
    # Black in the official table for ids 0..4, grey for 17 and 18: still one colour per id.
    assert len({tuple(c) for c in ds.palette.tolist()}) == 35
    assert np.abs(ds.palette[:5].astype(int)).max() <= 4  # 0..4 stay (near) black
    voc = LabelFolders(ade, "train").palette
    assert [tuple(c) for c in voc[:5]] == [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0),
                                           (0, 0, 128)]
    assert len({tuple(c) for c in voc.tolist()}) == 151


def test_a_turns_back_into_ids_exactly(city, ade):
    for root in (city, ade):
        ds = get_dataset(root, split="train", size=32)
        items = [ds[i] for i in range(len(ds))]
        a = torch.stack([it["A"] for it in items])
        labels = torch.stack([it["labels"] for it in items])
        assert torch.equal(ds.colours_to_labels(a), labels)
        with pytest.raises(ValueError, match="not in the"):
            ds.colours_to_labels(a + 0.1)  # off-palette colours


def test_label_and_photo_get_the_same_crop_and_flip(generic):
    ds = LabelFolders(generic, "train", preprocess="crop", crop_size=24, flip=True)
    ids = np.asarray(Image.open(ds.paths_A[0]))
    windows = {(x, y, f): (ids[y:y + 24, x:x + 24][:, ::-1] if f else ids[y:y + 24, x:x + 24])
               for x in range(W - 24 + 1) for y in range(H - 24 + 1) for f in (0, 1)}
    seen_flips = set()
    for _ in range(30):
        item = ds[0]
        labels = item["labels"].numpy()
        # The photo is a pixelwise function of the ids: same crop and flip <=> B == f(labels).
        expected = torch.from_numpy(_photo(labels)).permute(2, 0, 1).float() / 127.5 - 1
        torch.testing.assert_close(item["B"], expected, rtol=0, atol=0)
        matches = [key for key, win in windows.items() if np.array_equal(win, labels)]
        assert len(matches) == 1  # random ids: exactly one window (and flip) of the file
        seen_flips.add(matches[0][2])
    assert seen_flips == {0, 1}  # both flipped and unflipped draws happened


# ----------------------------------------------------------------------------- classes
def test_class_counts(ade, city, generic, tmp_path):
    assert LabelFolders(ade, "train").num_classes == 151
    assert LabelFolders(city, "val").num_classes == 35
    # Generic: 1 + the largest id over every split (train holds 0..6, test 0..9).
    train, test = LabelFolders(generic, "train"), LabelFolders(generic, "test")
    assert train.num_classes == test.num_classes == 10
    assert "largest id (9)" in train.num_classes_source
    assert LabelFolders(generic, "train", num_classes=40).num_classes == 40
    (generic / "classes.txt").write_text("\n".join(f"class{i}" for i in range(12)) + "\n\n")
    listed = LabelFolders(generic, "train")
    assert listed.num_classes == 12 and listed.class_names[3] == "class3"
    assert len(listed.palette) == 12
    with pytest.raises(ValueError, match="151 classes"):
        LabelFolders(ade, "train", num_classes=150)


def test_open_folder_picks_the_label_layouts_and_keeps_the_others(generic, tmp_path):
    assert type(open_folder(generic, "train")) is LabelFolders
    flat = tmp_path / "flat"  # images/ without labels/: still a single folder of images
    _save(flat / "images" / "a.png", _photo(_ids(0, 5)))
    assert type(open_folder(flat)) is SingleFolder
    assert open_folder(generic, "test", num_classes=11).num_classes == 11


# ----------------------------------------------------------------------------- errors
def test_a_label_map_without_its_photo_is_named(ade):
    for i in (1, 2):
        (ade / "images" / "training" / f"ADE_train_{i:08d}.jpg").unlink()
    with pytest.raises(DataFolderError) as err:
        LabelFolders(ade, "train")
    message = str(err.value)
    assert "2 label map(s)" in message and "have no photo" in message
    assert "ADE_train_00000001.png" in message and "ADE_train_00000002.png" in message


def test_a_photo_without_its_label_map_is_named(city):
    stem = "aachen_000000_000001"
    (city / "gtFine" / "train" / "aachen" / f"{stem}_gtFine_labelIds.png").unlink()
    with pytest.raises(DataFolderError, match=f"no label map.*{stem}_leftImg8bit.png"):
        LabelFolders(city, "train")


def test_a_label_map_in_rgb_colours_says_how_to_convert(generic):
    path = generic / "labels" / "train" / "x1.png"
    _save(path, _photo(np.asarray(Image.open(path))))  # colours instead of ids
    ds = LabelFolders(generic, "train", num_classes=10)
    with pytest.raises(DataFolderError) as err:
        ds[1]
    message = str(err.value)
    assert "x1.png" in message and "colours" in message and "colours_to_ids" in message
    # Grey saved as RGB (three equal channels) is a map of ids.
    ids = _ids(5, 10)
    _save(path, np.repeat(ids[..., None], 3, axis=2))
    assert ds[1]["labels"].shape == (256, 256)


def test_colours_to_ids_converts_a_colour_map():
    palette = indexed_palette(6)
    ids = _ids(3, 6)
    np.testing.assert_array_equal(colours_to_ids(palette[ids], palette), ids)
    with pytest.raises(ValueError, match="not in the palette"):
        colours_to_ids(np.full((2, 2, 3), 7, np.uint8), palette)


def test_ids_at_or_above_num_classes_are_refused(ade, generic):
    path = ade / "annotations" / "training" / "ADE_train_00000002.png"
    ids = _ids(0, 151)
    ids[5, 5] = 151
    _save(path, ids)
    ds = LabelFolders(ade, "train")
    ds[0]  # the other files are fine
    with pytest.raises(DataFolderError, match=r"ADE_train_00000002.png holds class id\(s\) 151, "
                                              r"but this dataset has num_classes=151"):
        ds[1]
    (generic / "classes.txt").write_text("a\nb\nc\nd\ne\n")  # 5 classes, the files hold 0..6
    with pytest.raises(DataFolderError, match="classes.txt"):
        LabelFolders(generic, "train")[0]


def test_empty_and_missing_splits(ade, city, generic):
    for f in (ade / "annotations" / "validation").iterdir():
        f.unlink()
    with pytest.raises(DataFolderError, match="Split 'test' is empty"):
        LabelFolders(ade, "test")
    with pytest.raises(FileNotFoundError, match=r"no split 'val'.*Its splits: test, train"):
        LabelFolders(generic, "val")
    with pytest.raises(FileNotFoundError, match="no split 'extra'"):
        LabelFolders(ade, "extra")
    for f in (city / "gtFine" / "val" / "frankfurt").glob("*_labelIds.png"):
        f.unlink()  # only the colour maps are left: not class ids
    with pytest.raises(DataFolderError, match=r"no \*_gtFine_labelIds.png.*_color.png"):
        LabelFolders(city, "val")


def test_a_jpeg_label_map_is_refused(generic):
    src = generic / "labels" / "train" / "x0.png"
    Image.open(src).save(src.with_suffix(".jpg"))
    src.unlink()
    with pytest.raises(DataFolderError, match="x0.jpg.*PNG"):
        LabelFolders(generic, "train")


# ----------------------------------------------------------------------------- SPADE
def test_spade_trains_and_scores_on_ade20k_from_the_command_line(ade, city, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "spade", "--data", str(ade), "--steps", "2", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "label_channels = 151" in out
    checkpoint = torch.load(run / "latest.pt", map_location="cpu", weights_only=False)
    assert checkpoint["method_config"]["label_channels"] == 151
    assert checkpoint["progress"]["step"] == 2

    # Scored on the validation set it was not trained on (the run recorded its data): the
    # label colours of "A" go back to the 151 ids (a landscape-palette reading would raise).
    assert main(["eval", "spade", "--checkpoint", str(run / "latest.pt"), "--json"]) == 0
    captured = capsys.readouterr()
    scores = json.loads(captured.out)
    assert "2 items" in captured.err and np.isfinite(scores["l1"]) and 0 < scores["l1"] < 2

    # Data with other classes: a clear error, at eval and on resume.
    assert main(["eval", "spade", "--checkpoint", str(run / "latest.pt"),
                 "--data", str(city)]) == 1
    err = capsys.readouterr().err
    assert "151 classes" in err and "has 35" in err
    assert main(["train", "spade", "--data", str(city), "--out", str(run), "--resume",
                 "--steps", "3"]) == 1
    assert "151 classes" in capsys.readouterr().err


def test_spade_refuses_colours_it_cannot_read():
    # Colours are read through the landscape palette: a 12-class model must get its ids.
    from coursekit.models.spade import Config, SPADEModel

    model = SPADEModel(Config.fast(label_channels=12))
    ids = torch.randint(0, 12, (1, 64, 64))
    assert model.translate(ids).shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="this model reads 12 classes: give it class indices"):
        model.translate(torch.zeros(1, 3, 64, 64))
