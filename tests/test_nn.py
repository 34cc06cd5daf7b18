"""Shared building blocks, checked against published numbers and hand-computed values."""
import math

import pytest
import torch

from coursekit.nn import (GANLoss, PatchGANDiscriminator, PixelDiscriminator, UNetGenerator,
                          init_weights, interpolate, patchgan_layers_for, receptive_field)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_unet_256_matches_the_reference_parameter_count():
    # junyanz/pytorch-CycleGAN-and-pix2pix prints 54.414 M parameters for unet_256 (issue #422
    # quotes "54.4 M"); an exact layer-by-layer match of the paper's C64-...-C512 gives that.
    assert n_params(UNetGenerator(3, 3, num_downs=8, ngf=64)) == 54_413_955


def test_patchgan_matches_the_reference_parameter_counts():
    # The reference's CycleGAN log (issue #405) reports D_A = 2.765 M for 3-channel input;
    # pix2pix's conditional D sees 6 channels (issue #422: 2.77 M).
    assert round(n_params(PatchGANDiscriminator(3, norm="instance")) / 1e6, 3) == 2.765
    assert round(n_params(PatchGANDiscriminator(6, norm="batch")) / 1e6, 2) == 2.77


@pytest.mark.parametrize("n_layers,patch", [(1, 16), (3, 70), (5, 286)])
def test_receptive_fields_of_the_papers_ablation(n_layers, patch):
    # pix2pix Table 3 compares 1x1, 16x16, 70x70 and 286x286 discriminators.
    assert receptive_field(PatchGANDiscriminator(6, n_layers=n_layers)) == patch
    assert patchgan_layers_for(patch) == n_layers


def test_receptive_field_by_gradient_probing_agrees_with_the_formula():
    # Independent check: the input pixels that influence one output logit span 70 px.
    d = PatchGANDiscriminator(1, ndf=4, n_layers=3, norm="none")
    x = torch.zeros(1, 1, 128, 128, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    assert rows.max() - rows.min() + 1 == 70
    assert receptive_field(PixelDiscriminator(6)) == 1


def test_patchgan_output_map_is_30x30_at_256():
    d = PatchGANDiscriminator(6, ndf=8)
    assert d(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)


@pytest.mark.parametrize("num_downs,size", [(8, 256), (7, 128), (6, 64), (5, 32)])
def test_unet_keeps_the_image_shape(num_downs, size):
    g = UNetGenerator(3, 2, num_downs=num_downs, ngf=4).eval()
    assert g(torch.randn(2, 3, size, size)).shape == (2, 2, size, size)


def test_unet_rejects_sizes_its_depth_cannot_take():
    g = UNetGenerator(3, 3, num_downs=8, ngf=4)
    with pytest.raises(ValueError, match=r"multiples of 256"):
        g(torch.randn(1, 3, 64, 64))


def test_wrong_channel_count_is_explained():
    g = UNetGenerator(3, 3, num_downs=5, ngf=4)
    with pytest.raises(ValueError, match=r"3-channel images but got 1 channels"):
        g(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        g(torch.randn(3, 32, 32))
    d = PatchGANDiscriminator(6, ndf=4)
    with pytest.raises(ValueError, match=r"at least 24"):
        d(torch.randn(1, 6, 16, 16))


def test_encoder_decoder_has_no_skip_path():
    # Without skips, the decoder's layers see only their own width (no concatenation), so the
    # network is smaller; with skips, an input pixel reaches the output through the outermost
    # skip even when the bottleneck is cut.
    unet = UNetGenerator(3, 3, num_downs=5, ngf=8, dropout=0)
    encdec = UNetGenerator(3, 3, num_downs=5, ngf=8, dropout=0, skips=False)
    assert n_params(encdec) < n_params(unet)
    for net, reaches in ((unet, True), (encdec, False)):
        net.eval()
        with torch.no_grad():
            # Zero the innermost down layer: nothing passes the bottleneck any more.
            for p in net.down[-1].parameters():
                p.zero_()
        x = torch.randn(1, 3, 32, 32, requires_grad=True)
        net(x)[0, :, 16, 16].sum().backward()
        assert (x.grad.abs().sum() > 0) == reaches


def test_dropout_sits_in_the_three_decoder_layers_after_the_bottleneck():
    g = UNetGenerator(num_downs=8, ngf=4)
    with_dropout = [i for i, up in enumerate(g.up) if any(isinstance(m, torch.nn.Dropout) for m in up)]
    # The paper's decoder: CD512-CD512-CD512-C512-... ; up[7] is the bottleneck's own layer.
    assert with_dropout == [4, 5, 6]


def test_init_weights_statistics():
    torch.manual_seed(0)
    g = init_weights(UNetGenerator(num_downs=8, ngf=64))
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, torch.nn.Conv2d)])
    # 5.7 M samples of N(0, 0.02): the sample std is 0.02 to within 1e-4 (its standard error
    # is 0.02 / sqrt(2 * 5.7e6) ~ 6e-6).
    assert abs(w.std().item() - 0.02) < 1e-4 and abs(w.mean().item()) < 1e-4


def test_gan_losses_on_hand_computed_logits():
    zero, half = torch.zeros(4, 1, 2, 2), torch.full((4, 1, 2, 2), 0.5)
    v = GANLoss("vanilla")
    assert v.real(zero).item() == pytest.approx(math.log(2))
    assert v.fake(half).item() == pytest.approx(-math.log(1 - 1 / (1 + math.exp(-0.5))))
    # D's loss is halved (pix2pix §3.3): 0.5 * (log 2 + log 2) = log 2.
    assert v.discriminator(zero, zero).item() == pytest.approx(math.log(2))
    assert v.generator(half).item() == pytest.approx(math.log(1 + math.exp(-0.5)))
    ls = GANLoss("lsgan")
    assert ls.real(half).item() == pytest.approx(0.25)
    assert ls.fake(half).item() == pytest.approx(0.25)
    assert ls.discriminator(torch.ones(3), torch.zeros(3)).item() == 0.0
    h = GANLoss("hinge")
    assert h.real(half).item() == pytest.approx(0.5)
    assert h.fake(half).item() == pytest.approx(1.5)
    assert h.generator(half).item() == pytest.approx(-0.5)
    # Multi-scale logits are averaged over scales.
    assert ls.generator([zero, torch.ones(1)]).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown GAN loss"):
        GANLoss("wgan")


# ----------------------------------------------------------------------------- latent paths
def _angle(a, b):
    return torch.arccos((a @ b / (a.norm() * b.norm())).clamp(-1, 1)).item()


@pytest.mark.parametrize("mode", ["linear", "spherical"])
def test_interpolate_ends_are_the_codes_exactly(mode):
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(8, generator=g), torch.randn(8, generator=g)
    path = interpolate(a, b, torch.linspace(0, 1, 5), mode)
    assert path.shape == (5, 8)
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)
    assert torch.equal(interpolate(a, b, 0.0, mode), a)
    assert torch.equal(interpolate(a, b, 1, mode), b)
    batch = interpolate(torch.stack([a, b]), torch.stack([b, a]), torch.tensor([0.0, 1.0]), mode)
    assert torch.equal(batch, torch.stack([a, a]))  # one t per row of a batch


def test_spherical_keeps_the_norm_of_prior_codes_where_linear_shrinks_it():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2000, 8, generator=g), torch.randn(2000, 8, generator=g)
    lin, sph = interpolate(a, b, 0.5, "linear"), interpolate(a, b, 0.5, "spherical")
    ends = torch.cat([a, b]).norm(dim=1).mean()  # about sqrt(8) = 2.83
    # (a + b) / 2 ~ N(0, I / 2): its norm is about sqrt(8 / 2) = 2.0, 0.71 of the ends'.
    assert 0.66 < lin.norm(dim=1).mean() / ends < 0.76
    # Spherical: the norm goes linearly from |a| to |b| ...
    assert torch.allclose(sph.norm(dim=1), (a.norm(dim=1) + b.norm(dim=1)) / 2, atol=1e-5)
    # ... and the direction turns at a constant rate along the great circle.
    for t in (0.25, 0.5, 0.8):
        p = interpolate(a[0], b[0], t, "spherical")
        assert _angle(a[0], p) == pytest.approx(t * _angle(a[0], b[0]), abs=1e-5)
        assert _angle(p, b[0]) == pytest.approx((1 - t) * _angle(a[0], b[0]), abs=1e-5)


def test_spherical_interpolation_of_parallel_identical_and_zero_codes():
    a = torch.tensor([0.5, -1.0, 2.0, 0.0])
    # No great circle between codes pointing the same way: the path is the straight one.
    assert torch.allclose(interpolate(a, a, 0.3, "spherical"), a)
    assert torch.allclose(interpolate(a, 3 * a, 0.5, "spherical"), 2 * a)
    assert torch.allclose(interpolate(torch.zeros(4), a, 0.25, "spherical"), 0.25 * a)
    assert not interpolate(a, a * (1 + 1e-7), 0.5, "spherical").isnan().any()
    # Opposite codes turn through one fixed perpendicular direction, keeping the norm.
    path = interpolate(a, -a, torch.linspace(0, 1, 5), "spherical")
    assert torch.allclose(path.norm(dim=1), a.norm().expand(5))
    assert abs(path[2] @ a) < 1e-5 and _angle(a, path[1]) == pytest.approx(math.pi / 4, abs=1e-5)
    assert torch.equal(path, interpolate(a, -a, torch.linspace(0, 1, 5), "spherical"))
    one_d = interpolate(torch.tensor([1.0]), torch.tensor([-2.0]), 0.5, "spherical")
    assert torch.allclose(one_d, torch.tensor([-0.5]))  # 1-D: no circle, the straight path


def test_interpolate_rejects_bad_arguments_clearly():
    a = torch.zeros(8)
    with pytest.raises(ValueError, match="mode must be 'linear' or 'spherical', got 'slerp'"):
        interpolate(a, a, 0.5, "slerp")
    with pytest.raises(ValueError, match="same shape"):
        interpolate(a, torch.zeros(4), 0.5)
    with pytest.raises(ValueError, match=r"t must be in \[0, 1\]"):
        interpolate(a, a, 1.5)


# ----------------------------------------------------------------------------- normalisation
def test_adain_gives_each_image_the_given_channel_statistics():
    from coursekit.nn import adain, channel_stats

    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8) * 4 + 1
    mean, std = torch.tensor([[0.0, 1.0, -2.0], [3.0, 0.5, 0.0]]), torch.tensor(
        [[1.0, 2.0, 0.5], [0.1, 1.0, 3.0]])
    out = adain(x, mean, std)
    got_mean, got_std = channel_stats(out, eps=0.0)
    # The normalised map has biased std sqrt(var / (var + eps)): 1 to within eps / (2 var) < 1e-6.
    assert torch.allclose(got_mean, mean, atol=1e-5) and torch.allclose(got_std, std, rtol=1e-5)
    # By hand, with the biased variance and eps inside the square root:
    mu, var = x.mean((2, 3), keepdim=True), x.var((2, 3), unbiased=False, keepdim=True)
    by_hand = (x - mu) / torch.sqrt(var + 1e-5) * std[..., None, None] + mean[..., None, None]
    assert torch.allclose(out, by_hand, atol=1e-5)
    # Style transfer: a content image takes another image's statistics.
    style = torch.randn(2, 3, 8, 8) * 0.3 - 2
    transferred = adain(x, *channel_stats(style))
    assert torch.allclose(channel_stats(transferred)[0], channel_stats(style)[0], atol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, C\) = \(2, 3\)"):
        adain(x, mean[:1], std)


def test_munit_layer_norm_uses_each_images_unbiased_std_plus_eps():
    from coursekit.nn import LayerNorm

    torch.manual_seed(0)
    x = torch.randn(2, 4, 3, 3) * torch.tensor([1.0, 5.0]).view(2, 1, 1, 1)
    norm = LayerNorm(4, affine=False)
    flat = x.flatten(1)
    by_hand = (x - flat.mean(1).view(2, 1, 1, 1)) / (flat.std(1).view(2, 1, 1, 1) + 1e-5)
    assert torch.allclose(norm(x), by_hand, atol=1e-6)
    assert torch.allclose(norm(x).flatten(1).std(1), torch.ones(2), atol=1e-4)  # unbiased: 1
    affine = LayerNorm(4)
    assert ((affine.gamma >= 0) & (affine.gamma <= 1)).all() and torch.equal(affine.beta, torch.zeros(4))


def _one_hot_uniform(label: int, classes: int = 5, size: int = 8) -> torch.Tensor:
    """A label map in which one class fills the image."""
    m = torch.zeros(1, classes, size, size)
    m[:, label] = 1
    return m


def test_spade_with_a_uniform_condition_is_adain_of_its_gamma_and_beta():
    """Thesis §2.3: spatially invariant modulation, per-image statistics, N = 1: AdaIN with
    scale 1 + gamma and shift beta (conditional instance normalisation)."""
    from coursekit.nn import SPADE, adain

    torch.manual_seed(0)
    spade = SPADE(6, 5, hidden=7, kernel=1, norm="instance")
    h = torch.randn(1, 6, 8, 8) * 3 + 2
    m = _one_hot_uniform(2)
    gamma, beta = spade.modulation(m, (8, 8))
    assert torch.allclose(gamma, gamma[..., :1, :1].expand_as(gamma))  # uniform in space
    expected = adain(h, beta[:, :, 0, 0], 1 + gamma[:, :, 0, 0])
    assert torch.allclose(spade(h, m), expected, atol=1e-5)


def test_instance_norm_washes_out_uniform_label_maps_and_spade_does_not():
    """Thesis §2.3, Fig. 2.3: conv then InstanceNorm of a map filled by one class is 0 for every
    class (reflection padding keeps the conv's output uniform up to the border); SPADE's
    output still says which class it was."""
    from coursekit.nn import SPADE

    torch.manual_seed(0)
    conv = torch.nn.Sequential(torch.nn.ReflectionPad2d(1), torch.nn.Conv2d(5, 6, 3))
    norm = torch.nn.InstanceNorm2d(6)
    washed = [norm(conv(_one_hot_uniform(c))) for c in range(5)]
    # Exactly 0 but for float32 rounding of a constant map (measured <= 1e-5).
    assert all(w.abs().max() < 1e-4 for w in washed)
    spade = SPADE(6, 5, hidden=7, kernel=3, norm="instance")
    h = torch.randn(1, 6, 8, 8)
    outs = [spade(h, _one_hot_uniform(c)) for c in range(5)]
    gaps = [(outs[a] - outs[b]).abs().mean().item() for a in range(5) for b in range(a + 1, 5)]
    assert min(gaps) > 1e-3, gaps  # every pair of classes gives a different output


def test_spade_resizes_the_label_map_by_nearest_neighbour():
    from coursekit.nn import SPADE

    spade = SPADE(2, 3, hidden=4, kernel=1)
    labels = torch.zeros(1, 3, 4, 4)
    labels[:, 0, :, :2], labels[:, 1, :, 2:] = 1, 1  # left half class 0, right half class 1
    seen = []
    spade.shared.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    spade(torch.randn(1, 2, 8, 8), labels)
    assert set(seen[0].unique().tolist()) == {0.0, 1.0}  # still one-hot: nothing blended
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        spade(torch.randn(1, 2, 8, 8), labels[:, :2])


# ----------------------------------------------------------------------------- SPADE generator
def test_spade_generator_has_the_references_blocks_and_sizes():
    from coursekit.nn.spade import SPADEGenerator, spade_widths

    # The reference at 256 px, ngf 64: an 8x8 start, 7 blocks 1024-1024-1024-512-256-128-64.
    assert spade_widths(64, 5) == [(1024, 1024)] * 3 + [(1024, 512), (512, 256), (256, 128),
                                                        (128, 64)]
    G = SPADEGenerator(label_channels=4, image_size=32, num_up=3, ngf=2, hidden=8)
    assert G.start == 4 and len(G.blocks) == 5
    sizes = []
    for block in G.blocks:
        block.register_forward_hook(lambda mod, args, out: sizes.append(out.shape[-1]))
    labels = torch.zeros(2, 4, 32, 32)
    labels[:, 1] = 1
    out = G(labels)
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1
    assert sizes == [4, 8, 8, 16, 32]  # head at the start, G_middle_1 without an upsampling
    # Only blocks whose width changes learn their shortcut (thesis Fig. 2.5).
    assert [b.learned_shortcut for b in G.blocks] == [False, False, False, True, True]
    with pytest.raises(ValueError, match="one-hot label maps"):
        G(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="multiple of 2\\*\\*num_up"):
        SPADEGenerator(4, image_size=40, num_up=4)


def test_every_spade_block_reads_the_label_map():
    from coursekit.nn.spade import SPADEGenerator

    torch.manual_seed(0)
    G = SPADEGenerator(label_channels=3, image_size=16, num_up=2, ngf=2, hidden=4, nz=5)
    labels = torch.zeros(1, 3, 16, 16)
    labels[:, 0, :8], labels[:, 2, 8:] = 1, 1
    z = torch.randn(1, 5)
    G(labels, z).sum().backward()
    # VAE mode: the start comes from z, so the label map reaches the image only through the
    # blocks' SPADE layers; each one's gamma/beta convs get a gradient.
    for i, block in enumerate(G.blocks):
        grad = block.norm_0.gamma.weight.grad
        assert grad is not None and grad.abs().sum() > 0, i
    other = torch.zeros(1, 3, 16, 16)
    other[:, 1] = 1
    assert not torch.allclose(G(labels, z), G(other, z))  # the same code, another label map


def test_discriminator_features_end_with_the_logits_and_feature_matching_skips_them():
    from coursekit.nn import MultiScalePatchGAN, feature_matching_loss

    torch.manual_seed(0)
    D = MultiScalePatchGAN(3, ndf=4, n_layers=2, num_scales=2, norm="instance", spectral=True,
                           halve_width=False)
    x = torch.randn(2, 3, 32, 32)
    D.eval()  # spectral norm's power iteration updates its vector in every training forward
    feats = D.features(x)
    assert [len(f) for f in feats] == [4, 4]  # 3 LeakyReLU outputs, then the logits
    assert all(torch.equal(f[-1], logits) for f, logits in zip(feats, D(x)))
    assert D.scales[1].model[0].out_channels == 4  # SPADE keeps the width at every scale
    assert hasattr(D.scales[0].model[2], "weight_orig")  # spectral norm on the normed convs
    # By hand: 1/K * sum over scales of the per-layer mean |a - b|, logits left out.
    a = [[torch.ones(1, 2, 2, 2), torch.zeros(1, 1, 3, 3), torch.full((1, 1, 1, 1), 9.0)],
         [torch.full((1, 1, 2, 2), 2.0), torch.full((1, 1, 1, 1), 5.0)]]
    b = [[torch.zeros(1, 2, 2, 2), torch.ones(1, 1, 3, 3), torch.zeros(1, 1, 1, 1)],
         [torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 1, 1)]]
    assert feature_matching_loss(a, b).item() == pytest.approx((1 + 1 + 2) / 2)
    real = [[t.clone().requires_grad_(True) for t in scale] for scale in b]
    fake = [[t.clone().requires_grad_(True) for t in scale] for scale in a]
    feature_matching_loss(fake, real).backward()
    assert all(t.grad is None for scale in real for t in scale)  # real features detached
    assert fake[0][0].grad is not None and fake[0][-1].grad is None
