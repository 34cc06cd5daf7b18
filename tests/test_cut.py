"""CUT and FastCUT (coursekit.models.cut): settings per variant, loss weights, flip
equivariance, one training step, a FastCUT checkpoint read with CUT's config, short training.
What every method satisfies (no lazily created modules, heads in an optimizer from the start,
gradients, outputs, checkpoint round trip, exact resume, the command line) is checked by
tests/method_contract.py."""
from __future__ import annotations

import math

import pytest
import torch

from coursekit.models import cut, fastcut, load_method_module
from coursekit.train import TrainConfig


def tiny(config_cls=cut.Config, **overrides):
    """16 px, 5 residual blocks so that the paper's layers (0, 4, 8, 12, 16) exist."""
    settings = dict(image_size=16, ngf=4, n_blocks=5, ndf=8, d_layers=1, num_patches=8,
                    train=TrainConfig(steps=2, batch_size=2))
    settings.update(overrides)
    return config_cls.paper(**settings)


def batch(n=2, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"A": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
            "B": torch.rand(n, 3, size, size, generator=g) * 2 - 1}


def params(net):
    return [p.detach().clone() for p in net.parameters()]


def changed(before, net):
    return any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


# ----------------------------------------------------------------------------- settings
def test_paper_settings_per_variant():
    c = cut.Config.paper()
    assert (c.lambda_x, c.lambda_y, c.flip_equivariance) == (1.0, 1.0, False)
    assert (c.train.epochs, c.train.epochs_decay, c.train.batch_size) == (200, 200, 1)
    assert (c.n_blocks, c.ngf, c.antialias, c.norm) == (9, 64, True, "instance")
    assert (c.d_layers, c.ndf, c.gan_mode) == (3, 64, "lsgan")
    assert c.nce_layers == (0, 4, 8, 12, 16)
    assert (c.num_patches, c.nce_temperature, c.head_units) == (256, 0.07, 256)
    assert c.lr == 2e-4 and c.betas == (0.5, 0.999)  # not the thesis's "0.002" (errata)
    f = cut.Config.fastcut()
    assert (f.lambda_x, f.lambda_y, f.flip_equivariance, f.flip_probability) == (10.0, 0.0, True, 0.5)
    assert (f.train.epochs, f.train.epochs_decay) == (150, 50)
    assert (f.n_blocks, f.nce_layers, f.num_patches) == (9, (0, 4, 8, 12, 16), 256)
    # `coursekit train fastcut` builds from coursekit.models.fastcut.Config: FastCUT's defaults.
    assert load_method_module("fastcut").Config.paper() == f
    assert fastcut.Config.fast().lambda_y == 0 and fastcut.Config.fast().flip_equivariance
    assert load_method_module("cut").Config.fast().lambda_y == 1.0
    assert (c.variant, f.variant) == ("CUT", "FastCUT")


def test_heads_get_the_generators_layer_widths():
    # Paper CUT at ngf 64: padded RGB 3, first down conv 128, second 256, blocks 1 and 5: 256.
    method = cut.CUT(cut.Config.paper(image_size=16))
    assert method.H.channels == (3, 128, 256, 256, 256)
    small = cut.CUT(tiny(ngf=4))
    assert small.H.channels == (3, 8, 16, 16, 16)


def test_bad_layers_are_refused_at_construction():
    with pytest.raises(ValueError, match="not layer indices"):
        cut.CUT(tiny(n_blocks=2))  # layer 16 does not exist with 2 blocks
    with pytest.raises(ValueError, match="multiple of 4"):
        cut.Config(image_size=30)


# ----------------------------------------------------------------------------- loss weights
@pytest.mark.parametrize("variant, expect_y", [("cut", True), ("fastcut", False)])
def test_nce_terms_and_weights(monkeypatch, variant, expect_y):
    config = tiny(cut.Config if variant == "cut" else cut.FastCUTConfig)
    method = cut.CUT(config)
    calls = []
    nce_x, nce_y = torch.tensor(0.3), torch.tensor(0.7)

    def fake_nce(source, output, flipped=False):
        calls.append(source)
        return nce_x if len(calls) == 1 else nce_y

    monkeypatch.setattr(method, "nce_loss", fake_nce)
    b = batch()
    fake_B, idt_B = method.generate(b["A"], b["B"], flipped=False)
    assert (idt_B is not None) == expect_y  # FastCUT does not even compute G(y)
    losses = method.generator_loss(b["A"], b["B"], fake_B, idt_B)
    assert len(calls) == (2 if expect_y else 1)
    assert torch.equal(calls[0], b["A"])  # NCE_X compares G(x) with x
    gan = losses["G_gan"].item()
    if expect_y:
        assert torch.equal(calls[1], b["B"])  # NCE_Y compares G(y) with y
        # CUT: GAN + 0.5 (1 * 0.3 + 1 * 0.7) = GAN + 0.5 (reference weighting)
        assert losses["G"].item() == pytest.approx(gan + 0.5, abs=1e-6)
    else:
        # FastCUT: GAN + 10 * 0.3
        assert losses["G"].item() == pytest.approx(gan + 3.0, abs=1e-6)


def test_nce_of_an_output_equal_to_its_input_is_below_chance():
    # G(x) = x exactly (we pass x as the output): every query equals its key, so the loss must
    # be below log(S) = log(8), the loss of embeddings that cannot tell patches apart.
    method = cut.CUT(tiny())
    x = batch()["A"]
    torch.manual_seed(0)
    same = method.nce_loss(x, x).item()
    torch.manual_seed(0)
    other = method.nce_loss(x, batch(seed=1)["A"]).item()
    assert same < math.log(8) and same < other


# ----------------------------------------------------------------------------- flip
def test_flip_is_drawn_with_the_configured_probability():
    assert not cut.CUT(tiny()).draw_flip()  # CUT: never
    always = cut.CUT(tiny(cut.FastCUTConfig, flip_probability=1.0))
    never = cut.CUT(tiny(cut.FastCUTConfig, flip_probability=0.0))
    assert all(always.draw_flip() for _ in range(20))
    assert not any(never.draw_flip() for _ in range(20))


@pytest.mark.parametrize("p", [1.0, 0.0])
def test_flip_equivariance_flips_the_generators_input(p):
    method = cut.CUT(tiny(cut.FastCUTConfig, flip_probability=p))
    seen = []
    method.G.register_forward_pre_hook(lambda mod, args, kwargs: seen.append(
        (args[0].detach().clone(), kwargs.get("encode_layers"))), with_kwargs=True)
    b = batch()
    method.training_step(b)
    image_calls = [x for x, layers in seen if layers is None]
    assert len(image_calls) == 1  # FastCUT: one image pass, over x alone
    expected = b["A"].flip(3) if p == 1.0 else b["A"]
    torch.testing.assert_close(image_calls[0], expected, rtol=0, atol=0)


def test_flipped_features_are_flipped_back():
    # Layer 0 (reflection padding) commutes with a horizontal flip, so with nce_layers=(0,):
    # an output that is the flipped input, flipped back, lines up with the input exactly and
    # scores like G(x) = x; without flipping back the patches no longer correspond.
    method = cut.CUT(tiny(cut.FastCUTConfig, nce_layers=(0,)))
    x = batch()["A"]

    def nce(output, flipped):
        torch.manual_seed(0)  # same patch locations in each call
        return method.nce_loss(x, output, flipped).item()

    assert nce(x.flip(3), True) == pytest.approx(nce(x, False), abs=1e-6)
    assert nce(x.flip(3), False) > nce(x, False) + 0.1


# ----------------------------------------------------------------------------- one step
@pytest.mark.parametrize("config_cls", [cut.Config, cut.FastCUTConfig])
def test_one_step_updates_G_D_H_and_D_step_leaves_G_alone(config_cls):
    torch.manual_seed(0)
    method = cut.CUT(tiny(config_cls))
    G0, D0, H0 = params(method.G), params(method.D), params(method.H)
    snapshots = {}
    step = method.backward_and_step

    def recording_step(loss, *names):
        step(loss, *names)
        snapshots[names] = (params(method.G), params(method.D), params(method.H))

    method.backward_and_step = recording_step
    losses = method.training_step(batch())
    assert set(snapshots) == {("D",), ("G", "H")}
    G_after_D, D_after_D, H_after_D = snapshots[("D",)]
    assert all(torch.equal(a, b) for a, b in zip(G0, G_after_D))  # D's step: G untouched
    assert all(torch.equal(a, b) for a, b in zip(H0, H_after_D))
    _, D_after_G, _ = snapshots[("G", "H")]
    assert all(torch.equal(a, b) for a, b in zip(D_after_D, D_after_G))  # G's step: D frozen
    assert changed(G0, method.G) and changed(D0, method.D) and changed(H0, method.H)
    assert all(math.isfinite(v.item()) for v in losses.values())
    assert ("NCE_Y" in losses) == (config_cls is cut.Config)


def test_checkpoint_settings_rebuild_the_same_variant(tmp_path):
    from coursekit.models import config_from_dict

    config = cut.FastCUTConfig.fast()
    rebuilt = config_from_dict(cut.Config, cut.CUT(config).hparams())
    assert rebuilt.nce_layers == config.nce_layers and rebuilt.lambda_x == 10.0
    assert rebuilt.variant == "FastCUT"


# ----------------------------------------------------------------------------- training
@pytest.mark.slow
def test_short_training_learns_the_silhouette(tmp_path):
    """120 steps of the fast CUT preset. Threshold: silhouette IoU >= 0.3 on 32 test items.

    Why it can fail: the N(0, 0.02) initialisation makes G(x) a near-constant grey image, whose
    IoU with the horse is ~0.06 (the untrained figure is asserted too); to pass, G must have
    learned to reproduce the animal's shape (PatchNCE's job) within about a hundred steps.
    Measured with this setting on 1 thread, torch.manual_seed and TrainConfig.seed 0/1/2:
    0.395/0.401/0.379 after 120 steps, so 0.3 leaves a margin of 0.08 for thread-count and
    platform differences. (After 60 steps the spread was 0.27..0.42 and CI, on 2 threads,
    once measured 0.289: too close to any useful threshold, hence 120.)"""
    from coursekit.data import get_dataset
    from coursekit.data.synthetic.zebras import score_zebras
    from coursekit.train import fit

    torch.manual_seed(0)
    config = cut.Config.fast(train=TrainConfig(steps=120, decay_steps=60, batch_size=4,
                                               out_dir=str(tmp_path), progress=False,
                                               sample_every=0, checkpoint_every=0))
    method = cut.build(config)
    test = get_dataset("synthetic-zebras", split="test", size=config.image_size)
    xs = torch.stack([test[i]["A"] for i in range(32)])
    masks = torch.stack([test[i]["mask_A"] for i in range(32)])
    before = score_zebras(xs, method.translate(xs), masks)["silhouette_iou"]
    fit(method, get_dataset("synthetic-zebras", split="train", size=config.image_size), config.train)
    after = score_zebras(xs, method.translate(xs), masks)["silhouette_iou"]
    assert before < 0.15
    assert after >= 0.3


def test_paper_layers_are_the_thesis_feature_maps_of_the_antialiased_generator():
    # §3.3.2: the padded RGB input, the first and second downsampling conv (the stride-1 conv
    # before its blur-pool), residual blocks 1 and 5 of the 9-block generator.
    from torch import nn

    from coursekit.nn import ResnetGenerator

    g = ResnetGenerator(ngf=4, n_blocks=9, antialias=True)
    pad, down1, down2, block1, block5 = cut.PAPER_LAYERS
    assert pad == 0 and isinstance(g.model[pad], nn.ReflectionPad2d)
    convs = [i for i, m in enumerate(g.model[:g.block_indices[0]]) if isinstance(m, nn.Conv2d)]
    assert (down1, down2) == tuple(convs[1:3]), convs  # convs[0] is the 7x7 c7s1-64
    assert (block1, block5) == (g.block_indices[0], g.block_indices[4])
    assert cut.Config.paper().nce_layers == cut.PAPER_LAYERS
