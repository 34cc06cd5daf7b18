"""AdaIN style transfer (coursekit.models.style_transfer) with a random VGG-19 saved as
torchvision names its weights: every expected value comes from torchvision's own layers."""
import pytest
import torch
import torch.nn.functional as F
import torchvision

from coursekit.data import get_dataset
from coursekit.data.standard_metrics import MissingWeightsError
from coursekit.models import style_transfer
from coursekit.models.style_transfer import AdaINStyleTransfer, Config
from coursekit.train import InverseDecay, TrainConfig, fit

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
ENDS = (2, 7, 12, 21)  # relu1_1, relu2_1, relu3_1, relu4_1 in torchvision's features


@pytest.fixture(scope="module")
def model_and_vgg(vgg_file):
    torch.manual_seed(0)
    model = AdaINStyleTransfer(Config(image_size=32, vgg_weights=str(vgg_file)))
    vgg = torchvision.models.vgg19(weights=None).features
    vgg.load_state_dict({k[len("features."):]: v for k, v in torch.load(vgg_file).items()})
    return model, vgg.eval()


def by_hand(vgg, x):
    """torchvision's relu1_1..relu4_1 of images in [-1, 1], ImageNet-normalised."""
    h, out = ((x + 1) / 2 - MEAN) / STD, []
    for i, layer in enumerate(vgg[:ENDS[-1]]):
        h = layer(h)
        if i + 1 in ENDS:
            out.append(h)
    return out


def stats(f):
    return f.mean((2, 3)), (f.var((2, 3), unbiased=False) + 1e-5).sqrt()


def images(n=2, side="A", size=32):
    ds = get_dataset("synthetic-seasons", size=size, length=n)
    return torch.stack([ds[i][side] for i in range(n)])


def test_adain_gives_the_content_features_the_style_statistics(model_and_vgg):
    model, vgg = model_and_vgg
    c, s = images(2, "A"), images(2, "B")
    with torch.no_grad():
        fc, fs = by_hand(vgg, c)[-1], by_hand(vgg, s)[-1]
        mu_c, sigma_c = stats(fc)
        mu_s, sigma_s = stats(fs)
        t = (fc - mu_c[..., None, None]) / sigma_c[..., None, None] * sigma_s[..., None, None] \
            + mu_s[..., None, None]  # Eq. 8
        want = model.decoder(t).clamp(-1, 1)
        assert torch.allclose(model.stylize(c, s), want, atol=1e-5)
        # t carries the style's statistics: what the decoder is asked to keep. The means exactly;
        # t's spread is sigma_s * sqrt(var_c / (var_c + eps)), sigma_s within 0.6 % where the
        # content channel's std exceeds 0.03 (var_c >= 9e-4 against eps = 1e-5).
        assert torch.allclose(t.mean((2, 3)), mu_s, atol=1e-5)
        varied = sigma_c > 0.03
        assert varied.float().mean() > 0.3  # measured 0.63 with this random VGG
        spread = t.std((2, 3), unbiased=False)
        assert torch.allclose(spread[varied], sigma_s[varied], rtol=6e-3)
        # alpha = 0: the content's own features; one style image styles every content image.
        assert torch.allclose(model.stylize(c, s, alpha=0.0), model.decoder(fc).clamp(-1, 1), atol=1e-5)
        assert torch.allclose(model.stylize(c, s[:1]), model.stylize(c, s[:1].expand(2, -1, -1, -1)))


def test_losses_are_eq_12_and_13_on_torchvisions_features(model_and_vgg):
    model, vgg = model_and_vgg
    c, s = images(2, "A"), images(2, "B")
    got = model.losses(c, s)
    with torch.no_grad():
        fc, fs = by_hand(vgg, c), by_hand(vgg, s)
        mu_s, sigma_s = stats(fs[-1])
        mu_c, sigma_c = stats(fc[-1])
        t = (fc[-1] - mu_c[..., None, None]) / sigma_c[..., None, None] * sigma_s[..., None, None] \
            + mu_s[..., None, None]
        out = model.decoder(t)
        fo = by_hand(vgg, out)
        content = F.mse_loss(fo[-1], t)
        style = sum(F.mse_loss(stats(a)[0], stats(b)[0]) + F.mse_loss(stats(a)[1], stats(b)[1])
                    for a, b in zip(fo, fs))
    assert got["content"].item() == pytest.approx(content.item(), rel=1e-4)
    assert got["style"].item() == pytest.approx(style.item(), rel=1e-4)
    assert got["loss"].item() == pytest.approx((content + 10 * style).item(), rel=1e-4)


def test_training_moves_only_the_decoder_and_the_encoder_is_never_saved(vgg_file, tmp_path):
    torch.manual_seed(0)
    model = AdaINStyleTransfer(Config(image_size=32, vgg_weights=str(vgg_file)))
    assert set(model.networks()) == {"decoder"} and not list(model.vgg.parameters())
    assert not [k for k in model.state_dict() if k.startswith("vgg")]
    vgg_before = {k: v.clone() for k, v in model.vgg.named_buffers()}
    dec_before = [p.clone() for p in model.decoder.parameters()]
    train = TrainConfig(steps=2, batch_size=2, out_dir=str(tmp_path / "run"), progress=False,
                        sample_every=0, checkpoint_every=0)
    fit(model, get_dataset("synthetic-seasons", size=32, length=4), train)
    assert all(torch.equal(v, dict(model.vgg.named_buffers())[k]) for k, v in vgg_before.items())
    assert all(not torch.equal(a, b) for a, b in zip(dec_before, model.decoder.parameters()))
    assert isinstance(model.lr_multiplier(2, 0), InverseDecay)
    assert model.optimizers["decoder"].param_groups[0]["lr"] == pytest.approx(1e-4 / (1 + 2 * 5e-5))


def test_paper_defaults_and_bad_settings():
    c = Config.paper()
    assert (c.image_size, c.lambda_style, c.lr, c.lr_decay) == (256, 10.0, 1e-4, 5e-5)
    assert (c.train.steps, c.train.batch_size) == (160_000, 8)
    with pytest.raises(ValueError, match="multiple of 8"):
        Config(image_size=36)
    with pytest.raises(ValueError, match=r"alpha .* must be in \[0, 1\]"):
        Config(alpha=1.5)
    assert style_transfer.STYLE_LAYERS == 4


def test_missing_weights_name_the_file_and_say_what_to_do(monkeypatch, tmp_path, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="vgg19-dcbb9e9d.pth") as err:
        AdaINStyleTransfer(Config(image_size=32))
    assert "vgg_weights=PATH" in str(err.value) and str(tmp_path) in str(err.value)
