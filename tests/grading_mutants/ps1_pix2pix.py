"""Wrong and special submissions for problem set 1 (pix2pix), used by tests/test_grading_ps1.py.

What a mutant is, and how the submissions carry them: tests/grading_mutants/common.py.
"""
from __future__ import annotations

from grading_mutants.common import Mutant
from grading_mutants.common import mutant as _m

ASSIGNMENT = "ps1_pix2pix"

#: The graded cells of each part (grade_id of the solution cell -> its test cells).
PARTS: dict[str, tuple[str, ...]] = {
    "unet_forward": ("test_unet_wiring", "test_unet_reference", "hidden_unet_reference",
                     "hidden_unet_gradients"),
    "patchgan_layers": ("test_patchgan_shape", "test_patchgan_receptive_field",
                        "test_patchgan_reference", "hidden_patchgan_structure",
                        "hidden_patchgan_reference"),
    "discriminator_loss": ("test_d_loss_value", "test_d_loss_reference", "test_d_loss_detach",
                           "hidden_d_loss"),
    "generator_loss": ("test_g_loss_value", "test_g_loss_gradient", "test_g_loss_reference",
                       "hidden_g_loss"),
    "training_step": ("test_step_reference", "test_step_freezes_d", "hidden_step",
                      "hidden_training_run"),
}


_ALL_UNET = PARTS["unet_forward"]

MUTANTS: tuple[Mutant, ...] = (
    # ---- part 1: unet_forward
    _m("unet_no_skip", "unet_forward", "no skip connection: each decoder layer gets only the "
       "previous decoder output",
       "h = up[k](torch.cat([encoder_features[k], h], dim=1))", "h = up[k](h)", _ALL_UNET),
    _m("unet_wrong_level", "unet_forward", "skip from the wrong encoder level (not the mirrored one)",
       "torch.cat([encoder_features[k], h], dim=1)",
       "torch.cat([encoder_features[k + 1], h], dim=1)", _ALL_UNET),
    _m("unet_cat_batch_dim", "unet_forward", "concatenation along the batch dimension",
       "torch.cat([encoder_features[k], h], dim=1)", "torch.cat([encoder_features[k], h], dim=0)",
       _ALL_UNET),
    _m("unet_detached_skip", "unet_forward", "skip features detached: no gradient through "
       "the skip connections",
       "torch.cat([encoder_features[k], h], dim=1)",
       "torch.cat([encoder_features[k].detach(), h], dim=1)", {"hidden_unet_gradients"}),
    # ---- part 2: patchgan_layers
    _m("patchgan_all_stride_2", "patchgan_layers", "wrong stride: the last block has stride 2",
       "stride = 2 if n < n_layers else 1", "stride = 2",
       {"test_patchgan_shape", "test_patchgan_receptive_field", "test_patchgan_reference",
        "hidden_patchgan_structure", "hidden_patchgan_reference"}),
    _m("patchgan_no_first_lrelu", "patchgan_layers", "missing LeakyReLU after the first "
       "convolution",
       "layers = [nn.Conv2d(in_channels, ndf, kernel_size=4, stride=2, padding=1),\n"
       "              nn.LeakyReLU(0.2, inplace=True)]",
       "layers = [nn.Conv2d(in_channels, ndf, kernel_size=4, stride=2, padding=1)]",
       {"test_patchgan_reference", "hidden_patchgan_reference"}),
    _m("patchgan_norm_on_first", "patchgan_layers", "a norm layer after the first convolution",
       "layers = [nn.Conv2d(in_channels, ndf, kernel_size=4, stride=2, padding=1),\n"
       "              nn.LeakyReLU(0.2, inplace=True)]",
       "layers = [nn.Conv2d(in_channels, ndf, kernel_size=4, stride=2, padding=1),\n"
       "              norm_layer(norm, ndf), nn.LeakyReLU(0.2, inplace=True)]",
       {"test_patchgan_reference", "hidden_patchgan_structure", "hidden_patchgan_reference"}),
    _m("patchgan_width_not_capped", "patchgan_layers", "widths keep doubling past 8 * ndf",
       "new_width = ndf * min(2 ** n, 8)", "new_width = ndf * 2 ** n",
       {"hidden_patchgan_structure", "hidden_patchgan_reference"}),
    # ---- part 3: discriminator_loss
    _m("d_labels_swapped", "discriminator_loss", "sign error: real pairs labelled 0 and "
       "generated pairs 1",
       "loss_real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))",
       "loss_real = F.binary_cross_entropy_with_logits(real_logits, torch.zeros_like(real_logits))",
       {"test_d_loss_value", "test_d_loss_reference", "hidden_d_loss"}),
    _m("d_no_detach", "discriminator_loss", "generated image not detached",
       "fake.detach()", "fake", {"test_d_loss_detach"}),
    _m("d_no_half", "discriminator_loss", "the factor 1/2 is missing",
       "return 0.5 * (loss_real + loss_fake)", "return loss_real + loss_fake",
       {"test_d_loss_value", "test_d_loss_reference", "hidden_d_loss"}),
    _m("d_unconditional", "discriminator_loss", "unconditional D: judges y alone, without x",
       "real_logits = D(torch.cat([x, y], dim=1))", "real_logits = D(torch.cat([y, y], dim=1))",
       {"test_d_loss_value", "test_d_loss_reference", "hidden_d_loss"}),
    # ---- part 4: generator_loss
    _m("g_lambda_on_gan", "generator_loss", "lambda on the wrong term",
       '"G": gan + lambda_l1 * l1', '"G": lambda_l1 * gan + l1',
       {"test_g_loss_value", "test_g_loss_gradient", "test_g_loss_reference", "hidden_g_loss"}),
    _m("g_saturating", "generator_loss", "sign error: the saturating loss log(1 - D(x, G(x)))",
       "gan = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))",
       "gan = -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))",
       {"test_g_loss_value", "test_g_loss_gradient", "test_g_loss_reference", "hidden_g_loss"}),
    _m("g_detached_fake", "generator_loss", "detach in the wrong place: G(x) detached before D "
       "judges it, so the adversarial term cannot train G",
       "fake_logits = D(torch.cat([x, fake], dim=1))",
       "fake_logits = D(torch.cat([x, fake.detach()], dim=1))",
       {"test_g_loss_gradient", "hidden_g_loss"}),
    _m("g_l2", "generator_loss", "L2 (squared error) instead of L1",
       "l1 = F.l1_loss(fake, y)", "l1 = F.mse_loss(fake, y)",
       {"test_g_loss_value", "test_g_loss_gradient", "test_g_loss_reference", "hidden_g_loss"}),
    # ---- part 5: training_step
    _m("step_no_zero_grad_d", "training_step", "forgotten opt_D.zero_grad()",
       "    opt_D.zero_grad()\n", "", {"test_step_reference", "hidden_step"}),
    _m("step_d_not_frozen", "training_step", "D not frozen during G's update",
       "    D.requires_grad_(False)\n", "", {"test_step_freezes_d", "hidden_step"}),
    _m("step_detach_fake", "training_step", "detach in the wrong place: G(x) detached for both "
       "updates, so G cannot learn",
       "fake = G(x)", "fake = G(x).detach()", PARTS["training_step"]),
    _m("step_no_g_step", "training_step", "forgotten opt_G.step()",
       "    opt_G.step()\n", "",
       {"test_step_reference", "hidden_step", "hidden_training_run"}),
    _m("step_own_d_loss", "training_step", "the notebook's own discriminator_loss called "
       "instead of the argument d_loss_fn",
       "loss_D = d_loss_fn(D, x, y, fake)", "loss_D = discriminator_loss(D, x, y, fake)",
       {"hidden_step"}, calls={"discriminator_loss"}),
    _m("step_returns_graph", "training_step", "the losses returned with their graph",
       'return {"D": loss_D.detach(), **{k: v.detach() for k, v in losses.items()}}',
       'return {"D": loss_D, **losses}', {"hidden_step"}),
)


# ---- special submissions ----------------------------------------------------------------
#: Every part delegates to coursekit's own implementation: each must earn nothing.
USES_REFERENCE: dict[str, str] = {
    "unet_forward": '''
def unet_forward(down, up, x):
    from types import SimpleNamespace
    network = SimpleNamespace(down=down, up=up, num_downs=len(down), skips=True,
                              in_channels=x.shape[1])
    return UNetGenerator.forward(network, x)
''',
    "patchgan_layers": '''
from coursekit.nn import PatchGANDiscriminator

def patchgan_layers(in_channels, ndf=64, n_layers=3, norm="batch"):
    return list(PatchGANDiscriminator(in_channels, ndf=ndf, n_layers=n_layers, norm=norm).model)
''',
    "discriminator_loss": '''
from coursekit.nn import GANLoss

def discriminator_loss(D, x, y, fake):
    return GANLoss("vanilla").discriminator(D(torch.cat([x, y], dim=1)),
                                            D(torch.cat([x, fake.detach()], dim=1)))
''',
    "generator_loss": '''
from types import SimpleNamespace
from coursekit.models.pix2pix import Config, Pix2Pix
from coursekit.nn import GANLoss

def generator_loss(D, x, y, fake, lambda_l1=100.0):
    model = SimpleNamespace(D=D, config=Config(lambda_l1=lambda_l1), gan_loss=GANLoss())
    model.discriminate = lambda a, b: Pix2Pix.discriminate(model, a, b)
    return Pix2Pix.generator_loss(model, x, y, fake)
''',
    "training_step": '''
from coursekit.models.pix2pix import Config, Pix2Pix

def training_step(G, D, opt_G, opt_D, x, y, d_loss_fn, g_loss_fn, lambda_l1=100.0):
    model = Pix2Pix(Config(image_size=x.shape[-1], num_downs=2, lambda_l1=lambda_l1))
    model.G, model.D = G, D
    model._bind({"G": opt_G, "D": opt_D}, torch.amp.GradScaler("cpu", enabled=False))
    return model.training_step({"A": x, "B": y})
''',
}

#: One broken part per kind of failure; the other parts are the correct solution.
BROKEN: dict[str, str] = {
    # An exception inside the function.
    "unet_forward": '''
def unet_forward(down, up, x):
    features = [x]
    for layer in down:
        features.append(layer(features[-1]))
    return up[len(up)](features[-1])  # IndexError: off by one
''',
    # An endless loop inside the function.
    "patchgan_layers": '''
def patchgan_layers(in_channels, ndf=64, n_layers=3, norm="batch"):
    layers, n = [], 0
    while n <= n_layers:  # n is never incremented
        layers.append(nn.Identity())
    return layers
''',
}
#: A flood of output: the correct loss, printing 2000 lines on every call (about 30000 lines
#: in all). Printing is not a mistake: it must cost neither this part nor any other.
FLOOD = Mutant("d_flood", "discriminator_loss", "prints 2000 lines per call",
               "    return 0.5 * (loss_real + loss_fake)",
               '    for i in range(2000):\n        print("debug", i)\n'
               "    return 0.5 * (loss_real + loss_fake)", frozenset())


# ---- correct solutions written differently: each must get full marks ----------------------
EQUIVALENT: dict[str, dict[str, str]] = {
    "equivalent1": {
        # Recursive, and concatenating the decoder output first (the documented alternative).
        "unet_forward": '''
def unet_forward(down, up, x):
    def level(k, h):
        e = down[k](h)
        if k == len(down) - 1:
            return up[k](e)
        return up[k](torch.cat((level(k + 1, e), e), 1))
    return level(0, x)
''',
        # Widths precomputed, positional conv arguments, LeakyReLU not in place, norms by hand.
        "patchgan_layers": '''
def patchgan_layers(in_channels, ndf=64, n_layers=3, norm="batch"):
    widths = [ndf * min(2 ** n, 8) for n in range(n_layers + 1)]
    norms = {"batch": nn.BatchNorm2d,
             "instance": lambda c: nn.InstanceNorm2d(c, affine=False),
             "none": lambda c: nn.Identity()}
    layers = [nn.Conv2d(in_channels, widths[0], 4, 2, 1), nn.LeakyReLU(negative_slope=0.2)]
    for n in range(1, n_layers + 1):
        layers += [nn.Conv2d(widths[n - 1], widths[n], 4, 1 if n == n_layers else 2, 1,
                             bias=norm != "batch"),
                   norms[norm](widths[n]),
                   nn.LeakyReLU(0.2)]
    return layers + [nn.Conv2d(widths[-1], 1, 4, 1, 1)]
''',
        # BCE written by hand with logsigmoid; real and generated pairs judged in one batch.
        "discriminator_loss": '''
def discriminator_loss(D, x, y, fake):
    n = x.shape[0]
    logits = D(torch.cat([torch.cat([x, y], 1), torch.cat([x, fake.detach()], 1)], 0))
    return -(F.logsigmoid(logits[:n]).mean() + F.logsigmoid(-logits[n:]).mean()) / 2
''',
        "generator_loss": '''
def generator_loss(D, x, y, fake, lambda_l1=100.0):
    gan = -F.logsigmoid(D(torch.cat((x, fake), dim=1))).mean()
    l1 = (fake - y).abs().mean()
    return dict(G=lambda_l1 * l1 + gan, G_gan=gan, G_l1=l1)
''',
        # zero_grad after the step (set_to_none=False), D frozen parameter by parameter,
        # G(x) computed again for G's update, losses returned as Python floats.
        "training_step": '''
def training_step(G, D, opt_G, opt_D, x, y, d_loss_fn, g_loss_fn, lambda_l1=100.0):
    for p in D.parameters():
        p.requires_grad = True
    loss_D = d_loss_fn(D, x, y, G(x))
    loss_D.backward()
    opt_D.step()
    opt_D.zero_grad(set_to_none=False)
    for p in D.parameters():
        p.requires_grad = False
    losses = g_loss_fn(D, x, y, G(x), lambda_l1)
    losses["G"].backward()
    opt_G.step()
    opt_G.zero_grad(set_to_none=False)
    return {"D": loss_D.item(), **{k: v.item() for k, v in losses.items()}}
''',
    },
    "equivalent2": {
        # Sigmoid probabilities with BCE / log, as the loss is usually written on paper.
        "discriminator_loss": '''
def discriminator_loss(D, x, y, fake):
    p_real = torch.sigmoid(D(torch.cat([x, y], 1)))
    p_fake = torch.sigmoid(D(torch.cat([x, fake.detach()], 1)))
    return 0.5 * F.binary_cross_entropy(p_real, torch.ones_like(p_real)) \\
        + 0.5 * F.binary_cross_entropy(p_fake, torch.zeros_like(p_fake))
''',
        "generator_loss": '''
def generator_loss(D, x, y, fake, lambda_l1=100.0):
    gan = -torch.log(torch.sigmoid(D(torch.cat([x, fake], 1)))).mean()
    l1 = F.l1_loss(fake, y)
    return {"G_gan": gan, "G_l1": l1, "G": gan + lambda_l1 * l1}
''',
    },
    "equivalent3": {
        # G's gradient accumulated by two backward() calls (adversarial term, then the weighted
        # L1), D unfrozen parameter by parameter at the end of the step instead of the start.
        "training_step": '''
def training_step(G, D, opt_G, opt_D, x, y, d_loss_fn, g_loss_fn, lambda_l1=100.0):
    D.requires_grad_(True)
    fake = G(x)
    opt_D.zero_grad()
    loss_D = d_loss_fn(D, x, y, fake)
    loss_D.backward()
    opt_D.step()
    D.requires_grad_(False)
    opt_G.zero_grad()
    losses = g_loss_fn(D, x, y, fake, lambda_l1)
    losses["G_gan"].backward(retain_graph=True)
    (lambda_l1 * losses["G_l1"]).backward()
    opt_G.step()
    return {"D": loss_D.detach(), **{k: v.detach() for k, v in losses.items()}}
''',
    },
}
