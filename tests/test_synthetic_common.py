"""Behaviour every synthetic dataset shares (coursekit.data.synthetic.base)."""
import pytest
import torch

from coursekit.data.synthetic.facades import SyntheticFacades
from coursekit.data.synthetic.landscapes import SyntheticLandscapes
from coursekit.data.synthetic.zebras import SyntheticZebras

DATASETS = [SyntheticFacades, SyntheticZebras, SyntheticLandscapes]


@pytest.mark.parametrize("cls", DATASETS)
@pytest.mark.parametrize("size", [16, 31, 257, 300])
def test_out_of_range_size_says_what_is_allowed(cls, size):
    with pytest.raises(ValueError, match="size must be between 32 and 256"):
        cls(size=size)


@pytest.mark.parametrize("cls", DATASETS)
@pytest.mark.parametrize("size", [64.0, "64", None, True])
def test_non_integer_size_is_a_type_error(cls, size):
    with pytest.raises(TypeError, match="size must be an int"):
        cls(size=size)


@pytest.mark.parametrize("cls", DATASETS)
def test_bad_split_seed_length_and_index(cls):
    with pytest.raises(ValueError, match="split must be one of"):
        cls(split="validation")
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        cls(seed=-1)
    with pytest.raises(ValueError, match="length must be a non-negative int"):
        cls(length=2.5)
    ds = cls(length=3, size=32)
    with pytest.raises(IndexError, match="out of range"):
        ds[3]
    with pytest.raises(TypeError, match="index must be an int"):
        ds[1.0]
    assert torch.equal(ds[-1]["A"], ds[2]["A"])  # negative indices count from the end
    assert len(list(ds)) == 3  # IndexError ends a plain iteration


@pytest.mark.parametrize("cls", DATASETS)
def test_items_are_a_function_of_seed_split_and_index(cls):
    a, b = cls("train", size=32), cls("train", size=32)
    assert torch.equal(a[5]["B"], b[5]["B"])  # a fresh instance draws the same item
    assert not torch.equal(a[5]["B"], a[6]["B"])
    assert not torch.equal(a[5]["B"], cls("test", size=32)[5]["B"])
    assert not torch.equal(a[5]["B"], cls("train", size=32, seed=1)[5]["B"])
    # Drawing other items first changes nothing (independent per-item streams).
    fresh = cls("train", size=32)
    [fresh[i] for i in range(4)]
    assert torch.equal(fresh[5]["B"], a[5]["B"])
