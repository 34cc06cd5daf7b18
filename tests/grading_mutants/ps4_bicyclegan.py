"""Realistic mistakes in problem set 4 (BicycleGAN), and correct solutions written differently.

Used by tests/test_grading_ps4.py; what a mutant is, and how the submissions carry them:
tests/grading_mutants/common.py.
"""
from __future__ import annotations

from grading_mutants.common import Mutant
from grading_mutants.common import mutant as _m

ASSIGNMENT = "ps4_bicyclegan"

#: The graded cells of each part (grade_id of the solution cell -> its test cells).
PARTS: dict[str, tuple[str, ...]] = {
    "reparameterize": ("test_reparam_gradients", "test_reparam_statistics", "hidden_reparam",
                       "hidden_reparam_independent"),
    "kl_divergence": ("test_kl_hand", "test_kl_reference", "hidden_kl", "hidden_kl_sum"),
    "unet_forward_with_z": ("test_unet_z_all", "test_unet_z_input", "hidden_unet_z",
                            "hidden_unet_z_gradients"),
    "generator_encoder_loss": ("test_ge_reference", "test_ge_latent", "hidden_ge",
                               "hidden_ge_arguments", "hidden_training_run"),
    "discriminator_losses": ("test_d_value", "test_d_reference", "hidden_d", "hidden_d_leave_G"),
}

_REPARAM_STD = "    std = torch.exp(0.5 * logvar)\n"
_REPARAM_EPS = "    eps = torch.randn_like(std)\n"
_REPARAM_BODY = _REPARAM_STD + _REPARAM_EPS + "    return mu + std * eps"

_KL = "    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())"

_UNET_IF = '        if G.inject == "all" or i == 0:\n'
_UNET_INJECT = """            z_map = z[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
            h = torch.cat([h, z_map], dim=1)
"""

_GE_FREEZE = """    E.requires_grad_(False)  # Eq. 7 trains G only
    mu_rec, _ = E(fake_rand)
    E.requires_grad_(True)
"""

_D_TERMS = "            total = total + ((real_out - 1) ** 2).mean() + (fake_out ** 2).mean()"
_D_RETURN = ('    return {"D": lsgan(D, real_B, fake_enc), "D2": lsgan(D2, other_real_B, '
             'fake_rand)}')

MUTANTS: tuple[Mutant, ...] = (
    # ---- part 1: reparameterize
    _m("reparam_logvar_as_std", "reparameterize", "the log-variance used as the standard "
       "deviation", _REPARAM_STD, "    std = logvar\n",
       {"test_reparam_gradients", "test_reparam_statistics", "hidden_reparam",
        "hidden_reparam_independent"}),
    _m("reparam_one_eps_for_the_batch", "reparameterize", "one eps shared by every image of the "
       "batch (one draw per dimension)", _REPARAM_EPS,
       "    eps = torch.randn(std.shape[1], device=std.device)\n",
       {"test_reparam_statistics", "hidden_reparam", "hidden_reparam_independent"}),
    _m("reparam_variance_as_std", "reparameterize", "exp(logvar), the variance, used as the "
       "standard deviation (the half forgotten)", _REPARAM_STD, "    std = torch.exp(logvar)\n",
       {"test_reparam_gradients", "test_reparam_statistics", "hidden_reparam"}),
    _m("reparam_no_grad", "reparameterize", "the sample drawn under torch.no_grad(): no "
       "gradient reaches the encoder", _REPARAM_BODY, """    with torch.no_grad():
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + std * eps""",
       {"test_reparam_gradients", "hidden_reparam"}),
    _m("reparam_one_eps_per_image", "reparameterize", "one eps per image, shared by its "
       "dimensions", _REPARAM_EPS, "    eps = torch.randn(std.shape[0], 1, device=std.device)\n",
       {"hidden_reparam_independent"}),
    _m("reparam_uniform_noise", "reparameterize", "uniform noise (torch.rand_like) instead of "
       "N(0, 1)", _REPARAM_EPS, "    eps = torch.rand_like(std)\n",
       {"test_reparam_statistics", "hidden_reparam", "hidden_reparam_independent"}),
    _m("reparam_numpy_noise", "reparameterize", "eps drawn with NumPy (torch.manual_seed does "
       "not repeat the draws)", _REPARAM_EPS,
       "    eps = torch.from_numpy(np.random.randn(*std.shape)).to(std)\n",
       {"hidden_reparam"}, prefix="import numpy as np\n\n"),
    # ---- part 2: kl_divergence
    _m("kl_mean", "kl_divergence", "averaged over the batch and the dimensions instead of summed",
       _KL, "    return -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())",
       {"test_kl_hand", "test_kl_reference", "hidden_kl", "hidden_kl_sum"}),
    _m("kl_mean_over_batch", "kl_divergence", "summed over the dimensions, averaged over the "
       "batch (the usual VAE convention, not the reference code's)",
       _KL, "    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1).mean()",
       {"test_kl_hand", "test_kl_reference", "hidden_kl", "hidden_kl_sum"}),
    _m("kl_sign", "kl_divergence", "the sign flipped (the -1/2 written as 1/2)",
       _KL, "    return 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())",
       {"test_kl_hand", "test_kl_reference", "hidden_kl"}),
    _m("kl_std_for_variance", "kl_divergence", "exp(logvar / 2), the standard deviation, in "
       "place of the variance", _KL,
       "    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - (0.5 * logvar).exp())",
       {"test_kl_hand", "test_kl_reference", "hidden_kl"}),
    _m("kl_no_half", "kl_divergence", "the factor 1/2 left out",
       _KL, "    return -torch.sum(1 + logvar - mu.pow(2) - logvar.exp())",
       {"test_kl_hand", "test_kl_reference", "hidden_kl"}),
    _m("kl_without_one", "kl_divergence", "the constant 1 left out (the term is then not 0 at "
       "the prior)", _KL, "    return -0.5 * torch.sum(logvar - mu.pow(2) - logvar.exp())",
       {"test_kl_hand", "test_kl_reference", "hidden_kl", "hidden_kl_sum"}),
    # ---- part 3: unet_forward_with_z
    _m("unet_z_at_the_input_only", "unet_forward_with_z", "z only at the input although "
       "G.inject asks for every encoder layer", _UNET_IF, "        if i == 0:\n",
       {"test_unet_z_all", "hidden_unet_z", "hidden_unet_z_gradients"}),
    _m("unet_z_first", "unet_forward_with_z", "z concatenated before the features: the "
       "layers' weights expect the features first",
       "            h = torch.cat([h, z_map], dim=1)\n",
       "            h = torch.cat([z_map, h], dim=1)\n",
       {"test_unet_z_all", "test_unet_z_input", "hidden_unet_z", "hidden_unet_z_gradients"}),
    _m("unet_z_scrambled", "unet_forward_with_z", "z tiled with repeat and view, which mixes "
       "its numbers across the channels",
       "            z_map = z[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])\n",
       "            z_map = z.repeat(1, h.shape[2] * h.shape[3]).view(z.shape[0], z.shape[1],\n"
       "                                                              h.shape[2], h.shape[3])\n",
       {"test_unet_z_all", "test_unet_z_input", "hidden_unet_z", "hidden_unet_z_gradients"}),
    _m("unet_z_everywhere", "unet_forward_with_z", "z at every encoder layer although G.inject "
       "asks for the input only", _UNET_IF + _UNET_INJECT,
       """        z_map = z[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
        h = torch.cat([h, z_map], dim=1)
""", {"test_unet_z_input", "hidden_unet_z", "hidden_unet_z_gradients"}),
    _m("unet_z_detached", "unet_forward_with_z", "z detached: the L1 loss can no longer train "
       "the encoder through the code",
       "            z_map = z[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])\n",
       "            z_map = z.detach()[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])\n",
       {"hidden_unet_z_gradients"}),
    _m("unet_z_image_size", "unet_forward_with_z", "z tiled to the image's size at every layer, "
       "not to the feature map's",
       "            z_map = z[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])\n",
       "            z_map = z[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])\n",
       {"test_unet_z_all", "hidden_unet_z", "hidden_unet_z_gradients"}),
    # ---- part 4: generator_encoder_loss
    _m("ge_latent_updates_E", "generator_encoder_loss", "the latent regression also updates E "
       "(E's weights not frozen for it)", _GE_FREEZE, "    mu_rec, _ = E(fake_rand)\n",
       {"test_ge_reference", "test_ge_latent", "hidden_ge"}),
    _m("ge_latent_sampled_z", "generator_encoder_loss", "the latent regression against a code "
       "sampled from E(G(A, z)) instead of E's mean",
       "    mu_rec, _ = E(fake_rand)\n", "    mu_rec = reparameterize(*E(fake_rand))\n",
       {"test_ge_reference", "test_ge_latent", "hidden_ge"}),
    _m("ge_latent_no_grad", "generator_encoder_loss", "E's pass for the latent regression "
       "under torch.no_grad(): G learns nothing from it either", _GE_FREEZE,
       "    with torch.no_grad():\n        mu_rec, _ = E(fake_rand)\n",
       {"test_ge_reference", "test_ge_latent", "hidden_ge"}),
    _m("ge_E_left_frozen", "generator_encoder_loss", "E frozen for the latent regression and "
       "never switched back on", "    E.requires_grad_(True)\n", "",
       {"test_ge_reference", "test_ge_latent", "hidden_ge", "hidden_training_run"}),
    _m("ge_l1_on_the_random_code", "generator_encoder_loss", "the L1 term on the random code's "
       "photo (pix2pix + noise) instead of the encoded one's",
       '        "G_l1": (fake_enc - real_B).abs().mean(),',
       '        "G_l1": (fake_rand - real_B).abs().mean(),',
       {"test_ge_reference", "hidden_ge", "hidden_training_run"}),
    _m("ge_one_discriminator", "generator_encoder_loss", "D judges both batches of photos (D2 "
       "left out)", '        "G_gan2": gan_loss(D2(fake_rand)),',
       '        "G_gan2": gan_loss(D(fake_rand)),', {"test_ge_reference", "hidden_ge"}),
    _m("ge_code_without_noise", "generator_encoder_loss", "the encoded cycle with E's mean, "
       "without drawing the code", "    fake_enc = G(real_A, reparameterize(mu, logvar))\n",
       "    fake_enc = G(real_A, mu)\n",
       {"test_ge_reference", "hidden_ge", "hidden_ge_arguments"}),
    _m("ge_lambdas_swapped", "generator_encoder_loss", "lambda_latent and lambda_kl on each "
       "other's term", '+ lambda_latent * losses["z_l1"] + lambda_kl * losses["kl"])',
       '+ lambda_kl * losses["z_l1"] + lambda_latent * losses["kl"])',
       {"test_ge_reference", "hidden_ge", "hidden_training_run"}),
    _m("ge_gan_finest_scale", "generator_encoder_loss", "the GAN terms written by hand on D's "
       "finest scale only, instead of gan_loss", '''        "G_gan": gan_loss(D(fake_enc)),''',
       '''        "G_gan": ((D(fake_enc)[0] - 1) ** 2).mean(),''',
       {"test_ge_reference", "hidden_ge"}),
    # ---- part 5: discriminator_losses
    _m("d_fakes_not_detached", "discriminator_losses", "the generated photos not detached: D's "
       "loss reaches G", "zip(net(real), net(fake.detach()))", "zip(net(real), net(fake))",
       {"test_d_reference", "hidden_d", "hidden_d_leave_G"}),
    _m("d_halved", "discriminator_losses", "halved, as pix2pix and CycleGAN do",
       _D_TERMS, "            total = total + 0.5 * (((real_out - 1) ** 2).mean() "
                 "+ (fake_out ** 2).mean())",
       {"test_d_value", "test_d_reference", "hidden_d"}),
    _m("d2_same_real_half", "discriminator_losses", "D2 judged against the first half's photos, "
       "the same real photos as D", _D_RETURN,
       '    return {"D": lsgan(D, real_B, fake_enc), "D2": lsgan(D2, real_B, fake_rand)}',
       {"test_d_value", "test_d_reference", "hidden_d"}),
    _m("d_scales_averaged", "discriminator_losses", "the scales averaged instead of summed",
       "        return total\n", "        return total / len(net(real))\n",
       {"test_d_value", "test_d_reference", "hidden_d"}),
    _m("d_finest_scale_only", "discriminator_losses", "only the finest scale judged",
       "zip(net(real), net(fake.detach()))", "zip(net(real)[:1], net(fake.detach())[:1])",
       {"test_d_value", "test_d_reference", "hidden_d"}),
    _m("d_fakes_swapped", "discriminator_losses", "D judges the random-code photos and D2 the "
       "encoded ones", _D_RETURN,
       '    return {"D": lsgan(D, real_B, fake_rand), "D2": lsgan(D2, other_real_B, fake_enc)}',
       {"test_d_value", "test_d_reference", "hidden_d"}),
    _m("d_targets_swapped", "discriminator_losses", "the targets swapped: real photos towards "
       "0, generated ones towards 1", _D_TERMS,
       "            total = total + (real_out ** 2).mean() + ((fake_out - 1) ** 2).mean()",
       {"test_d_value", "test_d_reference", "hidden_d"}),
)


# ---- special submissions ----------------------------------------------------------------
#: Every part delegates to coursekit's own implementation, each through a name taken at the
#: top of the cell, before any check runs: each part must earn nothing.
USES_REFERENCE: dict[str, str] = {
    "reparameterize": '''
from coursekit.nn import reparameterize as reference_reparameterize

def reparameterize(mu, logvar):
    return reference_reparameterize(mu, logvar)
''',
    "kl_divergence": '''
from coursekit.nn.encoder import kl_divergence as reference_kl

def kl_divergence(mu, logvar):
    return reference_kl(mu, logvar)
''',
    # The U-Net's own forward, called as a function.
    "unet_forward_with_z": '''
forward = UNetGenerator.forward

def unet_forward_with_z(G, x, z):
    return forward(G, x, z)
''',
    # BicycleGAN's loss on a stand-in for the model; the latent term's L1 from coursekit.
    "generator_encoder_loss": '''
from types import SimpleNamespace
from coursekit.models.bicyclegan import BicycleGAN
reference_loss = BicycleGAN.generator_loss

def generator_encoder_loss(G, E, D, D2, real_A, real_B, z_random, reparameterize,
                           kl_divergence, gan_loss, lambda_l1=10.0, lambda_latent=0.5,
                           lambda_kl=0.01):
    config = SimpleNamespace(lambda_l1=lambda_l1, lambda_gan=1.0, lambda_gan2=1.0,
                             lambda_z=lambda_latent, lambda_kl=lambda_kl, conditional_d=False,
                             latent_updates_E=False, use_encoder=True)
    model = SimpleNamespace(config=config, G=G, E=E, D=D, D2=D2, _encoded_branch=True,
                            _random_branch=True,
                            gan_loss=SimpleNamespace(generator=gan_loss))
    model.discriminate = lambda net, x, y: net(y)
    model.encode_for_latent_loss = lambda fake: BicycleGAN.encode_for_latent_loss(model, fake)
    mu, logvar = E(real_B)
    parts = {"mu": mu, "logvar": logvar, "fake_enc": G(real_A, reparameterize(mu, logvar)),
             "z_rand": z_random, "fake_rand": G(real_A, z_random)}
    losses = reference_loss(model, real_A, real_B, parts)
    losses.update(fake_enc=parts["fake_enc"], fake_rand=parts["fake_rand"])
    return losses
''',
    "discriminator_losses": '''
lsgan = GANLoss("lsgan", d_scale=1.0, scales="sum")

def discriminator_losses(D, D2, real_B, other_real_B, fake_enc, fake_rand):
    return {"D": lsgan.discriminator(D(real_B), D(fake_enc.detach())),
            "D2": lsgan.discriminator(D2(other_real_B), D2(fake_rand.detach()))}
''',
}

#: One broken part per kind of failure; the other parts are the correct solution.
BROKEN: dict[str, str] = {
    # An exception: a key of the wrong name.
    "generator_encoder_loss": '''
def generator_encoder_loss(G, E, D, D2, real_A, real_B, z_random, reparameterize,
                           kl_divergence, gan_loss, lambda_l1=10.0, lambda_latent=0.5,
                           lambda_kl=0.01):
    mu, logvar = E(real_B)
    fake_enc = G(real_A, reparameterize(mu, logvar))
    fake_rand = G(real_A, z_random)
    losses = {"G_gan": gan_loss(D(fake_enc)), "G_l1": (fake_enc - real_B).abs().mean(),
              "kl": kl_divergence(mu, logvar), "G_gan2": gan_loss(D2(fake_rand))}
    E.requires_grad_(False)
    mu_rec, _ = E(fake_rand)
    E.requires_grad_(True)
    losses["z_l1"] = (mu_rec - z_random).abs().mean()
    losses["G"] = (losses["G_gan"] + losses["G_gan2"] + lambda_l1 * losses["L1"]
                   + lambda_latent * losses["z_l1"] + lambda_kl * losses["kl"])  # KeyError: 'L1'
    losses["fake_enc"], losses["fake_rand"] = fake_enc, fake_rand
    return losses
''',
    # An endless loop: the scale index is never advanced.
    "discriminator_losses": '''
def discriminator_losses(D, D2, real_B, other_real_B, fake_enc, fake_rand):
    def lsgan(net, real, fake):
        real_outs, fake_outs = net(real), net(fake.detach())
        total, s = 0.0, 0
        while s < len(real_outs):
            total = total + ((real_outs[s] - 1) ** 2).mean() + (fake_outs[s] ** 2).mean()
        return total

    return {"D": lsgan(D, real_B, fake_enc), "D2": lsgan(D2, other_real_B, fake_rand)}
''',
}
#: A flood of output: the correct reparameterisation, printing 2000 lines on every call.
#: Printing is not a mistake: it must cost neither this part nor any other.
FLOOD = Mutant("reparam_flood", "reparameterize", "prints 2000 lines per call", _REPARAM_STD,
               '    for i in range(2000):\n        print("debug", i)\n' + _REPARAM_STD,
               frozenset())


# ---- correct solutions written differently: each must get full marks ----------------------
EQUIVALENT: dict[str, dict[str, str]] = {
    "equivalent1": {
        # eps drawn as (nz, N) and transposed (other draws, same distribution); sqrt(exp).
        "reparameterize": '''
def reparameterize(mu, logvar):
    eps = torch.randn(mu.shape[1], mu.shape[0], dtype=mu.dtype, device=mu.device).T
    return eps * torch.sqrt(torch.exp(logvar)) + mu
''',
        # The textbook form, per dimension: (mu^2 + sigma^2 - 1 - log sigma^2) / 2.
        "kl_divergence": '''
def kl_divergence(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum()
''',
        # view + repeat for the tiling; the layers indexed.
        "unet_forward_with_z": '''
def unet_forward_with_z(G, x, z):
    n, nz = z.shape
    encoded, h = [], x
    for i in range(len(G.down)):
        if i == 0 or G.inject != "input":
            h = torch.cat((h, z.view(n, nz, 1, 1).repeat(1, 1, *h.shape[-2:])), 1)
        h = G.down[i](h)
        encoded.append(h)
    return unet_decode(G.up, encoded)
''',
        # A frozen copy of E for the latent regression; F.l1_loss; the dict built at the end.
        "generator_encoder_loss": '''
import copy

def generator_encoder_loss(G, E, D, D2, real_A, real_B, z_random, reparameterize,
                           kl_divergence, gan_loss, lambda_l1=10.0, lambda_latent=0.5,
                           lambda_kl=0.01):
    mu, logvar = E(real_B)
    z = reparameterize(mu, logvar)
    fake_enc, fake_rand = G(real_A, z), G(real_A, z_random)
    frozen_E = copy.deepcopy(E).requires_grad_(False)
    g_gan, g_gan2 = gan_loss(D(fake_enc)), gan_loss(D2(fake_rand))
    g_l1 = F.l1_loss(fake_enc, real_B)
    kl = kl_divergence(mu, logvar)
    z_l1 = F.l1_loss(frozen_E(fake_rand)[0], z_random)
    total = g_gan + g_gan2 + lambda_l1 * g_l1 + lambda_kl * kl + lambda_latent * z_l1
    return dict(G=total, G_gan=g_gan, G_l1=g_l1, kl=kl, G_gan2=g_gan2, z_l1=z_l1,
                fake_enc=fake_enc, fake_rand=fake_rand)
''',
        # F.mse_loss against ones and zeros; both fakes detached first.
        "discriminator_losses": '''
def discriminator_losses(D, D2, real_B, other_real_B, fake_enc, fake_rand):
    fake_enc, fake_rand = fake_enc.detach(), fake_rand.detach()
    out = {}
    for name, net, real, fake in (("D", D, real_B, fake_enc), ("D2", D2, other_real_B, fake_rand)):
        terms = [F.mse_loss(r, torch.ones_like(r)) + F.mse_loss(f, torch.zeros_like(f))
                 for r, f in zip(net(real), net(fake))]
        out[name] = torch.stack(terms).sum()
    return out
''',
    },
    "equivalent2": {
        # randn_like(logvar), exp(logvar / 2).
        "reparameterize": '''
def reparameterize(mu, logvar):
    return mu + torch.randn_like(logvar) * (logvar / 2).exp()
''',
        # Each image's KL summed over its dimensions, then the images' KLs summed.
        "kl_divergence": '''
def kl_divergence(mu, logvar):
    per_image = -0.5 * (1 + logvar - mu * mu - torch.exp(logvar)).sum(dim=1)
    return per_image.sum()
''',
        # Tiling by broadcasting against ones; the features first, the skips in a list.
        "unet_forward_with_z": '''
def unet_forward_with_z(G, x, z):
    skips = []
    for i, down in enumerate(G.down):
        if G.inject == "all" or i == 0:
            ones = x.new_ones(1, 1, x.shape[2], x.shape[3])
            x = torch.cat([x, z[..., None, None] * ones], dim=1)
        x = down(x)
        skips.append(x)
    return unet_decode(G.up, skips)
''',
        # E's weights as constants through torch.func.functional_call (no flags to restore).
        "generator_encoder_loss": '''
def generator_encoder_loss(G, E, D, D2, real_A, real_B, z_random, reparameterize,
                           kl_divergence, gan_loss, lambda_l1=10.0, lambda_latent=0.5,
                           lambda_kl=0.01):
    mu, logvar = E(real_B)
    out = {"fake_enc": G(real_A, reparameterize(mu, logvar)), "fake_rand": G(real_A, z_random)}
    out["G_gan"] = gan_loss(D(out["fake_enc"]))
    out["G_gan2"] = gan_loss(D2(out["fake_rand"]))
    out["G_l1"] = torch.mean(torch.abs(real_B - out["fake_enc"]))
    out["kl"] = kl_divergence(mu, logvar)
    constants = {name: p.detach() for name, p in E.named_parameters()}
    mu_back = torch.func.functional_call(E, constants, (out["fake_rand"],))[0]
    out["z_l1"] = torch.mean(torch.abs(z_random - mu_back))
    out["G"] = (out["G_gan"] + lambda_l1 * out["G_l1"] + lambda_kl * out["kl"]
                + out["G_gan2"] + lambda_latent * out["z_l1"])
    return out
''',
        # Real and generated photos judged in one batch (each image on its own: instance norm).
        "discriminator_losses": '''
def discriminator_losses(D, D2, real_B, other_real_B, fake_enc, fake_rand):
    def one(net, real, fake):
        n = real.shape[0]
        loss = 0
        for out in net(torch.cat([real, fake.detach()])):
            loss = loss + (out[:n] - 1).pow(2).mean() + out[n:].pow(2).mean()
        return loss
    return {"D": one(D, real_B, fake_enc), "D2": one(D2, other_real_B, fake_rand)}
''',
    },
    "equivalent3": {
        # E frozen parameter by parameter, its flags restored as they were.
        "generator_encoder_loss": '''
def generator_encoder_loss(G, E, D, D2, real_A, real_B, z_random, reparameterize,
                           kl_divergence, gan_loss, lambda_l1=10.0, lambda_latent=0.5,
                           lambda_kl=0.01):
    mu, logvar = E(real_B)
    fake_enc = G(real_A, reparameterize(mu, logvar))
    fake_rand = G(real_A, z_random)
    flags = [p.requires_grad for p in E.parameters()]
    for p in E.parameters():
        p.requires_grad = False
    try:
        z_back = E(fake_rand)[0]
    finally:
        for p, flag in zip(E.parameters(), flags):
            p.requires_grad = flag
    terms = {"G_gan": gan_loss(D(fake_enc)), "G_l1": F.l1_loss(fake_enc, real_B),
             "kl": kl_divergence(mu, logvar), "G_gan2": gan_loss(D2(fake_rand)),
             "z_l1": F.l1_loss(z_back, z_random)}
    weights = {"G_gan": 1.0, "G_l1": lambda_l1, "kl": lambda_kl, "G_gan2": 1.0,
               "z_l1": lambda_latent}
    terms["G"] = sum(weights[k] * terms[k] for k in weights)
    return {**terms, "fake_enc": fake_enc, "fake_rand": fake_rand}
''',
        # The squared errors written with torch.square and summed with sum().
        "discriminator_losses": '''
def discriminator_losses(D, D2, real_B, other_real_B, fake_enc, fake_rand):
    loss_D = sum(torch.square(r - 1).mean() + torch.square(f).mean()
                 for r, f in zip(D(real_B), D(fake_enc.detach())))
    loss_D2 = sum(torch.square(r - 1).mean() + torch.square(f).mean()
                  for r, f in zip(D2(other_real_B), D2(fake_rand.detach())))
    return {"D": loss_D, "D2": loss_D2}
''',
    },
}
