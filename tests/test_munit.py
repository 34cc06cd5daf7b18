"""MUNIT: the networks, each loss against its equation computed here from the networks, the
reference's defaults, the LR schedule and what a user can do with a trained model.

What every method satisfies (checkpoints, resume, gradients, DDP, the CLI) is in
tests/method_contract.py; this file holds what only MUNIT has."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from coursekit.data import get_dataset
from coursekit.models import munit
from coursekit.models.munit import (ABLATIONS, MUNIT, Config, ContentEncoder, Decoder,
                                    MultiScaleDiscriminator, StyleEncoder)
from coursekit.nn import LayerNorm
from coursekit.train import StepDecay, TrainConfig, fit

TINY = dict(image_size=32, dim=4, n_res=2, mlp_dim=8, ndf=4, d_layers=2)


def tiny(**overrides) -> MUNIT:
    torch.manual_seed(0)
    return munit.build(Config.fast(**{**TINY, **overrides}))


def batch(n=2, size=32):
    ds = get_dataset("synthetic-seasons", size=size, length=n)
    return torch.utils.data.default_collate([ds[i] for i in range(n)])


# ----------------------------------------------------------------------------- presets
def test_paper_preset_is_the_reference_summer2winter_config():
    c = Config.paper()
    assert (c.image_size, c.dim, c.n_downsample, c.n_res, c.style_dim, c.style_downsample,
            c.mlp_dim, c.mlp_blocks, c.padding) == (256, 64, 2, 4, 8, 4, 256, 3, "reflect")
    assert (c.ndf, c.d_layers, c.d_scales, c.gan_mode) == (64, 4, 3, "lsgan")
    assert (c.lambda_gan, c.lambda_x, c.lambda_c, c.lambda_s, c.lambda_cycle, c.lambda_vgg) == (
        1.0, 10.0, 1.0, 1.0, 10.0, 0.0)
    assert (c.lr, c.betas, c.weight_decay) == (1e-4, (0.5, 0.999), 1e-4)
    assert (c.lr_policy, c.lr_step, c.lr_gamma) == ("step", 100_000, 0.5)
    assert (c.train.steps, c.train.batch_size) == (1_000_000, 1)
    assert Config.paper(lambda_cycle=0.0).lambda_cycle == 0.0  # edges2shoes
    fast = Config.fast()
    assert (fast.image_size, fast.dim, fast.n_res, fast.mlp_dim, fast.d_scales) == (32, 16, 2, 64, 2)
    assert Config.course().train.steps > fast.train.steps
    assert munit.DEFAULT_DATA == "synthetic-seasons" and munit.PAIRED is False


def test_paper_networks_have_the_reference_sizes():
    # Parameter counts of NVlabs/MUNIT's AdaINGen and MsImageDis at its default config (dim 64,
    # 4 residual blocks of 256 channels, MLP 8 -> 256 -> 256 -> 4096, 3 scales of 4 layers),
    # added up here layer by layer from the reference's layer lists.
    def conv(c_in, c_out, k):  # weights and bias
        return c_in * c_out * k * k + c_out

    res_blocks = 4 * 2 * conv(256, 256, 3)
    content = conv(3, 64, 7) + conv(64, 128, 4) + conv(128, 256, 4) + res_blocks
    style = (conv(3, 64, 7) + conv(64, 128, 4) + conv(128, 256, 4) + 2 * conv(256, 256, 4)
             + conv(256, 8, 1))
    adain = 2 * 2 * 256 * 4  # a (mean, std) of 256 per AdaIN layer, two layers per block
    mlp = (8 * 256 + 256) + (256 * 256 + 256) + (256 * adain + adain)
    upsample = conv(256, 128, 5) + 2 * 128 + conv(128, 64, 5) + 2 * 64  # + LayerNorm's gamma, beta
    decoder = res_blocks + mlp + upsample + conv(64, 3, 7)
    discriminator = 3 * (conv(3, 64, 4) + conv(64, 128, 4) + conv(128, 256, 4)
                         + conv(256, 512, 4) + conv(512, 1, 1))
    m = munit.build(Config.paper())
    count = {k: sum(p.numel() for p in v.parameters()) for k, v in m.networks().items()}
    assert count["Ec_A"] == content == 5_385_856 and count["Es_A"] == style
    assert count["G_A"] == decoder and count["D_A"] == discriminator
    assert {k[:-2] for k in count} == {"Ec", "Es", "G", "D"} and len(count) == 8


def test_ablations_switch_off_one_term_each():
    assert ABLATIONS == {"no_image_recon": {"lambda_x": 0.0}, "no_content_recon": {"lambda_c": 0.0},
                         "no_style_recon": {"lambda_s": 0.0}, "no_cycle": {"lambda_cycle": 0.0}}
    c = Config.ablation("no_style_recon")
    assert c.lambda_s == 0.0 and c.lambda_c == 1.0 and c.image_size == Config.fast().image_size
    with pytest.raises(ValueError, match="unknown ablation 'no_gan'.*no_cycle"):
        Config.ablation("no_gan")


@pytest.mark.parametrize("kwargs, match", [
    (dict(image_size=40), "multiple of 16"),
    # 3 scales x 4 stride-2 layers need 2**4 * 2**2 = 64 px.
    (dict(image_size=32, d_layers=4, d_scales=3), "at least 64 px"),
    (dict(lambda_s=-1.0), "must be >= 0"),
    (dict(lr_policy="cosine"), "'step' or 'linear'"),
    (dict(padding="circular"), "unknown padding"),
])
def test_bad_settings_say_what_to_change(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Config.fast(**kwargs)


# ----------------------------------------------------------------------------- networks
def test_content_code_ignores_the_input_brightness_and_contrast():
    # Instance norm after the first conv: a*x + b (a > 0) gives a*conv(x) + const per channel
    # (reflect padding repeats the constant), which IN maps to IN(conv(x)). So the content
    # code cannot carry global brightness or contrast, which are the style's.
    torch.manual_seed(0)
    enc = ContentEncoder(3, dim=8, n_downsample=2, n_res=1)
    x = batch(2)["A"]
    a, b = enc(x), enc(0.4 * x + 0.3)
    # Only IN's eps (1e-5 under the square root) tells the two apart, most in channels of small
    # variance: measured 0.0012 mean, 0.0095 at most, on a code of mean magnitude 0.95.
    assert (a - b).abs().mean() < 0.01 and (a - b).abs().max() < 0.05
    assert (a - enc(x.flip(-1))).abs().mean() > 0.5  # the layout does matter (measured 1.2)


def test_style_encoder_has_no_normalisation_and_pools_globally():
    torch.manual_seed(0)
    enc = StyleEncoder(3, dim=8, style_dim=5, n_downsample=4)
    norms = (nn.InstanceNorm2d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, LayerNorm)
    assert not [m for m in enc.modules() if isinstance(m, norms)]
    assert isinstance(enc.model[-2], nn.AdaptiveAvgPool2d) and enc.model[-1].kernel_size == (1, 1)
    x = batch(2)["B"]
    s = enc(x)
    assert s.shape == (2, 5)
    # Without normalisation the code sees brightness: a darker image gets another code.
    assert (enc(0.5 * x - 0.5) - s).abs().max() > 1e-3
    # One code per image, whatever else is in the batch.
    assert torch.allclose(enc(x[:1]), s[:1], atol=1e-6)


def test_adain_params_are_split_per_layer_in_order_mean_first():
    torch.manual_seed(0)
    dec = Decoder(3, dim=2, n_upsample=2, n_res=2, style_dim=3, mlp_dim=4)
    width = 8  # 2 * 2**2
    assert dec.num_adain_params == 2 * 2 * width * 2
    with torch.no_grad():  # the MLP's output becomes 0, 1, 2, ... for any style
        dec.mlp[-1].weight.zero_()
        dec.mlp[-1].bias.copy_(torch.arange(dec.num_adain_params, dtype=torch.float32))
    pairs = dec.adain_params(torch.randn(2, 3))
    assert len(pairs) == 4  # 2 blocks x 2 AdaIN layers
    for k, (mean, std) in enumerate(pairs):
        start = 2 * width * k
        assert torch.equal(mean[1], torch.arange(start, start + width, dtype=torch.float32))
        assert torch.equal(std[1], torch.arange(start + width, start + 2 * width,
                                                dtype=torch.float32))


def test_adain_block_uses_the_std_as_it_is_and_the_residual():
    torch.manual_seed(0)
    block = munit.AdaINResBlock(4)
    x = torch.randn(2, 4, 8, 8)
    zero = torch.zeros(2, 4)
    # std 0 and mean 0: both AdaIN layers output 0, the block passes x through.
    assert torch.equal(block(x, [(zero, zero), (zero, zero)]), x)
    mean1, std1, mean2, std2 = (torch.randn(2, 4) for _ in range(4))
    h = block.conv1(x)
    h = F.relu(F.instance_norm(h, eps=1e-5) * std1[..., None, None] + mean1[..., None, None])
    h = block.conv2(h)
    want = x + F.instance_norm(h, eps=1e-5) * std2[..., None, None] + mean2[..., None, None]
    got = block(x, [(mean1, std1), (mean2, std2)])
    assert torch.allclose(got, want, atol=1e-6)


def test_decoder_upsamples_with_layer_norm_and_ends_in_tanh():
    dec = Decoder(3, dim=4, n_upsample=2, n_res=1, style_dim=8, mlp_dim=8)
    assert sum(isinstance(m, LayerNorm) for m in dec.upsample.modules()) == 2
    assert sum(isinstance(m, nn.Upsample) for m in dec.upsample.modules()) == 2
    assert isinstance(dec.upsample[-1][-1], nn.Tanh)
    y = dec(torch.randn(3, 16, 8, 8), torch.randn(3, 8))
    assert y.shape == (3, 3, 32, 32) and y.abs().max() <= 1
    with pytest.raises(ValueError, match=r"one style code per content code, \(3, 8\)"):
        dec(torch.randn(3, 16, 8, 8), torch.randn(8))


def test_discriminator_scales_share_widths_and_downsample_by_mean():
    d = MultiScaleDiscriminator(3, ndf=4, n_layers=3, num_scales=2)
    widths = [[m.out_channels for m in s.modules() if isinstance(m, nn.Conv2d)] for s in d.scales]
    assert widths == [[4, 8, 16, 1], [4, 8, 16, 1]]  # not halved at the coarser scale
    assert not [m for m in d.modules() if isinstance(m, (nn.InstanceNorm2d, nn.BatchNorm2d))]
    out = d(torch.randn(2, 3, 32, 32))
    assert [o.shape for o in out] == [(2, 1, 4, 4), (2, 1, 2, 2)]
    # The coarser scale sees a 3x3-mean 2x-downsampled copy: a constant image stays constant.
    x = torch.full((1, 3, 32, 32), 0.3)
    assert torch.allclose(d.down(x), torch.full((1, 3, 16, 16), 0.3))


# ----------------------------------------------------------------------------- losses
def test_generator_losses_are_eq_1_to_5_with_the_sampled_style_and_own_style_cycle():
    m = tiny()
    b = batch()
    x_a, x_b = b["A"], b["B"]
    torch.manual_seed(7)
    got = m.generator_losses(x_a, x_b)
    # The same draws, in the same order: s_a, then s_b.
    torch.manual_seed(7)
    s_a, s_b = torch.randn(2, 8), torch.randn(2, 8)
    c_a, c_b = m.Ec_A(x_a), m.Ec_B(x_b)
    own_a, own_b = m.Es_A(x_a), m.Es_B(x_b)
    x_ab, x_ba = m.G_B(c_a, s_b), m.G_A(c_b, s_a)
    l1 = lambda u, v: (u - v).abs().mean()  # noqa: E731
    lsgan = lambda outs: sum(((o - 1) ** 2).mean() for o in outs)  # noqa: E731  summed scales
    want = {
        "recon_x_A": l1(m.G_A(c_a, own_a), x_a), "recon_x_B": l1(m.G_B(c_b, own_b), x_b),
        "recon_c_A": l1(m.Ec_B(x_ab), c_a), "recon_c_B": l1(m.Ec_A(x_ba), c_b),
        # Eq. 3: against the code each translation was decoded with, not an encoded one.
        "recon_s_A": l1(m.Es_A(x_ba), s_a), "recon_s_B": l1(m.Es_B(x_ab), s_b),
        # The cycle goes back with the source's own (encoded) style.
        "cycle_A": l1(m.G_A(m.Ec_B(x_ab), own_a), x_a),
        "cycle_B": l1(m.G_B(m.Ec_A(x_ba), own_b), x_b),
        # The GAN judges the translations, each by its target domain's D.
        "gan_A": lsgan(m.D_A(x_ba)), "gan_B": lsgan(m.D_B(x_ab)),
    }
    for key, value in want.items():
        assert got[key].item() == pytest.approx(value.item(), rel=1e-5, abs=1e-7), key
    total = (want["gan_A"] + want["gan_B"] + 10 * (want["recon_x_A"] + want["recon_x_B"])
             + want["recon_c_A"] + want["recon_c_B"] + want["recon_s_A"] + want["recon_s_B"]
             + 10 * (want["cycle_A"] + want["cycle_B"]))
    assert got["G"].item() == pytest.approx(total.item(), rel=1e-5)


def test_discriminator_loss_is_lsgan_summed_over_scales_and_not_halved():
    m = tiny()
    b = batch()
    torch.manual_seed(3)
    got = m.discriminator_losses(b["A"], b["B"])
    torch.manual_seed(3)
    with torch.no_grad():
        x_ba = m.G_A(m.Ec_B(b["B"]), torch.randn(2, 8))
        x_ab = m.G_B(m.Ec_A(b["A"]), torch.randn(2, 8))

    def lsgan(d, real, fake):
        return sum(((r - 1) ** 2).mean() + (f ** 2).mean() for r, f in zip(d(real), d(fake)))

    assert got["D_A"].item() == pytest.approx(lsgan(m.D_A, b["A"], x_ba).item(), rel=1e-6)
    assert got["D_B"].item() == pytest.approx(lsgan(m.D_B, b["B"], x_ab).item(), rel=1e-6)
    assert got["D"].item() == pytest.approx((got["D_A"] + got["D_B"]).item(), rel=1e-6)


def test_switched_off_terms_are_zero_and_left_out_of_the_total():
    m = tiny(lambda_c=0.0, lambda_cycle=0.0)
    b = batch()
    got = m.generator_losses(b["A"], b["B"])
    assert got["recon_c_A"].item() == got["cycle_B"].item() == 0.0
    total = (got["gan_A"] + got["gan_B"] + 10 * (got["recon_x_A"] + got["recon_x_B"])
             + got["recon_s_A"] + got["recon_s_B"])
    assert got["G"].item() == pytest.approx(total.item(), rel=1e-6)
    assert "D" not in tiny(lambda_gan=0.0).configure_optimizers()


def test_one_step_updates_d_then_the_encoders_and_decoders_with_weight_decay():
    m = tiny()
    opts = m.configure_optimizers()
    g_params = {id(p) for g in opts["G"].param_groups for p in g["params"]}
    gens = [getattr(m, f"{n}_{s}") for s in "AB" for n in ("Ec", "Es", "G")]
    assert g_params == {id(p) for net in gens for p in net.parameters()}
    assert all(g["weight_decay"] == 1e-4 and g["betas"] == (0.5, 0.999) for g in opts["G"].param_groups)
    assert {id(p) for g in opts["D"].param_groups for p in g["params"]} == {
        id(p) for net in (m.D_A, m.D_B) for p in net.parameters()}
    losses = m.training_step(batch())
    assert {"D", "D_A", "D_B", "G", "recon_s_A", "cycle_B"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())


# ----------------------------------------------------------------------------- schedule
def test_step_decay_halves_the_rate_every_step_size_steps_and_resumes(tmp_path):
    rule = StepDecay(3, 0.5)
    assert [rule(t) for t in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    with pytest.raises(ValueError, match="gamma"):
        StepDecay(3, 1.5)
    m = tiny(lr_policy="step", lr_step=2, lr_gamma=0.5)
    train = TrainConfig(steps=5, batch_size=2, out_dir=str(tmp_path / "run"), progress=False,
                        sample_every=0, checkpoint_every=0, log_every=1)
    fit(m, get_dataset("synthetic-seasons", size=32, length=4), train)
    # After 5 steps (t = 0..4) the schedulers stand at t = 5: 4e-4 * 0.5**2.
    assert [g["lr"] for g in m.optimizers["G"].param_groups] == [pytest.approx(1e-4)]
    assert isinstance(m.lr_multiplier(5, 0), StepDecay)
    assert type(tiny().lr_multiplier(5, 2)).__name__ == "LinearDecay"  # the fast preset


# ----------------------------------------------------------------------------- inference
def test_translate_decodes_the_content_with_the_chosen_style():
    m = tiny().eval()
    b = batch(3)
    x, ref = b["A"], b["B"]
    with torch.no_grad():
        c = m.Ec_A(x)
        zero = m.G_B(c, torch.zeros(3, 8))
        like = m.G_B(c, m.Es_B(ref))
        one = m.G_B(c, m.Es_B(ref[:1]).expand(3, -1))
    assert torch.equal(m.translate(x), zero)  # default: the code 0
    assert torch.equal(m.translate_like(x, ref), like)  # one reference per input
    assert torch.equal(m.translate_like(x, ref[:1]), one)  # one reference for all
    torch.manual_seed(1)
    s = torch.randn(3, 8)
    torch.manual_seed(1)
    assert torch.equal(m.sample(x), m.translate(x, "AtoB", s))
    back = m.translate(ref, "BtoA", torch.ones(8))
    assert back.shape == ref.shape
    with pytest.raises(ValueError, match="direction must be 'AtoB' or 'BtoA'"):
        m.translate(x, "AtoA")


def test_perceptual_loss_compares_instance_normalised_vgg_features(vgg_file):
    from coursekit.nn import VGGFeatures

    m = tiny(lambda_vgg=1.0, vgg_weights=str(vgg_file))
    b = batch()
    x = b["A"]
    assert m.perceptual_loss(x, x).item() == 0.0
    fa, fb = VGGFeatures(vgg_file)(torch.cat([x, b["B"]]))[-1].chunk(2)
    want = ((F.instance_norm(fa) - F.instance_norm(fb)) ** 2).mean()
    assert m.perceptual_loss(x, b["B"]).item() == pytest.approx(want.item(), rel=1e-5)
    got = m.generator_losses(x, b["B"])
    assert got["vgg_A"].item() > 0 and got["vgg_B"].item() > 0
    assert set(m.networks()) == {f"{n}_{s}" for s in "AB" for n in ("Ec", "Es", "G", "D")}
    assert not [k for k in m.state_dict() if "vgg" in k]  # frozen, never saved
    assert m.config.for_inference().lambda_vgg == 0.0


def test_missing_vgg_weights_name_the_file_and_the_way_out(monkeypatch, tmp_path, no_network):
    from coursekit.data.standard_metrics import MissingWeightsError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="vgg19-dcbb9e9d.pth") as err:
        tiny(lambda_vgg=1.0)
    assert "lambda_vgg=0" in str(err.value) and str(tmp_path) in str(err.value)


# ----------------------------------------------------------------------------- real data
def test_trains_and_scores_on_folders_laid_out_as_summer2winter_and_edges2shoes(tmp_path, capsys):
    import json

    import numpy as np
    from PIL import Image

    from coursekit.cli import main

    root = tmp_path / "summer2winter_yosemite"
    rng = np.random.default_rng(0)
    for split, n in (("trainA", 3), ("trainB", 2), ("testA", 2), ("testB", 2)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)  # not square, not 32 px
            Image.fromarray(pixels).save(root / split / f"{i}.jpg")
    run = tmp_path / "run"
    assert main(["train", "munit", "--data", str(root), "--steps", "2", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["eval", "munit", "--checkpoint", str(run / "latest.pt"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    # No ground truth for real photos: only what needs none, the spread of random styles.
    assert set(scores) == {"AtoB_diversity", "BtoA_diversity"}
    assert all(0.0 < v < 2.0 for v in scores.values())

    # edges2shoes comes as pix2pix's aligned A|B images: MUNIT takes its two sides as two domains.
    aligned = tmp_path / "edges2shoes"
    for split, n in (("train", 3), ("val", 2)):
        (aligned / split).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)  # A | B, 32 px each
            Image.fromarray(pixels).save(aligned / split / f"{i}.jpg")
    run = tmp_path / "run2"
    assert main(["train", "munit", "--data", str(aligned), "--steps", "2", "--out", str(run),
                 "--set", "lambda_cycle=0"]) == 0  # the reference's edges2shoes setting
    capsys.readouterr()
    assert main(["eval", "munit", "--checkpoint", str(run / "latest.pt"), "--split", "val",
                 "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"AtoB_diversity", "BtoA_diversity"}
