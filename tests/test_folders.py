"""Folder datasets and the pix2pix / CycleGAN preprocessing, on small generated folders."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image

from coursekit.data.folders import (
    AlignedFolder,
    CorruptImageError,
    DataFolderError,
    PairedFolders,
    SingleFolder,
    UnalignedFolders,
    list_images,
    load_rgb,
    open_folder,
)
from coursekit.data.transforms import PREPROCESS_MODES, PairTransform


def rand_array(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def save(path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def expected(arr: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> the contract's (3, H, W) float in [-1, 1], computed independently."""
    return torch.from_numpy(arr.astype(np.float32)).permute(2, 0, 1) / 127.5 - 1.0


def make_aligned(root, split="train", n=3, h=16, w=16, same=False):
    """``n`` A|B PNGs; returns {file name: (A array, B array)}."""
    pairs = {}
    for i in range(n):
        a = rand_array(h, w, seed=i)
        b = a.copy() if same else rand_array(h, w, seed=100 + i)
        save(root / split / f"{i}.png", np.concatenate([a, b], axis=1))
        pairs[f"{i}.png"] = (a, b)
    return pairs


def make_unaligned(root, split="train", n_a=3, n_b=7, size=8):
    for side, n in (("A", n_a), ("B", n_b)):
        for i in range(n):
            save(root / f"{split}{side}" / f"{side.lower()}{i}.png", rand_array(size, size, seed=i))


# ----------------------------------------------------------------------------- loaders
def test_aligned_folder_splits_each_image_into_a_and_b(tmp_path):
    pairs = make_aligned(tmp_path)
    ds = AlignedFolder(tmp_path, "train", preprocess="none", flip=False)
    assert len(ds) == 3
    item = ds[1]
    a, b = pairs["1.png"]
    assert torch.equal(item["A"], expected(a))
    assert torch.equal(item["B"], expected(b))
    assert item["path_A"] == item["path_B"] == str(tmp_path / "train" / "1.png")
    assert item["A"].dtype == torch.float32


def test_images_are_found_recursively_sorted_and_filtered(tmp_path):
    for rel in ("b.png", "a.JPG", "sub/c.webp", "sub/deeper/d.bmp", "e.tif"):
        save(tmp_path / rel, rand_array(4, 4, seed=0))  # PIL picks the format from the suffix
    (tmp_path / "notes.txt").write_text("not an image")
    save(tmp_path / ".hidden.png", rand_array(4, 4, seed=0))
    save(tmp_path / "__MACOSX" / "x.png", rand_array(4, 4, seed=0))
    names = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert names == ["a.JPG", "b.png", "e.tif", "sub/c.webp", "sub/deeper/d.bmp"]


def test_paired_folders_match_by_name_regardless_of_extension(tmp_path):
    for i in range(3):
        save(tmp_path / "A" / f"{i}.png", rand_array(8, 8, seed=i))
        save(tmp_path / "B" / f"{i}.bmp", rand_array(8, 8, seed=10 + i))
    ds = PairedFolders(tmp_path / "A", tmp_path / "B", preprocess="none", flip=False)
    assert len(ds) == 3
    item = ds[2]
    assert item["path_A"].endswith("A/2.png") and item["path_B"].endswith("B/2.bmp")
    assert torch.equal(item["B"], expected(rand_array(8, 8, seed=12)))


def test_paired_folders_list_unmatched_files(tmp_path):
    for name in ("1", "2", "3"):
        save(tmp_path / "A" / f"{name}.png", rand_array(4, 4, 0))
    for name in ("1", "4"):
        save(tmp_path / "B" / f"{name}.png", rand_array(4, 4, 0))
    with pytest.raises(DataFolderError) as err:
        PairedFolders(tmp_path / "A", tmp_path / "B")
    message = str(err.value)
    assert f"2 file(s) in {tmp_path / 'A'} have no partner" in message
    assert "2.png, 3.png" in message
    assert f"1 file(s) in {tmp_path / 'B'} have no partner" in message and "4.png" in message


def test_unaligned_pairing_is_reproducible_and_serial_is_modular(tmp_path):
    make_unaligned(tmp_path, n_a=3, n_b=7)
    ds = UnalignedFolders(tmp_path, "train", preprocess="none")
    assert len(ds) == 7  # the larger domain
    assert [ds[i]["path_A"].rsplit("/", 1)[1] for i in range(4)] == ["a0.png", "a1.png",
                                                                      "a2.png", "a0.png"]
    # Training: a fresh B at every access, from torch's global generator (so the training
    # loop's RNG checkpoint makes resume exact), as the reference does.
    torch.manual_seed(5)
    first = [ds.b_index(3) for _ in range(20)]
    assert len(set(first)) > 1  # 20 draws from 7 images are not all equal unless B is fixed
    torch.manual_seed(5)
    assert [ds.b_index(3) for _ in range(20)] == first
    # Test split: a pure function of (seed, index), not tied to any global RNG.
    make_unaligned(tmp_path, n_a=3, n_b=7, split="test")
    test = UnalignedFolders(tmp_path, "test", preprocess="none")
    picks = [test.b_index(i) for i in range(7)]
    torch.manual_seed(99), np.random.seed(99), random.seed(99)
    assert [UnalignedFolders(tmp_path, "test").b_index(i) for i in range(7)] == picks
    assert len(set(picks)) > 1  # random-looking, not a constant
    other_seed = [UnalignedFolders(tmp_path, "test", seed=1).b_index(i) for i in range(7)]
    assert other_seed != picks
    serial = UnalignedFolders(tmp_path, "train", serial=True, preprocess="none")
    assert [serial[i]["path_B"].rsplit("/", 1)[1] for i in (0, 6)] == ["b0.png", "b6.png"]


def test_single_folder_has_only_a(tmp_path):
    save(tmp_path / "x.png", rand_array(8, 8, seed=3))
    item = SingleFolder(tmp_path, preprocess="none")[0]
    assert set(item) == {"A", "path_A"}
    assert torch.equal(item["A"], expected(rand_array(8, 8, seed=3)))


def test_index_out_of_range_raises_index_error(tmp_path):
    make_aligned(tmp_path, n=2)
    ds = AlignedFolder(tmp_path, "train", preprocess="none")
    assert ds[-1]["path_A"].endswith("1.png")
    with pytest.raises(IndexError):
        ds[2]
    assert len(list(iter(ds))) == 2  # plain iteration stops at IndexError


# ----------------------------------------------------------------------------- open_folder
def test_open_folder_detects_each_layout(tmp_path):
    make_aligned(tmp_path / "p2p")
    make_unaligned(tmp_path / "cg")
    for side in ("A", "B"):
        save(tmp_path / "ab" / side / "train" / "1.png", rand_array(8, 8, 0))
        save(tmp_path / "flat" / side / "1.png", rand_array(8, 8, 0))
    save(tmp_path / "single" / "1.png", rand_array(8, 8, 0))

    assert type(open_folder(tmp_path / "p2p")) is AlignedFolder
    assert type(open_folder(tmp_path / "cg", seed=3)) is UnalignedFolders
    assert type(open_folder(tmp_path / "ab")) is PairedFolders
    assert type(open_folder(tmp_path / "flat")) is PairedFolders
    assert type(open_folder(tmp_path / "single", seed=3)) is SingleFolder


def test_open_folder_names_available_splits_and_accepted_layouts(tmp_path):
    make_aligned(tmp_path / "p2p", split="train")
    make_aligned(tmp_path / "p2p", split="val")
    with pytest.raises(FileNotFoundError,
                       match=r"no split 'test'; it has the split\(s\) train, val"):
        open_folder(tmp_path / "p2p", split="test")

    (tmp_path / "odd" / "stuff").mkdir(parents=True)
    with pytest.raises(DataFolderError) as err:
        open_folder(tmp_path / "odd")
    assert "contains the folders stuff/" in str(err.value)
    assert "Accepted layouts" in str(err.value) and "ROOT/trainA/" in str(err.value)

    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_folder(tmp_path / "nowhere")
    with pytest.raises(TypeError, match="unexpected argument.*lod_size"):
        open_folder(tmp_path / "p2p", lod_size=10)


# ----------------------------------------------------------------------------- bad input
def test_empty_and_missing_folders_are_named(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(DataFolderError, match=f"No images in {tmp_path / 'train'}"):
        AlignedFolder(tmp_path, "train")
    with pytest.raises(FileNotFoundError,
                       match=r"No split folder .*val.*contains the folders train/"):
        AlignedFolder(tmp_path, "val")
    (tmp_path / "trainA").mkdir()
    with pytest.raises(FileNotFoundError, match=r"No folder .*trainB"):
        UnalignedFolders(tmp_path, "train")


def test_aligned_image_with_odd_width_is_refused(tmp_path):
    save(tmp_path / "train" / "bad.png", rand_array(16, 33, 0))
    with pytest.raises(DataFolderError, match=r"bad\.png is 33x16 px.*width must be even"):
        AlignedFolder(tmp_path, "train")


def test_square_images_are_not_aligned_pairs(tmp_path):
    # 64x64 would split into two 32x64 halves and be stretched to squares without a word.
    save(tmp_path / "train" / "square.png", rand_array(64, 64, 0))
    with pytest.raises(DataFolderError, match=r"square\.png is 64x64 px, so its halves would be "
                                              r"32x64 px.*A/train/.*trainA/"):
        AlignedFolder(tmp_path, "train")
    save(tmp_path / "wide" / "train" / "x.png", rand_array(32, 96, 0))  # 3:1, halves 48x32: kept
    assert len(AlignedFolder(tmp_path / "wide", "train")) == 1


def test_corrupt_image_error_names_the_file(tmp_path):
    make_aligned(tmp_path, n=1)
    (tmp_path / "train" / "9.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with pytest.raises(CorruptImageError, match=r"Cannot read image .*9\.png"):
        AlignedFolder(tmp_path, "train", preprocess="none")[1]
    # Truncated after a valid header: only decoding the pixels notices.
    good = tmp_path / "good.png"
    save(good, rand_array(32, 32, 1))
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CorruptImageError, match=r"cut\.png"):
        load_rgb(cut)


def test_grayscale_rgba_and_16_bit_become_rgb(tmp_path):
    gray = np.arange(16, dtype=np.uint8).reshape(4, 4) * 16
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    assert np.array_equal(np.asarray(load_rgb(tmp_path / "g.png")), np.stack([gray] * 3, -1))

    rgba = np.dstack([rand_array(4, 4, 2), np.full((4, 4), 7, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    assert np.array_equal(np.asarray(load_rgb(tmp_path / "a.png")), rgba[..., :3])

    deep = np.array([[0, 257 * 128], [65535, 257]], dtype=np.uint16)  # 16-bit levels
    Image.fromarray(deep).save(tmp_path / "d.png")
    loaded = np.asarray(load_rgb(tmp_path / "d.png"))[..., 0]
    assert loaded.tolist() == [[0, 128], [255, 1]]  # 16-bit level / 257


# ----------------------------------------------------------------------------- transforms
@pytest.mark.parametrize("mode,size,out", [
    # input (w, h) = (54, 41), load_size 40, crop_size 24
    ("resize_and_crop", (54, 41), (24, 24)),
    ("crop", (54, 41), (24, 24)),
    ("scale_width", (54, 41), (40, 30)),           # 41 * 40 / 54 = 30.4 -> 30
    ("scale_width", (80, 20), (40, 24)),           # 10 would be below crop_size: 24
    ("scale_width_and_crop", (54, 41), (24, 24)),
    ("none", (54, 41), (56, 40)),                   # nearest multiples of 4
])
def test_each_preprocess_mode_gives_the_reference_size(mode, size, out):
    t = PairTransform(mode, load_size=40, crop_size=24, flip=True)
    (tensor,) = t(Image.fromarray(rand_array(size[1], size[0], 0)))
    assert tensor.shape == (3, out[1], out[0])
    assert tensor.dtype == torch.float32
    assert tensor.min() >= -1 and tensor.max() <= 1


def test_all_modes_are_covered_by_the_size_test():
    assert set(PREPROCESS_MODES) == {"resize_and_crop", "crop", "scale_width",
                                     "scale_width_and_crop", "none"}


def _find_window(out: np.ndarray, src: np.ndarray, crop: int) -> set[tuple[int, int, bool]]:
    """Every (x, y, flipped) whose crop of ``src`` equals ``out`` (brute force, independent
    of the code under test)."""
    hits = set()
    for y in range(src.shape[0] - crop + 1):
        for x in range(src.shape[1] - crop + 1):
            window = src[y:y + crop, x:x + crop]
            for flipped in (False, True):
                if np.array_equal(window[:, ::-1] if flipped else window, out):
                    hits.add((x, y, flipped))
    return hits


def test_crop_and_flip_are_identical_for_both_images_of_a_pair():
    src_a = rand_array(20, 20, seed=5)
    src_b = rand_array(20, 20, seed=6)  # unrelated content, same geometry must apply
    t = PairTransform("crop", crop_size=12, flip=True)
    seen = set()
    for _ in range(12):
        a, b = t(Image.fromarray(src_a), Image.fromarray(src_b))
        to_uint8 = lambda x: ((x + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()  # noqa: E731
        where_a = _find_window(to_uint8(a), src_a, 12)
        where_b = _find_window(to_uint8(b), src_b, 12)
        assert len(where_a) == 1 and where_a == where_b
        seen |= where_a
    # The draws do vary: more than one position, and both flipped and not flipped.
    assert len({(x, y) for x, y, _ in seen}) > 1
    assert {f for _, _, f in seen} == {False, True}


def test_resized_pairs_stay_identical_after_resize_crop_and_flip(tmp_path):
    make_aligned(tmp_path, n=2, h=20, w=20, same=True)  # A and B halves are the same picture
    ds = AlignedFolder(tmp_path, "train", load_size=24, crop_size=16)  # flips: train split
    for _ in range(6):
        item = ds[0]
        assert item["A"].shape == (3, 16, 16)
        assert torch.equal(item["A"], item["B"])


def test_randomness_comes_from_torch_and_resumes_exactly(tmp_path):
    make_aligned(tmp_path, n=1, h=20, w=20)
    ds = AlignedFolder(tmp_path, "train", load_size=24, crop_size=12)
    torch.manual_seed(7)
    first = [ds[0]["A"] for _ in range(4)]
    torch.manual_seed(7)
    np.random.seed(1), random.seed(1)  # other generators must not matter
    again = [ds[0]["A"] for _ in range(4)]
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    assert any(not torch.equal(first[0], x) for x in first[1:])  # draws differ item to item

    state = torch.get_rng_state()
    before = ds[0]["A"]
    torch.set_rng_state(state)
    assert torch.equal(ds[0]["A"], before)


def test_transform_rejects_bad_settings():
    with pytest.raises(ValueError, match="not a known mode; use one of resize_and_crop"):
        PairTransform("resize")
    with pytest.raises(ValueError, match="crop_size=300 is larger than load_size=286"):
        PairTransform("resize_and_crop", crop_size=300)
    small = Image.fromarray(rand_array(10, 10, 0))
    with pytest.raises(ValueError, match="10x10 px is smaller than crop_size=16"):
        PairTransform("crop", crop_size=16)(small)
    with pytest.raises(ValueError, match="same size"):
        PairTransform("none")(small, Image.fromarray(rand_array(12, 10, 0)))


def test_test_split_is_centre_cropped_and_unflipped(tmp_path):
    # A 12x12 image cropped to 8 at the centre keeps rows/cols 2..9, whatever the RNG says.
    make_unaligned(tmp_path, n_a=1, n_b=1, size=12, split="test")
    ds = UnalignedFolders(tmp_path, "test", preprocess="crop", crop_size=8)
    expected = torch.from_numpy(rand_array(12, 12, seed=0)[2:10, 2:10]).permute(2, 0, 1)
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        got = ((ds[0]["A"] + 1) * 127.5).round().to(torch.uint8)
        assert torch.equal(got, expected)
