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
    # The perceptual loss: the paper's weight, and off in the CPU presets (no VGG-19 weights).
    assert paper.lambda_vgg == 10.0 and Config.fast().lambda_vgg == Config.course().lambda_vgg == 0.0
    assert Config.fast().image_size == 64
    assert Config.fast().train.data == "synthetic-landscapes:day-summer"  # one style (see fast)
    with pytest.raises(ValueError, match="multiple of 2\\*\\*num_up"):
        Config.fast(image_size=72)
    with pytest.raises(ValueError, match="loss weights must be >= 0"):
        Config.fast(lambda_feat=-1.0)


# ----------------------------------------------------------------------------- the ablations
def test_concat_norm_passes_the_label_map_as_extra_channels_after_an_affine_norm():
    from coursekit.nn import ConcatNorm

    torch.manual_seed(0)
    layer = ConcatNorm(6, 3, norm="instance")
    h = torch.randn(2, 6, 8, 8)
    labels = torch.zeros(2, 3, 4, 4)
    labels[:, 1, :2] = 1.0
    labels[:, 2, 2:] = 1.0
    out = layer(h, labels)
    assert out.shape == (2, 9, 8, 8)
    # The label map enters as it is, resized by nearest neighbour (each cell becomes 2x2).
    assert torch.equal(out[:, 6:], labels.repeat_interleave(2, 2).repeat_interleave(2, 3))
    # The first channels: instance norm with a learnt affine (weight 1, bias 0 at init).
    with torch.no_grad():
        layer.norm.weight.fill_(2.0)
        layer.norm.bias.fill_(-1.0)
    expected = 2.0 * torch.nn.functional.instance_norm(h) - 1.0
    assert torch.allclose(layer(h, labels)[:, :6], expected, atol=1e-5)  # float32 rounding


def test_each_ablation_builds_the_variant_it_names():
    from coursekit.nn import ConcatNorm
    from coursekit.nn.norm import SPADE

    assert set(spade.ABLATIONS) == set(spade.THESIS_MIOU)
    layers = lambda m, kind: [x for x in m.G.modules() if isinstance(x, kind)]  # noqa: E731
    base = tiny()
    assert layers(base, SPADE) and not layers(base, ConcatNorm)
    assert all(s.gamma.kernel_size == (3, 3) for s in layers(base, SPADE))

    concat = spade.build(Config.ablation("concat", Config.fast(**TINY)))
    assert not layers(concat, SPADE) and layers(concat, ConcatNorm)
    # Fewer parameters than SPADE's (no gamma/beta convs), as in the thesis's Table 2.3 (79M/96M).
    count = lambda m: sum(p.numel() for p in m.G.parameters())  # noqa: E731
    assert count(concat) < count(base)

    one = spade.build(Config.ablation("kernel_1x1", Config.fast(**TINY)))
    assert all(s.gamma.kernel_size == (1, 1) and s.shared[0].kernel_size == (1, 1)
               for s in layers(one, SPADE))
    inorm = spade.build(Config.ablation("instance_norm", Config.fast(**TINY)))
    assert all(isinstance(s.norm, torch.nn.InstanceNorm2d) for s in layers(inorm, SPADE))

    seed_everything(0)
    rand = spade.build(Config.ablation("random_input", Config.fast(**TINY)))
    assert isinstance(rand.G.stem, torch.nn.Linear) and not hasattr(rand, "E")
    m = rand.label_map(batch())
    assert not torch.allclose(rand.synthesize(m), rand.synthesize(m))  # a new z each call

    nofm = spade.build(Config.ablation("no_feature_matching", Config.fast(**TINY)))
    b = batch()
    m, real = nofm.label_map(b), b["B"]
    losses = nofm.generator_loss(m, real, nofm.G(m))
    assert losses["G"].item() == pytest.approx(losses["G_gan"].item())
    with pytest.raises(ValueError, match="unknown ablation 'vgg'"):
        Config.ablation("vgg")
    with pytest.raises(ValueError, match="condition must be 'spade' or 'concat'"):
        Config.fast(condition="add")


@pytest.mark.parametrize("name", sorted(spade.ABLATIONS))
def test_every_ablation_trains_a_step(name):
    seed_everything(0)
    m = spade.build(Config.ablation(name, Config.fast(**TINY)))
    before = [p.detach().clone() for p in m.G.parameters()]
    losses = m.training_step(batch())
    assert all(torch.isfinite(v) for v in losses.values())
    assert any(not torch.equal(a, p) for a, p in zip(before, m.G.parameters()))


def test_the_course_checkpoint_recalls_every_class_on_uniform_maps():
    """The lecture's wash-out claim on the shipped model: SPADE paints each class's own photo
    for a map that the class fills (an InstanceNorm generator could recall one at most)."""
    from coursekit import pretrained
    from coursekit.data.synthetic.landscapes import style_id, uniform_map_recall

    if "spade-landscapes" not in [card["name"] for card in pretrained.available()]:
        pytest.fail("the spade-landscapes course checkpoint should ship with the package")
    m = pretrained.load("spade-landscapes")
    torch.manual_seed(0)
    recall = uniform_map_recall(m.translate, m.config.image_size, style_id("day-summer"))
    # Measured: 0.93 (snow) to 1.00 (water), mean 0.975.
    assert min(recall.values()) > 0.85, recall


# ----------------------------------------------------------------------------- the VGG loss
def test_the_perceptual_loss_is_added_with_its_weight_and_never_saved(vgg_file):
    from coursekit.models import inference_config
    from coursekit.nn import VGGLoss

    m = tiny(lambda_vgg=2.0, vgg_weights=str(vgg_file), lambda_feat=3.0)
    b = batch()
    labels, real = m.label_map(b), b["B"]
    fake = m.G(labels)
    losses = m.generator_loss(labels, real, fake)
    expected_vgg = VGGLoss(vgg_file)(fake, real)  # a separate VGG from the same file
    assert losses["G_vgg"].item() == pytest.approx(expected_vgg.item(), rel=1e-5)
    assert losses["G"].item() == pytest.approx(
        (losses["G_gan"] + 3.0 * losses["G_feat"] + 2.0 * losses["G_vgg"]).item(), rel=1e-6)
    # Frozen and not a network: no optimizer, no DDP wrapper, nothing in any checkpoint.
    assert set(m.networks()) == {"G", "D"}
    assert not [k for k in m.state_dict() if "vgg" in k]
    assert "G_vgg" in m.training_step(b)
    # A model trained with it translates without the weights.
    assert inference_config(m.config).lambda_vgg == 0.0
    assert m.config.lambda_vgg == 2.0  # the training settings themselves are left alone


def test_missing_vgg_weights_name_the_file_and_the_way_out(monkeypatch, tmp_path):
    from coursekit.data.standard_metrics import MissingWeightsError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="vgg19-dcbb9e9d.pth") as err:
        tiny(lambda_vgg=10.0)
    assert "lambda_vgg=0" in str(err.value) and str(tmp_path) in str(err.value)
    with pytest.raises(ValueError, match="loss weights must be >= 0"):
        Config.fast(lambda_vgg=-1.0)
