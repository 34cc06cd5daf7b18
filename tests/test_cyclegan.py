"""CycleGAN: the objective against hand-computed values, the alternating step, the pools,
the ablations and the fast preset's learning. What every method satisfies (checkpoint round
trip with the pools, gradients, no lazy modules, outputs, exact resume pools included, the
command line) is checked by tests/method_contract.py.

Expected values are worked out here from the paper's formulas (Eq. 3.1-3.4, LSGAN, identity),
never taken from coursekit's own loss code.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from coursekit.data import get_dataset
from coursekit.models.cyclegan import (ABLATIONS, Config, CycleGAN, cycle_loss, identity_loss)
from coursekit.train import TrainConfig, fit, seed_everything

NETS = ("G_AB", "G_BA", "D_A", "D_B")


def tiny(**overrides) -> CycleGAN:
    """A 32 px CycleGAN small enough for unit tests."""
    seed_everything(0)
    values = {"image_size": 32, "ngf": 4, "n_blocks": 1, "ndf": 4, "d_layers": 1, **overrides}
    return CycleGAN(Config.fast(**values))


def batch(n: int = 2, size: int = 32, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"A": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
            "B": torch.rand(n, 3, size, size, generator=g) * 2 - 1}


class Affine(nn.Module):
    """x -> scale * x + shift: a generator whose outputs can be worked out by hand."""

    def __init__(self, scale: float, shift: float):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale))
        self.shift = shift

    def forward(self, x):
        return self.scale * x + self.shift


class MeanLogit(nn.Module):
    """A discriminator whose one logit per image is the image's mean plus ``offset``."""

    def __init__(self, offset: float):
        super().__init__()
        self.offset = nn.Parameter(torch.tensor(offset))

    def forward(self, x):
        return x.mean(dim=(1, 2, 3), keepdim=True) + self.offset


def hand_model(**overrides) -> CycleGAN:
    m = tiny(pool_size=0, **overrides)
    m.G_AB, m.G_BA = Affine(0.5, 0.1), Affine(2.0, 0.0)
    m.D_A, m.D_B = MeanLogit(0.0), MeanLogit(0.3)
    return m


def constant_batch() -> dict:
    return {"A": torch.full((1, 3, 8, 8), 0.2), "B": torch.full((1, 3, 8, 8), -0.4)}


# ------------------------------------------------------------------------------------ presets
def test_paper_preset_has_the_published_settings():
    c = Config.paper()
    # Thesis §3.2.4 and the defaults of junyanz/pytorch-CycleGAN-and-pix2pix.
    assert (c.image_size, c.ngf, c.n_blocks, c.ndf, c.d_layers) == (256, 64, 9, 64, 3)
    assert (c.gan_mode, c.norm, c.lr, c.betas) == ("lsgan", "instance", 2e-4, (0.5, 0.999))
    assert (c.lambda_cycle_A, c.lambda_cycle_B, c.lambda_identity, c.pool_size) == (10, 10, 0.5, 50)
    assert (c.train.batch_size, c.train.epochs, c.train.epochs_decay) == (1, 100, 100)
    m = CycleGAN(Config.paper(image_size=128, n_blocks=6))
    n = sum(p.numel() for p in m.G_AB.parameters())
    assert n == 7_837_699  # resnet_6blocks, hand-counted in test_resnet.py
    assert m.D_A.model[0].in_channels == 3  # unconditional: D sees one image


def test_networks_are_the_four_nets_not_the_pools():
    m = tiny()
    assert set(m.networks()) == set(NETS)
    assert set(m.configure_optimizers()) == {"G", "D"}


def test_weights_start_from_n_0_002():
    m = CycleGAN(Config.paper(image_size=64, n_blocks=2))
    w = torch.cat([mod.weight.detach().flatten() for mod in m.G_AB.modules() if isinstance(mod, nn.Conv2d)])
    # 2.4 M draws from N(0, 0.02): the sample std is 0.02 to within 0.1 %.
    assert abs(float(w.std()) - 0.02) < 2e-4


# ------------------------------------------------------------------------------------ losses
def test_cycle_and_identity_losses_are_mean_absolute_errors():
    real = torch.tensor([0.0, 0.5, -1.0, 1.0]).reshape(1, 1, 2, 2)
    other = torch.tensor([0.5, 0.5, 0.0, 0.0]).reshape(1, 1, 2, 2)
    # |0.5| + 0 + |1| + |1| over 4 pixels
    assert float(cycle_loss(real, other)) == pytest.approx(0.625)
    assert float(identity_loss(real, other)) == pytest.approx(0.625)
    assert float(cycle_loss(real, real)) == 0.0


def test_generator_objective_on_hand_computable_networks():
    # real_A = 0.2, real_B = -0.4; G_AB(x) = 0.5x + 0.1, G_BA(x) = 2x;
    # D_A(x) = mean(x), D_B(x) = mean(x) + 0.3.
    m = hand_model()
    b = constant_batch()
    with torch.no_grad():
        g = m.generator_losses(b["A"], b["B"])
    # fake_B = 0.2, fake_A = -0.8; LSGAN for G: (D_B(fake_B) - 1)^2 = (0.5 - 1)^2, (D_A(fake_A) - 1)^2 = (-1.8)^2
    assert float(g["G_gan_AB"]) == pytest.approx(0.25)
    assert float(g["G_gan_BA"]) == pytest.approx(3.24)
    # forward cycle: G_BA(0.2) = 0.4 vs 0.2; backward: G_AB(-0.8) = -0.3 vs -0.4
    assert float(g["cycle_A"]) == pytest.approx(0.2)
    assert float(g["cycle_B"]) == pytest.approx(0.1)
    # identity: G_AB(-0.4) = -0.1 vs -0.4; G_BA(0.2) = 0.4 vs 0.2
    assert float(g["identity_AB"]) == pytest.approx(0.3)
    assert float(g["identity_BA"]) == pytest.approx(0.2)
    # 0.25 + 3.24 + 10 (0.2 + 0.1) + 0.5 * 10 (0.3 + 0.2)
    assert float(g["G"]) == pytest.approx(8.99)


def test_discriminator_objective_is_halved_lsgan_per_discriminator():
    m = hand_model()
    b = constant_batch()
    fake_A, fake_B = torch.full_like(b["A"], -0.8), torch.full_like(b["B"], 0.2)
    with torch.no_grad():
        d = m.discriminator_losses(b["A"], b["B"], fake_A, fake_B)
    # D_A: 0.5 [(0.2 - 1)^2 + (-0.8)^2];  D_B: 0.5 [(-0.4 + 0.3 - 1)^2 + (0.2 + 0.3)^2]
    assert float(d["D_A"]) == pytest.approx(0.64)
    assert float(d["D_B"]) == pytest.approx(0.73)
    assert float(d["D"]) == pytest.approx(1.37)


@pytest.mark.parametrize("name,expected", [
    ("cyclegan", 0.25 + 3.24 + 10 * 0.3),  # no identity loss in the paper's ablation
    ("gan_forward_cycle", 0.25 + 3.24 + 10 * 0.2),
    ("gan_backward_cycle", 0.25 + 3.24 + 10 * 0.1),
    ("gan_alone", 0.25 + 3.24),
    ("cycle_alone", 10 * 0.3),
])
def test_ablations_switch_terms_off(name, expected):
    m = hand_model(**ABLATIONS[name])
    b = constant_batch()
    with torch.no_grad():
        assert float(m.generator_losses(b["A"], b["B"])["G"]) == pytest.approx(expected)


def test_switched_off_cycle_is_not_computed_and_identity_follows_the_reference_weights():
    m = hand_model(lambda_cycle_B=0.0)
    b = constant_batch()
    with torch.no_grad():
        g = m.generator_losses(b["A"], b["B"])
    assert "rec_B" not in g and "rec_A" in g
    # The reference weighs G_AB's identity term by lambda_identity * lambda_B: gone with it.
    assert float(g["G"]) == pytest.approx(0.25 + 3.24 + 10 * 0.2 + 5 * 0.2)


def test_cycle_alone_has_no_discriminator_optimizer_and_leaves_d_alone():
    m = tiny(**ABLATIONS["cycle_alone"])
    assert set(m.configure_optimizers()) == {"G"}
    before = {n: p.clone() for n, p in m.named_parameters() if n.startswith("D_")}
    losses = m.training_step(batch())
    assert "D" not in losses
    assert all(torch.equal(p, before[n]) for n, p in m.named_parameters() if n.startswith("D_"))


# ------------------------------------------------------------------------------ one step
def test_step_updates_g_then_d_each_without_touching_the_other(monkeypatch):
    m = tiny()
    m.training_step(batch(seed=0))  # first step: Adam state exists for every parameter after it
    snapshots, grads_outside = [], []
    original = CycleGAN.backward_and_step

    def params():
        return {net: [p.detach().clone() for p in getattr(m, net).parameters()] for net in NETS}

    def spy(self, loss, *names, **kw):
        others = ("G_AB", "G_BA") if names == ("D",) else ("D_A", "D_B")
        for net in others:  # clear, so a gradient reaching them would show
            for p in getattr(self, net).parameters():
                p.grad = None
        before = params()
        original(self, loss, *names, **kw)
        grads_outside.append([p.grad for net in others for p in getattr(self, net).parameters()
                              if p.grad is not None])
        snapshots.append((names, before, params()))

    monkeypatch.setattr(CycleGAN, "backward_and_step", spy)
    m.training_step(batch(seed=2))
    assert [names for names, _, _ in snapshots] == [("G",), ("D",)]  # G step first, then D
    assert grads_outside == [[], []], "a step's loss reached the other player's networks"
    for names, before, after in snapshots:
        own = ("G_AB", "G_BA") if names == ("G",) else ("D_A", "D_B")
        for net in NETS:
            changed = any(not torch.equal(a, b) for a, b in zip(before[net], after[net]))
            assert changed == (net in own), (names, net)


def test_discriminators_see_generated_images_through_the_pools():
    m = tiny(pool_size=5)
    b = batch()
    m.training_step(b)
    assert len(m.pool_A) == len(m.pool_B) == 2  # this step's fakes are stored
    # What D_B judges as fake is what pool_B returns, whatever the latest G made.
    marker = torch.zeros_like(b["B"])
    m.pool_B.query = lambda images: marker
    d = m.discriminator_losses(b["A"], b["B"], torch.zeros_like(b["A"]), torch.ones_like(b["B"]))
    with torch.no_grad():
        want = 0.5 * ((m.D_B(b["B"]) - 1).pow(2).mean() + m.D_B(marker).pow(2).mean())
    assert float(d["D_B"].detach()) == pytest.approx(float(want), rel=1e-6)


def test_translate_and_visuals():
    m = tiny()
    b = batch()
    assert m.translate(b["A"]).shape == b["A"].shape
    with pytest.raises(ValueError, match="AtoB"):
        m.translate(b["A"], "sideways")
    with torch.no_grad():
        v = m.visuals(b)
    assert set(v) == {"real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"}
    assert torch.equal(v["fake_B"], m.translate(b["A"], "AtoB"))


@pytest.mark.parametrize("overrides,message", [
    ({"image_size": 30}, "multiple of 4"),
    ({"d_layers": 3}, "at least 24 px"),
    ({"lambda_cycle_A": -1.0}, ">= 0"),
    ({"channels_B": 1}, "channels_A == channels_B"),
    ({"pool_size": -1}, "pool_size"),
])
def test_config_errors_say_what_to_change(overrides, message):
    with pytest.raises(ValueError, match=message):
        Config.fast(**{"image_size": 16, "d_layers": 1, **overrides})


# ------------------------------------------------------------------------------ learning
@pytest.mark.slow
def test_a_third_of_the_fast_preset_places_the_animal_and_keeps_some_background(tmp_path):
    """200 of the fast preset's 600 steps, scored on 100 test items: what training learns first.

    It does not make zebras yet (the samples are multicoloured speckle where the horse was, and
    the stripe verdict says 0.0, see README), but it learns where the animal is and to leave
    part of the background alone. Thresholds: untrained, silhouette IoU 0.10 (noise over the
    whole frame, read as scattered animal pixels) and background kept 0.00; real horses score
    IoU 0.93. This run measured IoU about 0.3 in both directions and background kept about
    0.15, so IoU >= 0.2 and background >= 0.05 leave room for thread-count and platform
    differences while failing the untrained model on both counts."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = Config.fast()
        train = TrainConfig(**{**config.train.to_dict(), "steps": 200, "decay_steps": 0,
                               "out_dir": tmp_path, "progress": False, "sample_every": 0,
                               "checkpoint_every": 0, "device": "cpu"})
        data = get_dataset("synthetic-zebras", split="train", size=config.image_size)
        test = torch.utils.data.Subset(
            get_dataset("synthetic-zebras", split="test", size=config.image_size), range(100))
        seed_everything(0)
        untrained = CycleGAN(config)
        before = untrained.evaluate(test)
        assert before["AtoB_silhouette_iou"] < 0.2 and before["AtoB_background_preservation"] < 0.05
        seed_everything(0)
        method = CycleGAN(config)
        fit(method, data, train)
        after = method.evaluate(test)
    finally:
        torch.set_num_threads(previous)
    assert after["AtoB_silhouette_iou"] >= 0.2, after
    assert after["AtoB_background_preservation"] >= 0.05, after
    assert after["BtoA_silhouette_iou"] >= 0.2, after
