"""FID, KID and LPIPS (``coursekit.data.standard_metrics``) and ``coursekit eval --metrics``.

The pretrained networks cannot be downloaded here, so the numbers are checked offline:

* FID and KID with a small fixed random conv net as the feature network, against a Fréchet
  distance and an MMD computed independently with numpy/scipy;
* LPIPS with the lpips package's network on a random AlexNet trunk (``pnet_rand=True``: the
  paper's linear layers ship with the package, nothing is fetched);
* the default networks (torch-fidelity's Inception-v3, torchmetrics' LPIPS) from random weights
  written, under the real file names, into a temporary TORCH_HOME: the code that finds, checks
  and loads the files runs as it does with the real ones.

One test uses the real weights and runs only where they are installed (it is skipped, with the
missing file named, otherwise).
"""
import json
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import linalg
from torch import nn

from coursekit.cli import main
from coursekit.data import get_dataset
from coursekit.data.standard_metrics import (INSTALL_HINT, KID_SUBSET_SIZE, METRICS,
                                             MissingExtraError, MissingWeightsError,
                                             check_standard_metrics, lpips_diversity,
                                             parse_metric_names, standard_metrics,
                                             weight_files, weights_folder)

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


# ----------------------------------------------------------------------------- helpers
class FeatureNet(nn.Module):
    """A fixed random conv net: 8-bit images (N, 3, H, W) -> 32-d features. Small enough that
    a hundred images give a full-rank covariance, so the Fréchet distance is well defined."""

    def __init__(self, dim: int = 32):
        super().__init__()
        gen = torch.Generator().manual_seed(1234)
        self.conv1 = nn.Conv2d(3, 16, 3, stride=2)
        self.conv2 = nn.Conv2d(16, dim, 3)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=gen) * 0.5
        self.requires_grad_(False)

    def forward(self, x):
        assert x.dtype == torch.uint8  # the contract: 8-bit images, as the Inception takes
        h = torch.relu(self.conv1(x.float() / 127.5 - 1))
        return torch.tanh(self.conv2(h)).mean((2, 3)) * 3


def smooth_images(n: int, size: int, seed: int, shift: int = 0) -> torch.Tensor:
    """n random smooth 8-bit images (uint8), brightened by ``shift`` levels."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=gen)
    img = nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    return (img * 200 + shift).round().clamp(0, 255).to(torch.uint8)


def to_float(ints: torch.Tensor) -> torch.Tensor:
    """8-bit values to [-1, 1]; the module's 8-bit rounding gives the same values back."""
    return ints.float() / 127.5 - 1


class Pairs(torch.utils.data.Dataset):
    pairing = "paired"

    def __init__(self, a: torch.Tensor, b: torch.Tensor):
        self.a, self.b = a, b

    def __len__(self):
        return len(self.a)

    def __getitem__(self, i):
        return {"A": self.a[i], "B": self.b[i]}


class Unpaired(Pairs):
    pairing = "unpaired"


class WithTruth(Unpaired):
    """Unpaired items, plus the true translation of each A (as synthetic-zebras' render_pair):
    here the true B of an A image is the image at half contrast."""

    def render_pair(self, i):
        return {"A": self.a[i], "B": self.a[i] * 0.5, "mask": torch.ones(1, 1, 1)}


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets (Heusel et al.)."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    root = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with KID's kernel (x.y / d + 1)^3 (Bińkowski et al.)."""
    d = x.shape[1]
    kxx, kyy, kxy = [(a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y))]
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean())


@pytest.fixture(scope="module")
def lpips_net():
    """The reference LPIPS network (lpips package, AlexNet, v0.1 linear layers) on a random
    trunk: runs offline, and is a true LPIPS in structure."""
    lpips = pytest.importorskip("lpips")
    torch.manual_seed(0)
    with warnings.catch_warnings():  # torchvision's note on the `pretrained` argument it uses
        warnings.simplefilter("ignore")
        return lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)


@pytest.fixture(scope="session")
def random_weights_home(tmp_path_factory):
    """A TORCH_HOME whose hub cache holds random weights under the real files' names: the
    default networks load from it exactly as from the real files (fp16 keeps it small)."""
    import torch_fidelity.feature_extractor_inceptionv3 as fidelity
    from torchvision.models import alexnet

    home = tmp_path_factory.mktemp("torch-home")
    folder = home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    with pytest.MonkeyPatch.context() as mp:  # build the Inception without any weights
        mp.setattr(fidelity, "load_state_dict_from_url", lambda *a, **k: None)
        mp.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict",
                   lambda self, state: None)
        torch.manual_seed(0)
        inception = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    for module in inception.modules():  # keep the signal alive through the 40-odd layers
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    torch.save({k: v.half() if v.is_floating_point() else v
                for k, v in inception.state_dict().items()}, folder / INCEPTION_FILE)
    # LPIPS uses AlexNet's conv layers only: its large classifier is stored as one number each.
    state = alexnet().state_dict()
    torch.save({k: (v.half() if k.startswith("features") else v.new_zeros(1).expand(v.shape))
                for k, v in state.items()}, folder / ALEXNET_FILE)
    return home


# ----------------------------------------------------------------------------- names
def test_metric_names_are_parsed_and_checked():
    assert parse_metric_names("fid, KID,fid") == ("fid", "kid")
    assert parse_metric_names(["lpips"]) == ("lpips",)
    with pytest.raises(ValueError, match=r"unknown metric 'is': choose from fid, kid, lpips"):
        parse_metric_names("fid,is")
    with pytest.raises(ValueError, match="an empty name"):
        parse_metric_names("fid,")
    with pytest.raises(ValueError, match="no metric given"):
        parse_metric_names([])
    assert METRICS == ("fid", "kid", "lpips")


# ----------------------------------------------------------------------------- FID and KID
def test_fid_is_zero_for_a_set_with_itself_and_grows_with_the_change():
    ints = smooth_images(96, 16, seed=0)
    data = Pairs(to_float(ints), to_float(ints))
    feature = FeatureNet()

    def fid(translate):
        return standard_metrics(translate, data, "fid", feature=feature)["fid"]

    same = fid(lambda x: x)
    gen = torch.Generator().manual_seed(0)
    little = fid(lambda x: x + 0.05 * torch.randn(x.shape, generator=gen))
    more = fid(lambda x: x + 0.3 * torch.randn(x.shape, generator=gen))
    shifted = fid(lambda x: x + 0.4)
    assert abs(same) < 1e-6
    assert 0.01 < little < more
    assert shifted > 10 * little


def test_fid_and_kid_match_a_hand_computed_frechet_distance_and_mmd():
    a, b = smooth_images(96, 16, seed=1), smooth_images(96, 16, seed=2, shift=30)
    data = Unpaired(to_float(a), to_float(b))
    feature = FeatureNet()
    scores = standard_metrics(lambda x: x, data, feature=feature, names="fid,kid")
    fa, fb = feature(a).double().numpy(), feature(b).double().numpy()
    assert scores["fid"] == pytest.approx(frechet_distance(fa, fb), rel=1e-4)
    assert scores["fid"] > 1
    # 100 subsets of 50 of the 96: their mean estimates the whole set's unbiased MMD^2.
    whole = unbiased_mmd2(fa, fb)
    assert whole > 0.01
    assert abs(scores["kid_mean"] - whole) < 4 * scores["kid_std"] / 10 + 1e-9
    assert 0 < scores["kid_std"] < whole


def test_kid_on_fewer_images_than_a_subset_is_the_whole_sets_mmd():
    a, b = smooth_images(30, 16, seed=3), smooth_images(30, 16, seed=4, shift=40)
    data = Unpaired(to_float(a), to_float(b))
    feature = FeatureNet()
    assert 30 < KID_SUBSET_SIZE
    described = check_standard_metrics("kid", data, feature=feature)
    assert "30 translated A images against 30 real B images" in described
    assert "100 subsets of 30" in described
    scores = standard_metrics(lambda x: x, data, "kid", feature=feature)
    expected = unbiased_mmd2(feature(a).double().numpy(), feature(b).double().numpy())
    assert scores["kid_mean"] == pytest.approx(expected, rel=1e-6)
    assert scores["kid_std"] == pytest.approx(0, abs=1e-9)  # every subset is the whole set
    # Against itself the unbiased estimate is slightly negative (its diagonal is left out).
    same = standard_metrics(lambda x: x, Unpaired(to_float(a), to_float(a)), "kid",
                            feature=feature)
    assert -expected / 20 < same["kid_mean"] < 0


def test_kid_subsets_are_seeded_and_leave_the_callers_random_state_alone():
    data = Unpaired(to_float(smooth_images(60, 16, seed=5)),
                    to_float(smooth_images(60, 16, seed=6, shift=10)))
    feature = FeatureNet()
    torch.manual_seed(7)
    before = torch.rand(3)
    torch.manual_seed(7)
    first = standard_metrics(lambda x: x, data, "kid", feature=feature)
    assert torch.equal(torch.rand(3), before)
    again = standard_metrics(lambda x: x, data, "kid", feature=feature)
    other = standard_metrics(lambda x: x, data, "kid", feature=feature, seed=1)
    assert first == again and first != other


def test_fid_and_kid_need_two_images_on_each_side():
    data = Unpaired(to_float(smooth_images(5, 16, seed=0)), to_float(smooth_images(5, 16, 1)))
    with pytest.raises(ValueError, match=r"at least 2 in each; the data gives 1 A input\(s\) "
                                         r"and 1 real B image\(s\)"):
        standard_metrics(lambda x: x, data, "fid,kid", feature=FeatureNet(), max_items=1)


def test_the_direction_chooses_input_and_target_sides(lpips_net):
    a = to_float(smooth_images(4, 64, seed=8))
    data = Pairs(a, a * 0.5)  # B is A at half contrast
    assert standard_metrics(lambda x: x * 0.5, data, "lpips", lpips_net=lpips_net)["lpips"] == 0
    back = standard_metrics(lambda x: x * 2, data, "lpips", direction="BtoA", lpips_net=lpips_net)
    assert back["lpips"] == 0
    assert standard_metrics(lambda x: x * 2, data, "lpips", lpips_net=lpips_net)["lpips"] > 0.01
    assert "translated B images against 4 real A images" in check_standard_metrics(
        "fid", data, direction="BtoA", feature=FeatureNet())
    with pytest.raises(ValueError, match="direction must be 'AtoB' or 'BtoA'"):
        standard_metrics(lambda x: x, data, "lpips", direction="AB", lpips_net=lpips_net)


def test_a_folder_of_unpaired_domains_counts_each_image_once(tmp_path):
    """testA has 3 images and testB 5: the dataset is 5 items long, repeats A and draws B at
    random; FID must see the 3 A images and the 5 B images, each once."""
    colours = {"A": [(250, 0, 0), (0, 250, 0), (0, 0, 250)],
               "B": [(10, 10, 10), (60, 60, 60), (110, 110, 110), (160, 160, 160),
                     (210, 210, 210)]}
    for side, cols in colours.items():
        (tmp_path / f"test{side}").mkdir()
        for i, col in enumerate(cols):
            Image.new("RGB", (8, 8), col).save(tmp_path / f"test{side}" / f"{i}.png")
    data = get_dataset(tmp_path, split="test", size=16)
    assert data.pairing == "unpaired" and len(data) == 5
    seen = []

    class Recorder(FeatureNet):
        def forward(self, x):
            seen.extend(tuple(int(v) for v in img[:, 0, 0]) for img in x)
            return super().forward(x)

    assert "3 translated A images against 5 real B images" in check_standard_metrics(
        "fid", data, feature=Recorder())
    standard_metrics(lambda x: x, data, "fid", feature=Recorder())
    assert sorted(seen[:3]) == sorted(colours["A"]) and sorted(seen[3:]) == sorted(colours["B"])
    assert data.serial is False  # the caller's dataset is left as it was


def test_the_feature_network_must_give_one_row_per_image():
    data = Pairs(to_float(smooth_images(4, 16, 0)), to_float(smooth_images(4, 16, 1)))

    class Flat(nn.Module):
        def forward(self, x):
            return x.float().flatten()

    with pytest.raises(ValueError, match="one feature row per image"):
        standard_metrics(lambda x: x, data, "fid", feature=Flat())


def test_outputs_must_be_rgb_images():
    data = Pairs(to_float(smooth_images(4, 16, 0)), to_float(smooth_images(4, 16, 1)))
    with pytest.raises(ValueError, match=r"translate gave \(4, 1, 16, 16\)"):
        standard_metrics(lambda x: x[:, :1], data, "fid", feature=FeatureNet())
    with pytest.raises(ValueError, match="batch_size must be 1 or more"):
        standard_metrics(lambda x: x, data, "fid", feature=FeatureNet(), batch_size=0)
    with pytest.raises(ValueError, match="max_items must be 1 or more"):
        standard_metrics(lambda x: x, data, "fid", feature=FeatureNet(), max_items=0)


# ----------------------------------------------------------------------------- LPIPS
def test_lpips_to_the_ground_truth_on_paired_data(lpips_net):
    a = to_float(smooth_images(6, 64, seed=9))
    b = to_float(smooth_images(6, 64, seed=10))
    data = Pairs(a, b)
    assert standard_metrics(lambda x: x, Pairs(a, a), "lpips", lpips_net=lpips_net) == {
        "lpips": 0.0}
    scores = standard_metrics(lambda x: x, data, "lpips", lpips_net=lpips_net, batch_size=4)
    with torch.no_grad():
        expected = lpips_net(a, b).mean().item()
    assert scores["lpips"] == pytest.approx(expected, rel=1e-5)
    assert scores["lpips"] > 0.01
    # Outputs are clamped to [-1, 1], as saved images would be.
    clamped = standard_metrics(lambda x: x * 3, data, "lpips", lpips_net=lpips_net)
    with torch.no_grad():
        assert clamped["lpips"] == pytest.approx(
            lpips_net((a * 3).clamp(-1, 1), b).mean().item(), rel=1e-5)


def test_lpips_uses_render_pairs_true_translation_on_unpaired_data(lpips_net):
    a = to_float(smooth_images(5, 64, seed=11))
    unrelated = to_float(smooth_images(5, 64, seed=12))
    data = WithTruth(a, unrelated)  # item B is another image: only render_pair knows the truth
    assert "true translation" in check_standard_metrics("lpips", data, lpips_net=lpips_net)
    assert standard_metrics(lambda x: x * 0.5, data, "lpips", lpips_net=lpips_net)["lpips"] == 0
    assert standard_metrics(lambda x: x, data, "lpips", lpips_net=lpips_net)["lpips"] > 0.01
    # B -> A translates render_pair's B (the half-contrast image) back to its A.
    back = standard_metrics(lambda x: x * 2, data, "lpips", direction="BtoA",
                            lpips_net=lpips_net)
    assert back["lpips"] == 0
    # Through a Subset, render_pair is asked for the subset's own items.
    subset = torch.utils.data.Subset(data, [4, 2])
    calls = []
    inner = data.render_pair
    data.render_pair = lambda i: calls.append(i) or inner(i)
    assert standard_metrics(lambda x: x * 0.5, subset, "lpips", lpips_net=lpips_net) == {
        "lpips": 0.0}
    assert calls == [4, 2]


def test_lpips_on_unpaired_data_without_ground_truth_is_a_clear_error(lpips_net):
    data = Unpaired(to_float(smooth_images(4, 64, 0)), to_float(smooth_images(4, 64, 1)))

    def translate(x):
        raise AssertionError("nothing may be translated before the check")

    with pytest.raises(ValueError) as err:
        standard_metrics(translate, data, "fid,lpips", feature=FeatureNet(), lpips_net=lpips_net)
    message = str(err.value)
    assert "unpaired" in message and "ground truth" in message
    assert "synthetic-zebras" in message and "lpips_diversity" in message


def test_lpips_diversity_is_the_mean_over_all_pairs(lpips_net):
    samples = to_float(smooth_images(4, 64, seed=13))
    assert lpips_diversity(samples[[0, 0, 0]], lpips_net=lpips_net) == 0
    with torch.no_grad():
        expected = np.mean([lpips_net(samples[[i]], samples[[j]]).item()
                            for i in range(4) for j in range(i + 1, 4)])
    got = lpips_diversity(list(samples), lpips_net=lpips_net, batch_size=4)  # 6 pairs, 2 batches
    assert got == pytest.approx(expected, rel=1e-5) and got > 0.01
    with pytest.raises(ValueError, match="K >= 2 RGB samples"):
        lpips_diversity(samples[:1], lpips_net=lpips_net)


def test_the_lpips_network_must_give_one_distance_per_pair():
    data = Pairs(to_float(smooth_images(3, 16, 0)), to_float(smooth_images(3, 16, 1)))
    with pytest.raises(ValueError, match="one distance per pair"):
        standard_metrics(lambda x: x, data, "lpips", lpips_net=lambda x, y: (x - y).abs())
    with pytest.raises(ValueError, match="the same shape"):
        standard_metrics(lambda x: x[..., :8], data, "lpips", lpips_net=lambda x, y: x)


# ----------------------------------------------------------------------------- weights, extra
def test_missing_weights_name_the_file_the_folder_and_the_address(tmp_path, monkeypatch,
                                                                  no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    assert weights_folder() == folder
    data = Pairs(to_float(smooth_images(4, 64, 0)), to_float(smooth_images(4, 64, 1)))

    def translate(x):
        raise AssertionError("nothing may be translated before the check")

    with pytest.raises(MissingWeightsError) as err:
        standard_metrics(translate, data, "fid")
    message = str(err.value)
    assert INCEPTION_FILE in message and str(folder) in message
    assert f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}" \
        in message
    assert "no download was attempted" in message and ALEXNET_FILE not in message
    assert isinstance(err.value, FileNotFoundError)
    with pytest.raises(MissingWeightsError) as err:
        standard_metrics(translate, data, "kid,lpips")
    assert INCEPTION_FILE in str(err.value) and ALEXNET_FILE in str(err.value)
    assert f"https://download.pytorch.org/models/{ALEXNET_FILE}" in str(err.value)
    with pytest.raises(MissingWeightsError, match=ALEXNET_FILE):
        lpips_diversity(data.a)
    assert [f.name for f in weight_files()] == [INCEPTION_FILE, ALEXNET_FILE]
    # With networks of one's own, no file is needed.
    assert check_standard_metrics("fid,lpips", data, feature=FeatureNet(),
                                  lpips_net=lambda x, y: x)
    # Without TORCH_HOME the message says where the default folder is and how to move it.
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(MissingWeightsError) as err:
        check_standard_metrics("fid", data)
    assert str(tmp_path / "cache" / "torch" / "hub" / "checkpoints") in str(err.value)
    assert "TORCH_HOME unset, so $XDG_CACHE_HOME/torch; set TORCH_HOME" in str(err.value)
    monkeypatch.delenv("XDG_CACHE_HOME")
    if not (weights_folder() / INCEPTION_FILE).is_file():
        with pytest.raises(MissingWeightsError, match="TORCH_HOME unset, so ~/.cache/torch"):
            check_standard_metrics("fid", data)


def test_a_damaged_weights_file_is_named_with_its_address(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    for name in (INCEPTION_FILE, ALEXNET_FILE):
        (folder / name).write_bytes(b"half a download")
    data = Pairs(to_float(smooth_images(4, 64, 0)), to_float(smooth_images(4, 64, 1)))
    with pytest.raises(MissingWeightsError, match=f"{INCEPTION_FILE} is there but could not be "
                                                  f"loaded .*fresh copy of https://"):
        standard_metrics(lambda x: x, data, "fid")
    with pytest.raises(MissingWeightsError, match=f"{ALEXNET_FILE} is there but could not"):
        standard_metrics(lambda x: x, data, "lpips")


def test_a_missing_extra_says_how_to_install_it(monkeypatch):
    data = Pairs(to_float(smooth_images(4, 64, 0)), to_float(smooth_images(4, 64, 1)))
    monkeypatch.setitem(sys.modules, "torchmetrics", None)  # as if not installed
    with pytest.raises(MissingExtraError) as err:
        standard_metrics(lambda x: x, data, "fid", feature=FeatureNet())
    assert "torchmetrics" in str(err.value) and INSTALL_HINT in str(err.value)
    assert isinstance(err.value, ImportError)
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)
    with pytest.raises(MissingExtraError, match="torchmetrics, torch-fidelity"):
        check_standard_metrics("kid", data)
    # LPIPS with a network of one's own needs none of them.
    same = Pairs(data.a, data.a)
    assert standard_metrics(lambda x: x, same, "lpips", lpips_net=lambda x, y: (x - y).abs()
                            .mean((1, 2, 3))) == {"lpips": 0.0}


def test_coursekit_imports_without_the_extra():
    code = ("import sys\n"
            "for name in ('torchmetrics', 'torch_fidelity', 'lpips', 'scipy'):\n"
            "    sys.modules[name] = None\n"
            "import coursekit, coursekit.cli, coursekit.data.standard_metrics\n"
            "coursekit.cli.build_parser()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


# ----------------------------------------------------------------------------- default networks
@pytest.mark.slow
def test_the_default_networks_load_from_the_hub_cache(random_weights_home, monkeypatch,
                                                      no_network):
    """torch-fidelity's Inception and torchmetrics' LPIPS, from (random) files with the real
    names: found, loaded and run without any download."""
    monkeypatch.setenv("TORCH_HOME", str(random_weights_home))
    ints = smooth_images(3, 32, seed=14)
    data = Pairs(to_float(ints), to_float(ints))
    same = standard_metrics(lambda x: x, data, batch_size=2)
    assert set(same) == {"fid", "kid_mean", "kid_std", "lpips"}
    assert same["lpips"] == 0
    other = standard_metrics(lambda x: -x, data, batch_size=2)
    assert other["lpips"] > 0
    assert other["fid"] > 1e-3 and abs(same["fid"]) < other["fid"] / 1000
    assert lpips_diversity(to_float(ints[:3])) > 0


# ----------------------------------------------------------------------------- command line
def test_eval_refuses_an_unknown_metric_and_lists_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "pix2pix", "--checkpoint", "run/latest.pt", "--metrics", "fid,ssim"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --metrics: unknown metric 'ssim': choose from fid, kid, lpips" in err


@pytest.fixture
def fake_trained(monkeypatch):
    """``coursekit eval pix2pix`` on a stand-in model (the identity) that records its calls,
    so the command line's handling is tested without a training run."""
    calls = []
    config = types.SimpleNamespace(image_size=32, direction="AtoB")

    class Stand(nn.Module):
        device = torch.device("cpu")

        def translate(self, x):
            calls.append("translate")
            return x

        def evaluate(self, dataset):
            calls.append("evaluate")
            return {"l1": 0.25}

    checkpoint = {"config": {"data": None}}
    import coursekit.models

    monkeypatch.setattr(coursekit.models, "load_trained",
                        lambda name, path, with_checkpoint=False: (Stand(), config, checkpoint))
    return types.SimpleNamespace(calls=calls, config=config)


def write_aligned_folder(root, n=3, size=32):
    """A pix2pix-style folder: ``root/test/i.png`` with A | B side by side."""
    (root / "test").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 256, (size, 2 * size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "test" / f"{i}.png")
    return root


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_eval_adds_the_standard_metrics_to_its_scores(fake_trained, tmp_path, monkeypatch,
                                                      capsys, lpips_net, direction):
    """The command line's part: the keys, the line that says what is compared, the direction
    of the run; the default networks are replaced by the test's (see the slow test below for
    the real code path)."""
    import coursekit.data.standard_metrics as module

    monkeypatch.setattr(module, "_check_weights", lambda files: None)
    monkeypatch.setattr(module, "_inception", lambda device: FeatureNet())
    monkeypatch.setattr(module, "_lpips_alexnet", lambda device: lpips_net)
    fake_trained.config.direction = direction
    data = write_aligned_folder(tmp_path / "pairs")
    code = main(["eval", "pix2pix", "--checkpoint", "run/latest.pt", "--data", str(data),
                 "--metrics", "lpips,fid,kid"])
    out = capsys.readouterr().out
    assert code == 0 and fake_trained.calls == ["evaluate", "translate"]
    src, dst = direction[0], direction[-1]
    assert (f"standard metrics, {direction}: fid, kid: 3 translated {src} images against 3 real "
            f"{dst} images") in out
    keys = [line.split(":")[0].strip() for line in out.splitlines()[-5:]]
    assert keys == ["l1", "fid", "kid_mean", "kid_std", "lpips"]  # the old keys first, unchanged


def test_eval_with_missing_weights_fails_before_scoring(fake_trained, tmp_path, monkeypatch,
                                                        capsys, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("COURSEKIT_TRACEBACK", raising=False)
    data = write_aligned_folder(tmp_path / "pairs")
    code = main(["eval", "pix2pix", "--checkpoint", "run/latest.pt", "--data", str(data),
                 "--metrics", "fid,lpips"])
    assert code == 1 and fake_trained.calls == []  # nothing scored before the check
    err = capsys.readouterr().err
    assert err.startswith("coursekit: error: pretrained weights missing from ")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert INCEPTION_FILE in err and ALEXNET_FILE in err
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in err


def test_eval_without_the_extra_says_how_to_install_it(fake_trained, tmp_path, monkeypatch,
                                                       capsys):
    monkeypatch.setitem(sys.modules, "torchmetrics", None)
    monkeypatch.delenv("COURSEKIT_TRACEBACK", raising=False)
    data = write_aligned_folder(tmp_path / "pairs")
    code = main(["eval", "pix2pix", "--checkpoint", "run/latest.pt", "--data", str(data),
                 "--metrics", "kid"])
    assert code == 1 and fake_trained.calls == []
    err = capsys.readouterr().err
    assert err.startswith("coursekit: error: ") and INSTALL_HINT in err
    assert "Traceback" not in err


def test_eval_lpips_on_unpaired_data_is_a_clear_error(fake_trained, tmp_path, monkeypatch,
                                                      capsys):
    monkeypatch.delenv("COURSEKIT_TRACEBACK", raising=False)
    for side in "AB":
        (tmp_path / f"test{side}").mkdir()
        for i in range(2):
            Image.new("RGB", (8, 8), (40 * i, 90, 200)).save(tmp_path / f"test{side}" / f"{i}.png")
    code = main(["eval", "cyclegan", "--checkpoint", "run/latest.pt", "--data", str(tmp_path),
                 "--metrics", "lpips"])
    assert code == 1 and fake_trained.calls == []
    assert "ground truth" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_metrics_end_to_end_on_a_trained_checkpoint(random_weights_home, tmp_path,
                                                         monkeypatch, capsys, no_network):
    """Train pix2pix for one step, then ``coursekit eval --metrics fid,kid,lpips --json`` on a
    three-item folder, with the default networks loaded from the (random) hub cache."""
    monkeypatch.setenv("TORCH_HOME", str(random_weights_home))
    run = tmp_path / "run"
    assert main(["train", "pix2pix", "--steps", "1", "--out", str(run)]) == 0
    data = write_aligned_folder(tmp_path / "pairs", size=64)
    capsys.readouterr()
    code = main(["eval", "pix2pix", "--checkpoint", str(run / "latest.pt"), "--data", str(data),
                 "--metrics", "fid,kid,lpips", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    scores = json.loads(captured.out)
    assert {"fid", "kid_mean", "kid_std", "lpips", "l1"} <= set(scores)
    assert all(np.isfinite(v) for v in scores.values())
    assert "standard metrics, AtoB: fid, kid: 3 translated A images against 3 real B" \
           in captured.err


# ----------------------------------------------------------------------------- real weights
_MISSING = [f for f in weight_files() if not f.path.is_file()]


@pytest.mark.slow
@pytest.mark.skipif(bool(_MISSING), reason="needs the pretrained weights, missing: " + "; ".join(
    f"{f.name} not in {f.path.parent} (get {f.url})" for f in _MISSING))
def test_the_real_networks(no_network):
    """With the real weights: FID and KID behave, and torchmetrics' LPIPS is the reference
    lpips package's, number for number (the same AlexNet file and v0.1 linear layers)."""
    lpips = pytest.importorskip("lpips")
    ints = smooth_images(8, 64, seed=15)
    data = Pairs(to_float(ints), to_float(smooth_images(8, 64, seed=16)))
    same = standard_metrics(lambda x: x, Pairs(data.a, data.a), "fid,kid")
    changed = standard_metrics(lambda x: -x, Pairs(data.a, data.a), "fid,kid")
    assert changed["fid"] > 1 and abs(same["fid"]) < changed["fid"] / 100
    # KID's unbiased estimate of a set against itself is a little below 0 (no diagonal).
    assert same["kid_mean"] <= 1e-9 and changed["kid_mean"] > 5 * abs(same["kid_mean"])
    scores = standard_metrics(lambda x: x, data, "lpips")
    with warnings.catch_warnings():  # torchvision's note on the `pretrained` argument
        warnings.simplefilter("ignore")
        reference = lpips.LPIPS(net="alex", verbose=False)
    with torch.no_grad():
        expected = reference(data.a, data.b).mean().item()
    assert scores["lpips"] == pytest.approx(expected, rel=1e-4)
