"""coursekit.nn.perceptual: the VGG-19 perceptual loss of pix2pixHD and SPADE.

No pretrained weights are needed: a randomly initialised torchvision VGG-19 is saved, as the
``state_dict()`` torchvision downloads, under the real file name in a temporary TORCH_HOME.
Every expected value comes from torchvision's own ``vgg.features`` on that network, sliced
where the authors' code slices it, never from coursekit's module.
"""
import copy
from types import SimpleNamespace

import pytest
import torch
import torchvision
from torch import nn

from coursekit.data.standard_metrics import MissingWeightsError
from coursekit.nn.perceptual import VGGFeatures, VGGLoss
from coursekit.train.method import Method

FILE = "vgg19-dcbb9e9d.pth"
URL = f"https://download.pytorch.org/models/{FILE}"
# The ends of the five slices in torchvision's ``features`` (relu1_1, relu2_1, relu3_1, relu4_1,
# relu5_1) and their weights, as in NVlabs/SPADE and NVIDIA/pix2pixHD.
SLICE_ENDS = (2, 7, 12, 21, 30)
WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
# coursekit's conv weights are torchvision's tensors and the same float32 conv/ReLU/pool ops run
# on them, so the features agree exactly today; the tolerance allows only a different
# summation order inside the convolutions (a few float32 ulps per layer over 13 layers).
TOL = dict(rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A TORCH_HOME whose hub cache holds a random VGG-19 under the real name (548 MB, written
    once per module and deleted at its end); TORCH_HOME points there while the module runs."""
    home = tmp_path_factory.mktemp("torch-home")
    folder = home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    vgg = torchvision.models.vgg19(weights=None).eval()
    # torchvision starts conv biases at 0, under which a bias that is dropped or taken from the
    # wrong layer would go unnoticed: give them values.
    with torch.no_grad():
        for layer in vgg.features:
            if isinstance(layer, nn.Conv2d):
                layer.bias.normal_(0.0, 0.05)
    torch.save(vgg.state_dict(), folder / FILE)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("TORCH_HOME", str(home))
            yield SimpleNamespace(home=home, file=folder / FILE, vgg=vgg)
    finally:
        (folder / FILE).unlink()


@pytest.fixture(scope="module")
def loss_fn(weights):
    """One VGGLoss for the module, loaded from the torch hub cache (no path given)."""
    return VGGLoss()


def images(n=2, h=36, w=50, seed=0):
    """Random images in [-1, 1]; 36 x 50 is rounded down at three of the four poolings."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, h, w, generator=g) * 2 - 1


def torchvision_slices(vgg, x):
    """torchvision's activations at the five slice ends (its ReLUs are in place, on conv
    outputs, so ``x`` is left as it is)."""
    return [vgg.features[:end](x) for end in SLICE_ENDS]


def loss_by_hand(vgg, fake, real):
    with torch.no_grad():
        real_features = torchvision_slices(vgg, real)
    fake_features = torchvision_slices(vgg, fake)
    return sum(w * (f - r).abs().mean() for w, f, r in zip(WEIGHTS, fake_features, real_features))


# ----------------------------------------------------------------------------- features
def test_features_are_torchvisions_slices(weights, loss_fn):
    x = images()
    with torch.no_grad():
        out = loss_fn.vgg(x)
        expected = torchvision_slices(weights.vgg, x)
    assert [tuple(o.shape) for o in out] == [(2, 64, 36, 50), (2, 128, 18, 25), (2, 256, 9, 12),
                                            (2, 512, 4, 6), (2, 512, 2, 3)]
    torch.testing.assert_close(out, expected, **TOL)
    # The smallest accepted size leaves relu5_1 a 1x1 map.
    with torch.no_grad():
        assert tuple(loss_fn.vgg(images(1, 16, 16))[-1].shape) == (1, 512, 1, 1)


def test_imagenet_normalisation_from_an_explicit_path(weights, tmp_path, monkeypatch):
    # Another TORCH_HOME, empty: the explicit path alone must be read.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    features = VGGFeatures(path=weights.file, imagenet_normalize=True)
    x = images(seed=1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = torchvision_slices(weights.vgg, ((x + 1) / 2 - mean) / std)
        torch.testing.assert_close(features(x), expected, **TOL)
        # ...and differs from feeding [-1, 1] as it is (the default, as the authors' code).
        assert not torch.allclose(features(x)[0], torchvision_slices(weights.vgg, x)[0])


# ----------------------------------------------------------------------------- the loss
def test_the_loss_is_the_weighted_l1_of_torchvisions_slices(weights, loss_fn):
    fake, real = images(seed=2), images(seed=3)
    expected = loss_by_hand(weights.vgg, fake, real).detach()
    with torch.no_grad():
        loss = loss_fn(fake, real)
    assert loss.shape == () and loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=0.0)
    assert loss.item() > 0
    # Identical images: exactly 0 (the same operations on the same input).
    assert loss_fn(real, real).item() == 0.0


def test_gradient_reaches_fake_and_not_real(weights, loss_fn):
    fake = images(seed=4).requires_grad_()
    real = images(seed=5).requires_grad_()
    loss_fn(fake, real).backward()
    assert real.grad is None
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    # The same gradient as the hand-built loss with the target's features detached.
    (expected,) = torch.autograd.grad(loss_by_hand(weights.vgg, fake, real.detach()), fake)
    torch.testing.assert_close(fake.grad, expected, rtol=1e-4, atol=1e-9)
    assert not any(b.requires_grad for b in loss_fn.buffers())


def test_no_parameters_no_state_and_left_out_of_a_methods_networks(loss_fn):
    assert list(loss_fn.parameters()) == []
    assert loss_fn.state_dict() == {} and loss_fn.vgg.state_dict() == {}
    assert len(list(loss_fn.buffers())) == 13 * 2 + 2  # 13 convs' weights and biases, mean, std

    class Holder(Method):
        def __init__(self):
            super().__init__()
            self.G = nn.Conv2d(3, 3, 1)
            self.vgg_loss = loss_fn

    holder = Holder()
    assert set(holder.networks()) == {"G"}
    assert set(holder.state_dict()) == {"G.weight", "G.bias"}


def test_to_float64_casts_every_buffer(weights, loss_fn):
    double = copy.deepcopy(loss_fn).to(torch.float64)
    assert {b.dtype for b in double.buffers()} == {torch.float64}
    assert {b.dtype for b in loss_fn.buffers()} == {torch.float32}
    fake, real = images(seed=6), images(seed=7)
    with torch.no_grad():
        loss = double(fake.double(), real.double())
        expected = loss_by_hand(weights.vgg, fake, real)
    assert loss.dtype == torch.float64
    # float64 against torchvision's float32: float32's rounding over 13 layers, ~1e-6.
    torch.testing.assert_close(loss.float(), expected, rtol=1e-5, atol=0.0)


def test_bf16_autocast_on_cpu(weights, loss_fn):
    fake = images(seed=8).requires_grad_()
    real = images(seed=9)
    with torch.no_grad():
        expected = loss_by_hand(weights.vgg, fake, real)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert loss_fn.vgg(real)[-1].dtype == torch.bfloat16  # the convs did run in bf16
        loss = loss_fn(fake, real)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    # bf16 keeps 8 bits of mantissa (0.4% per rounding); the loss, a mean of many differences
    # between two unrelated images, stays within about 0.1% of float32's (0.03-0.12% for
    # seeds 0-4); 1% leaves room for other CPUs' bf16 kernels.
    torch.testing.assert_close(loss, expected, rtol=0.01, atol=0.0)
    loss.backward()
    assert torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0


def test_bad_inputs_are_clear_errors(loss_fn):
    with pytest.raises(ValueError, match="at least 16x16"):
        loss_fn(images(1, 15, 32), images(1, 15, 32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        loss_fn.vgg(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="the same shape"):
        loss_fn(images(1, 32, 32), images(2, 32, 32))
    with pytest.raises(ValueError, match="one weight per slice"):
        VGGLoss(layer_weights=(1.0, 1.0))


# ----------------------------------------------------------------------------- the weights file
def test_a_missing_file_names_itself_the_folder_and_the_address(tmp_path, monkeypatch,
                                                                 no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError) as err:
        VGGLoss()
    message = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert FILE in message and URL in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert f"$TORCH_HOME/hub/checkpoints, with TORCH_HOME={tmp_path}" in message
    assert "no download was attempted" in message
    # An explicit path that is not there: that path and the address.
    with pytest.raises(MissingWeightsError) as err:
        VGGFeatures(path=tmp_path / "elsewhere" / FILE)
    assert f"{tmp_path / 'elsewhere' / FILE} not found" in str(err.value)
    assert URL in str(err.value)


def test_a_truncated_file_is_called_damaged(weights, tmp_path, monkeypatch, no_network):
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    with open(weights.file, "rb") as whole:
        (folder / FILE).write_bytes(whole.read(1 << 20))  # the first MB of 548
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError,
                       match=f"{FILE} is there but could not be loaded .*partial or damaged "
                             f"download.*fresh copy of {URL}"):
        VGGLoss()
    with pytest.raises(MissingWeightsError, match=f"{tmp_path / 'hub'}.* is there but could not"):
        VGGFeatures(path=folder / FILE)


def test_the_weights_of_another_network_are_refused(weights, tmp_path):
    # AlexNet's trunk: "features.*" keys too, but other layers at other indices.
    alexnet = torchvision.models.alexnet(weights=None).features
    torch.save({f"features.{k}": v for k, v in alexnet.state_dict().items()}, tmp_path / "a.pth")
    with pytest.raises(MissingWeightsError) as err:
        VGGFeatures(path=tmp_path / "a.pth")
    message = str(err.value)
    assert "is not a state dict of torchvision's ImageNet VGG-19" in message
    assert "features.0.weight has shape (64, 3, 11, 11), not (64, 3, 3, 3)" in message
    assert "features.2.weight missing" in message and URL in message

    # VGG-19's own keys with one wrong shape and one missing tensor.
    state = {k: v for k, v in weights.vgg.state_dict().items() if k.startswith("features.")}
    state["features.28.weight"] = torch.zeros(512, 256, 3, 3)
    del state["features.28.bias"]
    torch.save(state, tmp_path / "b.pth")
    with pytest.raises(MissingWeightsError) as err:
        VGGFeatures(path=tmp_path / "b.pth")
    assert "features.28.weight has shape (512, 256, 3, 3), not (512, 512, 3, 3)" in str(err.value)
    assert "features.28.bias missing" in str(err.value)
    (tmp_path / "b.pth").unlink()

    # Not a dict at all.
    torch.save(torch.zeros(3), tmp_path / "c.pth")
    with pytest.raises(MissingWeightsError, match="holds a Tensor, not a state dict"):
        VGGFeatures(path=tmp_path / "c.pth")
