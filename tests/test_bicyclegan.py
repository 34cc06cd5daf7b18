"""BicycleGAN's own rules (the method contract, tests/method_contract.py, covers what every
method shares): the loss equations against hand-computed values, the frozen encoder of the
latent regression, the batch split, where z enters, the encoder at any size, the presets."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from coursekit.data import get_dataset
from coursekit.models import bicyclegan
from coursekit.models.bicyclegan import ABLATIONS, BicycleGAN, Config
from coursekit.nn import (GANLoss, MultiScalePatchGAN, ResnetEncoder, UNetGenerator, kl_divergence,
                          reparameterize)
from coursekit.train import TrainConfig, seed_everything

TINY = dict(image_size=32, num_downs=5, ngf=4, nef=4, e_blocks=2, ndf=4, d_layers=1)


def tiny(seed: int = 0, **overrides) -> BicycleGAN:
    seed_everything(seed)
    return bicyclegan.build(Config.fast(**{**TINY, **overrides}))


def batch(n: int = 4, size: int = 32) -> dict:
    data = get_dataset("synthetic-facades", split="train", size=size, length=n)
    return torch.utils.data.default_collate([data[i] for i in range(n)])


# ----------------------------------------------------------------------------- the latent parts
def test_kl_is_summed_over_batch_and_dimensions():
    # KL(N(mu, s^2) || N(0, 1)) = (mu^2 + s^2 - 1 - log s^2) / 2 per dimension, by hand:
    mu = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [0.0, 0.0]])
    by_hand = 0.5 * 1 + 0.5 * (4 - 1 - math.log(4)) + 0 + 0.5 * 4
    assert kl_divergence(mu, logvar).item() == pytest.approx(by_hand, rel=1e-6)
    assert kl_divergence(torch.zeros(3, 8), torch.zeros(3, 8)).item() == 0.0


def test_reparameterize_draws_one_eps_per_image_and_dimension():
    torch.manual_seed(0)
    mu, logvar = torch.full((20000, 2), 3.0), torch.full((20000, 2), math.log(0.25))
    z = reparameterize(mu, logvar)
    # 20000 draws: the standard error of the mean is 0.5 / sqrt(20000) = 0.0035.
    assert z.mean().item() == pytest.approx(3.0, abs=0.02)
    assert z.std().item() == pytest.approx(0.5, abs=0.02)
    assert not torch.equal(z[0], z[1]) and not torch.equal(z[:, 0], z[:, 1])  # eps not shared
    mu.requires_grad_(True)
    reparameterize(mu, logvar).sum().backward()
    assert torch.equal(mu.grad, torch.ones_like(mu))  # dz/dmu = 1: gradients reach E


def test_the_encoder_works_at_any_size_its_blocks_divide():
    E = ResnetEncoder(3, nz=8, nef=4, n_blocks=3)
    for size in (16, 32, 48, 64, 128, 256):
        mu, logvar = E(torch.randn(2, 3, size, size))
        assert mu.shape == logvar.shape == (2, 8)
    with pytest.raises(ValueError, match="multiples of 16"):
        E(torch.randn(1, 3, 40, 40))


def test_z_enters_every_encoder_layer_or_only_the_input():
    x = torch.randn(2, 3, 32, 32)
    for inject, layers_with_z in (("all", 5), ("input", 1)):
        G = UNetGenerator(3, 3, num_downs=5, ngf=4, norm="instance", nz=8, inject=inject)
        widths = [3, 4, 8, 16, 32]  # each layer's input channels without z
        extra = [layer[-1].in_channels - w if isinstance(layer[-1], torch.nn.Conv2d)
                 else layer[1].in_channels - w for layer, w in zip(G.down, widths)]
        assert sum(e == 8 for e in extra) == layers_with_z and set(extra) <= {0, 8}, extra
        z1, z2 = torch.zeros(2, 8), torch.ones(2, 8)
        assert not torch.allclose(G(x, z1), G(x, z2))
    with pytest.raises(ValueError, match=r"latent code z of shape \(2, 8\)"):
        G(x)
    with pytest.raises(ValueError, match="without a latent code"):
        UNetGenerator(3, 3, num_downs=5, ngf=4)(x, torch.zeros(2, 8))


def test_multiscale_patchgan_judges_a_downsampled_copy_with_half_the_filters():
    D = MultiScalePatchGAN(3, ndf=8, n_layers=1, num_scales=2, norm="instance")
    logits = D(torch.randn(2, 3, 32, 32))
    assert [tuple(t.shape) for t in logits] == [(2, 1, 14, 14), (2, 1, 6, 6)]
    assert D.scales[0].model[0].out_channels == 8 and D.scales[1].model[0].out_channels == 4
    # The 3x3 mean ignores the zero padding: a constant image stays constant at the border.
    assert torch.allclose(D.down(torch.full((1, 1, 8, 8), 0.7)), torch.full((1, 1, 4, 4), 0.7))


def test_the_discriminator_loss_is_real_plus_fake_summed_over_scales():
    loss = GANLoss("lsgan", d_scale=1.0, scales="sum")
    real = [torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 1, 1), 1.0)]
    fake = [torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 1, 1), -1.0)]
    # scale 0: (0.5-1)^2 + 0.5^2 = 0.5; scale 1: (1-1)^2 + (-1)^2 = 1; summed, not halved.
    assert loss.discriminator(real, fake).item() == pytest.approx(1.5)
    assert loss.generator(fake).item() == pytest.approx(0.25 + 4.0)
    assert GANLoss("lsgan").discriminator(real, fake).item() == pytest.approx(0.5 * 0.75)


# ----------------------------------------------------------------------------- the training step
def test_the_latent_regression_trains_G_and_not_E():
    m = tiny()
    x, y = m.inputs_and_targets(batch(2))
    for updates_E in (False, True):
        m.config.latent_updates_E = updates_E
        parts = m.forward_halves(x[:1], y[:1])
        m.zero_grad(set_to_none=True)
        m.generator_loss(x[:1], y[:1], parts)["z_l1"].backward()
        e_grads = [p.grad for p in m.E.mu.parameters()]
        assert all(p.grad is not None for p in m.G.parameters())
        if updates_E:
            assert all(g is not None and g.abs().sum() > 0 for g in e_grads)
        else:
            assert all(g is None for g in e_grads), "Eq. 7 must not train E (the reference)"
        assert all(p.requires_grad for p in m.E.parameters())  # unfrozen afterwards


def test_the_generator_loss_adds_the_weighted_terms_of_eq_8():
    m = tiny(lambda_l1=3.0, lambda_gan=2.0, lambda_gan2=5.0, lambda_z=7.0, lambda_kl=0.1)
    x, y = m.inputs_and_targets(batch(2))
    torch.manual_seed(1)
    parts = m.forward_halves(x[:1], y[:1])
    loss = m.generator_loss(x[:1], y[:1], parts)
    assert loss["G_l1"].item() == pytest.approx(F.l1_loss(parts["fake_enc"], y[:1]).item())
    assert loss["kl"].item() == pytest.approx(kl_divergence(parts["mu"], parts["logvar"]).item())
    mu2 = m.E(parts["fake_rand"])[0]
    assert loss["z_l1"].item() == pytest.approx((mu2 - parts["z_rand"]).abs().mean().item(), rel=1e-5)
    by_hand = (2 * loss["G_gan"] + 3 * loss["G_l1"] + 0.1 * loss["kl"] + 5 * loss["G_gan2"]
               + 7 * loss["z_l1"])
    assert loss["G"].item() == pytest.approx(by_hand.item(), rel=1e-6)


def test_D2_sees_the_second_half_real_and_the_first_half_random_code_outputs():
    m = tiny()
    b = batch(4)
    seen: dict[str, list] = {"D": [], "D2": []}
    for name in seen:
        getattr(m, name).register_forward_hook(lambda mod, args, out, n=name: seen[n].append(args[0]))
    m.training_step(b)
    # G/E's step: D on fake_enc, D2 on fake_rand (2 images each); then D: real y1, fake; D2:
    # real y2, fake.
    assert len(seen["D"]) == 3 and len(seen["D2"]) == 3
    assert torch.equal(seen["D"][1], b["B"][:2]) and torch.equal(seen["D2"][1], b["B"][2:])
    assert torch.equal(seen["D2"][2], seen["D2"][0].detach())  # the same fakes, detached


def test_an_odd_batch_is_refused_when_configured_and_when_stepping():
    with pytest.raises(ValueError, match="batch_size must be even.*batch_size=4"):
        Config.fast(train=TrainConfig(steps=1, batch_size=3))
    with pytest.raises(ValueError, match="even batch"):
        tiny().training_step(batch(3))


def test_bad_settings_say_how_to_fix_them():
    with pytest.raises(ValueError, match="num_downs=5"):
        Config.fast(image_size=96)
    with pytest.raises(ValueError, match="fewer e_blocks"):
        Config.fast(image_size=64, e_blocks=6)
    with pytest.raises(ValueError, match="fewer d_layers or d_scales"):
        Config.fast(image_size=32, num_downs=5, e_blocks=2, d_layers=3)
    with pytest.raises(ValueError, match="loss weights must be >= 0"):
        Config.fast(lambda_z=-1)


def test_each_ablation_trains_only_its_networks():
    want = {"pix2pix+noise": {"G", "D"}, "cvae_gan": {"G", "E", "D"},
            "clr_gan": {"G", "E", "D2"}, "bicyclegan": {"G", "E", "D", "D2"}}
    assert set(ABLATIONS) == set(want)
    for name, overrides in ABLATIONS.items():
        m = tiny(**overrides)
        assert set(m.optimizers) == want[name], name
        losses = m.training_step(batch(2))
        assert all(torch.isfinite(v) for v in losses.values()), name


def test_samples_differ_with_z_and_the_encoded_code_is_the_encoders_mean():
    m = tiny()
    x, y = m.inputs_and_targets(batch(2))
    torch.manual_seed(0)
    assert not torch.allclose(m.sample(x), m.sample(x))
    assert torch.equal(m.translate(x), m.generate(x, torch.zeros(2, 8)))
    assert torch.equal(m.reconstruct(x, y), m.generate(x, m.E(y)[0].detach()))
    assert torch.equal(m.translate(x), m.translate(x))  # eval mode: no dropout, z is the noise


def test_presets():
    paper = Config.paper()
    assert (paper.nz, paper.lambda_l1, paper.lambda_kl, paper.lambda_z, paper.gan_mode) == \
        (8, 10.0, 0.01, 0.5, "lsgan")
    assert (paper.train.batch_size, paper.train.epochs, paper.train.epochs_decay) == (2, 100, 100)
    assert (paper.inject, paper.d_scales, paper.conditional_d, paper.norm) == \
        ("all", 2, False, "instance")
    fast = Config.fast()
    assert fast.image_size == 64 and fast.train.batch_size % 2 == 0
    BicycleGAN(fast)  # builds
