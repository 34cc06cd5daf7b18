"""The pix2pix method itself: objective, one training step, directions, presets, test-time mode.

Expected values come from the paper's formulas written out here (softplus forms of the
cross-entropy), never from coursekit's own loss code.
"""
from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F

from coursekit.data import get_dataset
from coursekit.models.pix2pix import Config, Pix2Pix
from coursekit.train import TrainConfig, fit


def tiny(**overrides) -> Pix2Pix:
    """A 32 px pix2pix small enough for unit tests (ngf=ndf=8, 5-level U-Net)."""
    torch.manual_seed(0)
    cfg = Config.fast(**{"image_size": 32, "num_downs": 5, "ngf": 8, "ndf": 8, **overrides})
    return Pix2Pix(cfg)


def batch(n: int = 2, size: int = 32, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"A": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
            "B": torch.rand(n, 3, size, size, generator=g) * 2 - 1}


def test_paper_preset_has_the_published_settings():
    c = Config.paper()
    # pix2pix §3.3 and the defaults of junyanz/pytorch-CycleGAN-and-pix2pix.
    assert (c.image_size, c.ngf, c.ndf, c.num_downs, c.d_layers) == (256, 64, 64, 8, 3)
    assert (c.lambda_l1, c.lr, c.betas, c.norm, c.gan_mode) == (100.0, 2e-4, (0.5, 0.999), "batch", "vanilla")
    assert (c.train.batch_size, c.train.epochs, c.train.epochs_decay) == (1, 100, 100)
    assert c.dropout == 0.5 and c.conditional_d and c.skips


def test_discriminator_loss_is_half_the_cross_entropy_of_real_and_fake_pairs():
    m = tiny()
    b = batch()
    x, y = b["A"], b["B"]
    fake = m.G(x)
    real_logits = m.D(torch.cat([x, y], 1))
    fake_logits = m.D(torch.cat([x, fake.detach()], 1))
    # -log sigmoid(d) = softplus(-d);  -log(1 - sigmoid(d)) = softplus(d)
    expected = 0.5 * (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())
    assert torch.allclose(m.discriminator_loss(x, y, fake), expected, rtol=1e-5, atol=1e-6)


def test_generator_loss_is_non_saturating_gan_plus_100_l1():
    m = tiny()
    b = batch()
    x, y = b["A"], b["B"]
    fake = m.G(x)
    logits = m.D(torch.cat([x, fake], 1))
    gan = F.softplus(-logits).mean()
    l1 = (fake - y).abs().mean()
    losses = m.generator_loss(x, y, fake)
    assert torch.allclose(losses["G_gan"], gan, rtol=1e-5)
    assert torch.allclose(losses["G_l1"], l1, rtol=1e-5)
    assert torch.allclose(losses["G"], gan + 100 * l1, rtol=1e-5)


def test_discriminator_is_conditional_on_the_input():
    m = tiny()
    m.eval()
    b = batch()
    y = b["B"]
    with torch.no_grad():
        d1 = m.discriminate(b["A"], y)
        d2 = m.discriminate(-b["A"], y)
    assert m.D.model[0].in_channels == 6  # input and output concatenated (Eq. 1)
    assert not torch.allclose(d1, d2)
    unconditional = tiny(conditional_d=False)
    unconditional.eval()
    with torch.no_grad():
        assert torch.equal(unconditional.discriminate(b["A"], y), unconditional.discriminate(-b["A"], y))


def _grads(module):
    return {n: (p.grad.clone() if p.grad is not None else None) for n, p in module.named_parameters()}


def test_training_step_gives_d_only_its_own_gradient_and_g_only_its_own():
    """D's gradient after a step must be that of D's loss alone (G's update must not leak into
    D through a forgotten freeze), and the D step must not reach G (G(x) detached)."""
    m = tiny()
    reference = copy.deepcopy(m)
    b = batch()
    torch.manual_seed(5)
    m.training_step(b)  # optimizers are created on first use outside fit

    torch.manual_seed(5)  # same dropout masks
    x, y = b["A"], b["B"]
    fake = reference.G(x)
    reference.discriminator_loss(x, y, fake).backward()
    assert all(p.grad is None for p in reference.G.parameters()), "the D loss reached G"
    want_d = _grads(reference.D)
    reference.D.zero_grad(set_to_none=True)
    # (G's gradient is not compared: pix2pix steps D first, so G's loss sees the updated D.)
    got_d = _grads(m.D)
    for name, g in want_d.items():
        assert torch.allclose(got_d[name], g, rtol=1e-4, atol=1e-7), name
    # And both networks moved.
    for net in ("G", "D"):
        before = dict(getattr(reference, net).named_parameters())
        moved = any(not torch.equal(p, before[n]) for n, p in getattr(m, net).named_parameters())
        assert moved, f"{net} was not updated"


def test_l1_only_ablation_never_builds_or_steps_a_discriminator_optimizer():
    m = tiny(lambda_gan=0.0)
    assert set(m.configure_optimizers()) == {"G"}
    d_before = copy.deepcopy(m.D.state_dict())
    losses = m.training_step(batch())
    assert "D" not in losses
    assert all(torch.equal(v, d_before[k]) for k, v in m.D.state_dict().items())


def test_l1_only_run_through_fit_raises_no_warning(tmp_path):
    m = tiny(lambda_gan=0.0)
    data = get_dataset("synthetic-facades", size=32, length=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "lr_scheduler.step() before optimizer.step()"
        fit(m, data, TrainConfig(steps=3, batch_size=2, out_dir=str(tmp_path), sample_every=0,
                                 checkpoint_every=0, log_every=1, progress=False))


def test_direction_picks_the_input_side():
    b = batch()
    x, y = tiny(direction="BtoA").inputs_and_targets(b)
    assert x is b["B"] and y is b["A"]
    x, y = tiny().inputs_and_targets(b)
    assert x is b["A"] and y is b["B"]


def test_paper_test_mode_keeps_dropout_and_leaves_running_statistics_alone():
    # 64 px with 6 levels: one decoder layer has dropout (a 5-level U-Net has none, as in the
    # reference, whose dropout sits only in the 8*ngf layers between the 5th level and the bottleneck).
    m = tiny(image_size=64, num_downs=6)
    x = batch(size=64)["A"]
    stats = {k: v.clone() for k, v in m.G.state_dict().items() if "running" in k}
    torch.manual_seed(0)
    a = m.translate(x)
    b = m.translate(x)
    assert not torch.allclose(a, b), "dropout should be active at test time (pix2pix §3.3)"
    assert all(torch.equal(m.G.state_dict()[k], v) for k, v in stats.items())
    assert m.G.training  # restored
    plain = tiny(image_size=64, num_downs=6, paper_test_mode=False)
    assert torch.equal(plain.translate(x), plain.translate(x))


@pytest.mark.parametrize("kwargs, message", [
    (dict(image_size=48, num_downs=5), "divisible by 32"),
    (dict(direction="sideways"), "AtoB"),
])
def test_config_errors_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Config.fast(**kwargs)


def test_wrong_channel_count_is_a_clear_error():
    m = tiny()
    with pytest.raises(ValueError, match="channel"):
        m.translate(torch.zeros(1, 1, 32, 32))


def test_resnet_generator_option_builds_the_pix2pixhd_like_generator():
    from coursekit.nn import ResnetGenerator

    m = Pix2Pix(Config.fast(image_size=32, generator="resnet", norm="instance", n_blocks=2,
                            ngf=4, ndf=4))
    assert isinstance(m.G, ResnetGenerator) and m.G.n_blocks == 2
    assert any(isinstance(x, torch.nn.InstanceNorm2d) for x in m.G.modules())
    assert m.G(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="generator must be 'unet' or 'resnet'"):
        Config.fast(generator="vit")
    with pytest.raises(ValueError, match="multiple of 4"):
        Config.fast(generator="resnet", image_size=66)
