"""SPADE's own rules (the method contract covers what every method shares): the hinge and
feature-matching losses against hand-computed values, TTUR, the G-then-D step, the label-map
forms ``translate`` takes, VAE mode, the presets."""
from __future__ import annotations

import pytest
import torch

from coursekit.data import get_dataset
from coursekit.data.synthetic.landscapes import LANDSCAPE_CLASSES
from coursekit.models import spade
from coursekit.models.spade import Config
from coursekit.nn import GANLoss
from coursekit.train import seed_everything

TINY = dict(image_size=32, num_up=3, ngf=2, spade_hidden=8, ndf=4, d_layers=1, nz=8, nef=4,
            e_blocks=2)


def tiny(seed: int = 0, **overrides):
    seed_everything(seed)
    return spade.build(Config.fast(**{**TINY, **overrides}))


def batch(n: int = 2):
    data = get_dataset("synthetic-landscapes", split="train", size=32, length=n)
    return torch.utils.data.default_collate([data[i] for i in range(n)])


def test_the_hinge_loss_by_hand():
    loss = GANLoss("hinge", d_scale=1.0)
    real = [torch.tensor([2.0, 0.5, -1.0]), torch.tensor([0.0])]
    fake = [torch.tensor([-2.0, 0.5, 1.0]), torch.tensor([-0.5])]
    # scale 0: mean(0, 0.5, 2) + mean(0, 1.5, 2) = 5/6 + 7/6; scale 1: 1 + 0.5; scales averaged.
    assert loss.discriminator(real, fake).item() == pytest.approx(((5 + 7) / 6 + 1.5) / 2)
    assert loss.generator(fake).item() == pytest.approx(-((-2 + 0.5 + 1) / 3 - 0.5) / 2)


def test_the_generator_loss_adds_feature_matching_times_lambda():
    m = tiny(lambda_feat=3.0)
    b = batch()
    labels, real = m.label_map(b), b["B"]
    fake = m.G(labels)
    losses = m.generator_loss(labels, real, fake)
    assert losses["G"].item() == pytest.approx(losses["G_gan"].item() + 3 * losses["G_feat"].item(),
                                               rel=1e-6)
    assert losses["G_feat"].item() > 0


def test_ttur_and_the_theses_betas():
    m = tiny()
    g, d = m.optimizers["G"].param_groups[0], m.optimizers["D"].param_groups[0]
    assert (g["lr"], d["lr"]) == (1e-4, 4e-4) and g["betas"] == d["betas"] == (0.0, 0.999)
    assert Config.reference_betas == (0.0, 0.9)
    vae = tiny(use_vae=True)
    in_g = {id(p) for p in vae.optimizers["G"].param_groups[0]["params"]}
    assert all(id(p) in in_g for p in vae.E.parameters())  # E trains with G, as the reference


def test_one_step_updates_G_then_judges_a_fresh_detached_output():
    m = tiny()
    seen = []
    m.G.register_forward_hook(lambda mod, args, out: seen.append(out.requires_grad))
    m.training_step(batch())
    assert seen == [True, False]  # G's step, then D's step on a new G(m) without a graph


def test_translate_takes_class_indices_label_colours_or_one_hot_maps():
    m = tiny()
    b = batch()
    by_index = m.translate(b["labels"])
    assert torch.equal(by_index, m.translate(b["A"]))  # the palette colours read back exactly
    assert torch.equal(by_index, m.translate(m.label_map(b)))
    assert torch.equal(m.label_map({"labels": b["labels"]}), m.label_map({"A": b["A"]}))
    with pytest.raises(ValueError, match=f"class indices must be 0..{len(LANDSCAPE_CLASSES) - 1}"):
        m.translate(torch.full((1, 32, 32), len(LANDSCAPE_CLASSES)))
    with pytest.raises(ValueError, match="label colours"):
        m.translate(torch.zeros(1, 5, 32, 32))


def test_vae_mode_draws_styles_and_copies_a_photos_style():
    m = tiny(use_vae=True)
    m.training_step(batch())
    b = batch()
    labels = m.label_map(b)
    torch.manual_seed(0)
    assert not torch.allclose(m.synthesize(labels), m.synthesize(labels))  # random codes
    guided = m.synthesize(labels, style=b["B"])
    assert torch.equal(guided, m.synthesize(labels, z=m.E(b["B"])[0].detach()))
    assert m.inference_networks == ("G", "E") and tiny().inference_networks == ("G",)
    assert not hasattr(tiny(), "E")  # no encoder outside VAE mode


def test_presets_and_bad_settings():
    paper = Config.paper()
    assert (paper.image_size, paper.ngf, paper.num_up, paper.spade_hidden, paper.lambda_feat,
            paper.lambda_kl, paper.nz, paper.gan_mode, paper.d_scales) == (
        256, 64, 5, 128, 10.0, 0.05, 256, "hinge", 2)
    assert paper.train.batch_size == 32 and (paper.train.epochs, paper.train.epochs_decay) == (100, 100)
    assert Config.fast().image_size == 64
    assert Config.fast().train.data == "synthetic-landscapes:day-summer"  # one style (see fast)
    with pytest.raises(ValueError, match="multiple of 2\\*\\*num_up"):
        Config.fast(image_size=72)
    with pytest.raises(ValueError, match="loss weights must be >= 0"):
        Config.fast(lambda_feat=-1.0)
