"""Realistic mistakes in problem set 5 (SPADE and normalisation), and correct solutions written
differently.

Used by tests/test_grading_ps5.py; what a mutant is, and how the submissions carry them:
tests/grading_mutants/common.py.
"""
from __future__ import annotations

from grading_mutants.common import Mutant
from grading_mutants.common import mutant as _m

ASSIGNMENT = "ps5_spade"

#: The graded cells of each part (grade_id of the solution cell -> its test cells).
PARTS: dict[str, tuple[str, ...]] = {
    "SPADELayer": ("test_spade_reference", "test_spade_nearest", "hidden_spade",
                   "hidden_spade_washout", "hidden_spade_training_run"),
    "SPADEResBlock": ("test_block_reference", "test_block_shortcut", "hidden_block",
                      "hidden_block_gradients"),
    "hinge_losses": ("test_hinge_hand", "test_hinge_reference", "hidden_hinge",
                     "hidden_hinge_margins"),
    "feature_matching_loss": ("test_fm_hand", "test_fm_gradients", "hidden_fm",
                              "hidden_fm_patchgan"),
    "adain": ("test_adain_hand", "test_adain_spade", "hidden_adain", "hidden_adain_statistics"),
}

_SPADE_OUT = "        return self.norm(h) * (1 + gamma) + beta"
_SPADE_NORMS = """        if norm == "batch":
            self.norm = nn.BatchNorm2d(channels, affine=False)
        else:
            self.norm = nn.InstanceNorm2d(channels, affine=False)
"""

_BLOCK_BODY = """        dx = self.conv_0(F.leaky_relu(self.norm_0(x, labels), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, labels), 0.2))
"""

_HINGE_D_TERMS = "        total = total + F.relu(1 - real).mean() + F.relu(1 + fake).mean()"
_HINGE_G = """    for fake in fake_logits:
        total = total - fake.mean()
    return total / len(fake_logits)"""

_FM_LAYERS = "        for fake, real in zip(fake_scale[:-1], real_scale[:-1]):\n"
_FM_TERM = "            total = total + (fake - real.detach()).abs().mean()"

_ADAIN_STATS = """    mu = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), unbiased=False, keepdim=True)
"""

MUTANTS: tuple[Mutant, ...] = (
    # ---- part 1: SPADELayer
    _m("spade_gamma_not_plus_one", "SPADELayer", "the normalised activations times gamma, not "
       "1 + gamma (a gamma near 0 then wipes them out)", _SPADE_OUT,
       "        return self.norm(h) * gamma + beta",
       {"test_spade_reference", "hidden_spade"}),
    _m("spade_bilinear", "SPADELayer", "the label map resized bilinearly: classes blended at "
       "every boundary", 'mode="nearest"', 'mode="bilinear"',
       {"test_spade_reference", "test_spade_nearest", "hidden_spade"}),
    _m("spade_affine_norm", "SPADELayer", "BatchNorm with its own learnt scale and shift "
       "(affine) under SPADE's", "nn.BatchNorm2d(channels, affine=False)",
       "nn.BatchNorm2d(channels)", {"test_spade_reference", "hidden_spade"}),
    _m("spade_norm_after_modulation", "SPADELayer", "the modulation before the norm, "
       "norm(h * (1 + gamma) + beta), which washes gamma and beta out", _SPADE_OUT,
       "        return self.norm(h * (1 + gamma) + beta)",
       {"test_spade_reference", "hidden_spade", "hidden_spade_washout"}),
    _m("spade_no_relu", "SPADELayer", "no ReLU on the shared embedding",
       "nn.Conv2d(label_channels, hidden, kernel, padding=kernel // 2), nn.ReLU())",
       "nn.Conv2d(label_channels, hidden, kernel, padding=kernel // 2))",
       {"test_spade_reference", "hidden_spade"}),
    _m("spade_always_instance", "SPADELayer", "instance norm whatever the norm argument says",
       _SPADE_NORMS, "        self.norm = nn.InstanceNorm2d(channels, affine=False)\n",
       {"test_spade_reference", "hidden_spade"}),
    _m("spade_output_detached", "SPADELayer", "the output detached from the graph: nothing "
       "before a SPADE layer learns", _SPADE_OUT,
       "        return (self.norm(h) * (1 + gamma) + beta).detach()",
       {"test_spade_reference", "hidden_spade", "hidden_spade_training_run"}),
    # ---- part 2: SPADEResBlock
    _m("block_conv_before_norm", "SPADEResBlock", "conv before norm (pix2pixHD's order): "
       "conv -> SPADE -> LeakyReLU (where the width shrinks, the SPADE layers then read the "
       "wrong number of channels)", _BLOCK_BODY,
       """        dx = F.leaky_relu(self.norm_0(self.conv_0(x), labels), 0.2)
        dx = F.leaky_relu(self.norm_1(self.conv_1(dx), labels), 0.2)
""", {"test_block_reference", "test_block_shortcut", "hidden_block", "hidden_block_gradients"}),
    _m("block_relu", "SPADEResBlock", "ReLU instead of LeakyReLU(0.2) after the first SPADE",
       "F.leaky_relu(self.norm_0(x, labels), 0.2)", "F.relu(self.norm_0(x, labels))",
       {"test_block_reference", "hidden_block", "hidden_block_gradients"}),
    _m("block_leaky_default_slope", "SPADEResBlock", "LeakyReLU's default slope 0.01 after "
       "the second SPADE", "F.leaky_relu(self.norm_1(dx, labels), 0.2)",
       "F.leaky_relu(self.norm_1(dx, labels))",
       {"test_block_reference", "hidden_block", "hidden_block_gradients"}),
    _m("block_always_learned_shortcut", "SPADEResBlock", "a learnt shortcut even where the "
       "channels stay the same", "        self.learned_shortcut = c_in != c_out\n",
       "        self.learned_shortcut = True\n",
       {"test_block_reference", "test_block_shortcut", "hidden_block",
        "hidden_block_gradients"}),
    _m("block_shortcut_without_spade", "SPADEResBlock", "the learnt shortcut without its SPADE "
       "layer: conv_s(x)", "shortcut = self.conv_s(self.norm_s(x, labels))",
       "shortcut = self.conv_s(x)",
       {"test_block_reference", "hidden_block", "hidden_block_gradients"}),
    _m("block_middle_c_out", "SPADEResBlock", "c_out channels in the middle instead of "
       "min(c_in, c_out)", "        middle = min(c_in, c_out)\n", "        middle = c_out\n",
       {"test_block_shortcut", "hidden_block", "hidden_block_gradients"}),
    _m("block_no_residual", "SPADEResBlock", "the shortcut left out of the sum",
       "        return shortcut + dx", "        return dx",
       {"test_block_reference", "hidden_block", "hidden_block_gradients"}),
    _m("block_shortcut_bias", "SPADEResBlock", "the 1x1 shortcut conv with a bias",
       "nn.Conv2d(c_in, c_out, 1, bias=False)", "nn.Conv2d(c_in, c_out, 1)",
       {"test_block_reference", "test_block_shortcut", "hidden_block",
        "hidden_block_gradients"}),
    # ---- part 3: hinge_losses
    _m("hinge_signs_swapped", "hinge_losses", "the hinge's signs swapped: real logits pushed "
       "below -1, generated ones above 1", _HINGE_D_TERMS,
       "        total = total + F.relu(1 + real).mean() + F.relu(1 - fake).mean()",
       {"test_hinge_hand", "test_hinge_reference", "hidden_hinge", "hidden_hinge_margins"}),
    _m("hinge_g_relu", "hinge_losses", "the generator's loss relu(1 - D(fake)), D's real term, "
       "instead of -D(fake)", "        total = total - fake.mean()",
       "        total = total + F.relu(1 - fake).mean()",
       {"test_hinge_hand", "test_hinge_reference", "hidden_hinge", "hidden_hinge_margins"}),
    _m("hinge_d_scales_summed", "hinge_losses", "D's loss summed over the scales, not averaged",
       "    return total / len(real_logits)", "    return total",
       {"test_hinge_hand", "test_hinge_reference", "hidden_hinge", "hidden_hinge_margins"}),
    _m("hinge_d_halved", "hinge_losses", "D's loss halved, as pix2pix does",
       "    return total / len(real_logits)", "    return 0.5 * total / len(real_logits)",
       {"test_hinge_hand", "test_hinge_reference", "hidden_hinge", "hidden_hinge_margins"}),
    _m("hinge_max_after_mean", "hinge_losses", "max(0, .) of the mean logit instead of the "
       "mean of max(0, .)", _HINGE_D_TERMS,
       "        total = total + F.relu(1 - real.mean()) + F.relu(1 + fake.mean())",
       {"test_hinge_hand", "test_hinge_reference", "hidden_hinge"}),
    _m("hinge_g_finest_scale", "hinge_losses", "G's loss on the finest scale only", _HINGE_G,
       "    return -fake_logits[0].mean()",
       {"test_hinge_hand", "test_hinge_reference", "hidden_hinge", "hidden_hinge_margins"}),
    # ---- part 4: feature_matching_loss
    _m("fm_real_not_detached", "feature_matching_loss", "the real features not detached",
       "(fake - real.detach())", "(fake - real)",
       {"test_fm_gradients", "hidden_fm", "hidden_fm_patchgan"}),
    _m("fm_last_layer_matched", "feature_matching_loss", "the last layer, the logits, matched "
       "too", _FM_LAYERS, "        for fake, real in zip(fake_scale, real_scale):\n",
       {"test_fm_hand", "test_fm_gradients", "hidden_fm", "hidden_fm_patchgan"}),
    _m("fm_scales_summed", "feature_matching_loss", "summed over the scales, not averaged",
       "    return total / len(fake_features)", "    return total",
       {"test_fm_hand", "test_fm_gradients", "hidden_fm", "hidden_fm_patchgan"}),
    _m("fm_layers_averaged", "feature_matching_loss", "averaged over the layers, not summed",
       _FM_TERM, _FM_TERM + " / (len(fake_scale) - 1)",
       {"test_fm_hand", "test_fm_gradients", "hidden_fm", "hidden_fm_patchgan"}),
    _m("fm_squared", "feature_matching_loss", "the squared difference (L2) instead of L1",
       ".abs().mean()", ".pow(2).mean()",
       {"test_fm_hand", "test_fm_gradients", "hidden_fm", "hidden_fm_patchgan"}),
    _m("fm_fake_detached", "feature_matching_loss", "the generated features detached too: G "
       "learns nothing from it", "(fake - real.detach())", "(fake.detach() - real.detach())",
       {"test_fm_gradients", "hidden_fm", "hidden_fm_patchgan"}),
    _m("fm_first_layer_skipped", "feature_matching_loss", "the first layer skipped as well as "
       "the logits", _FM_LAYERS,
       "        for fake, real in zip(fake_scale[1:-1], real_scale[1:-1]):\n",
       {"test_fm_hand", "test_fm_gradients", "hidden_fm", "hidden_fm_patchgan"}),
    # ---- part 5: adain
    _m("adain_unbiased", "adain", "the unbiased variance (divided by HW - 1)",
       "unbiased=False", "unbiased=True",
       {"test_adain_hand", "test_adain_spade", "hidden_adain", "hidden_adain_statistics"}),
    _m("adain_batch_statistics", "adain", "the statistics over the batch too (BatchNorm's)",
       _ADAIN_STATS, """    mu = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
""", {"test_adain_hand", "test_adain_spade", "hidden_adain", "hidden_adain_statistics"}),
    _m("adain_eps_outside", "adain", "eps added to the standard deviation, outside the square "
       "root", "torch.sqrt(var + eps)", "(torch.sqrt(var) + eps)",
       {"test_adain_hand", "hidden_adain"}),
    _m("adain_mean_std_swapped", "adain", "the mean as the scale and the std as the shift",
       "normalized * std[:, :, None, None] + mean[:, :, None, None]",
       "normalized * mean[:, :, None, None] + std[:, :, None, None]",
       {"test_adain_hand", "test_adain_spade", "hidden_adain", "hidden_adain_statistics"}),
    _m("adain_layer_statistics", "adain", "the statistics over the channels too (LayerNorm's)",
       _ADAIN_STATS, """    mu = x.mean(dim=(1, 2, 3), keepdim=True)
    var = x.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
""", {"test_adain_spade", "hidden_adain", "hidden_adain_statistics"}),
    _m("adain_no_eps", "adain", "eps left out (a constant channel divides 0 by 0)",
       "torch.sqrt(var + eps)", "torch.sqrt(var)", {"test_adain_hand", "hidden_adain"}),
)


# ---- special submissions ----------------------------------------------------------------
#: Every part delegates to coursekit's own implementation, each through a name taken at the
#: top of the cell, before any check runs: each part must earn nothing.
USES_REFERENCE: dict[str, str] = {
    # coursekit's SPADE as the base class.
    "SPADELayer": '''
from coursekit.nn import SPADE as ReferenceSPADE


class SPADELayer(ReferenceSPADE):
    pass
''',
    # coursekit's block's forward on the student's layers (named as coursekit names them).
    "SPADEResBlock": '''
from coursekit.nn.spade import SPADEResBlock as ReferenceBlock
reference_forward = ReferenceBlock.forward


class SPADEResBlock(nn.Module):
    def __init__(self, c_in, c_out, spade):
        super().__init__()
        middle = min(c_in, c_out)
        self.learned_shortcut = c_in != c_out
        self.norm_0, self.conv_0 = spade(c_in), nn.Conv2d(c_in, middle, 3, padding=1)
        self.norm_1, self.conv_1 = spade(middle), nn.Conv2d(middle, c_out, 3, padding=1)
        if self.learned_shortcut:
            self.norm_s, self.conv_s = spade(c_in), nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x, labels):
        return reference_forward(self, x, labels)
''',
    "hinge_losses": '''
from coursekit.nn import GANLoss
reference = GANLoss("hinge", d_scale=1.0)


def hinge_d_loss(real_logits, fake_logits):
    return reference.discriminator(real_logits, fake_logits)


def hinge_g_loss(fake_logits):
    return reference.generator(fake_logits)
''',
    "feature_matching_loss": '''
from coursekit.nn import feature_matching_loss as reference_fm


def feature_matching_loss(fake_features, real_features):
    return reference_fm(fake_features, real_features)
''',
    "adain": '''
from coursekit.nn.norm import adain as reference_adain


def adain(x, mean, std, eps=1e-5):
    return reference_adain(x, mean, std, eps)
''',
}

#: One broken part per kind of failure; the other parts are the correct solution.
BROKEN: dict[str, str] = {
    # An exception: a layer that does not exist.
    "SPADEResBlock": '''
class SPADEResBlock(nn.Module):
    def __init__(self, c_in, c_out, spade):
        super().__init__()
        middle = min(c_in, c_out)
        self.learned_shortcut = c_in != c_out
        self.norm_0, self.conv_0 = spade(c_in), nn.Conv2d(c_in, middle, 3, padding=1)
        self.norm_1, self.conv_1 = spade(middle), nn.Conv2d(middle, c_out, 3, padding=1)
        if self.learned_shortcut:
            self.norm_s, self.conv_s = spade(c_in), nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x, labels):
        shortcut = self.conv_s(self.norm_s(x, labels)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, labels), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_2(dx, labels), 0.2))  # AttributeError: norm_2
        return shortcut + dx
''',
    # An endless loop: the scale index is never advanced.
    "feature_matching_loss": '''
def feature_matching_loss(fake_features, real_features):
    total, k = 0.0, 0
    while k < len(fake_features):
        for fake, real in zip(fake_features[k][:-1], real_features[k][:-1]):
            total = total + (fake - real.detach()).abs().mean()
    return total / len(fake_features)
''',
}
#: A flood of output: the correct AdaIN, printing 2000 lines on every call. Printing is not a
#: mistake: it must cost neither this part nor any other.
FLOOD = Mutant("adain_flood", "adain", "prints 2000 lines per call",
               "    mu = x.mean(dim=(2, 3), keepdim=True)\n",
               '    for i in range(2000):\n        print("debug", i)\n'
               "    mu = x.mean(dim=(2, 3), keepdim=True)\n", frozenset())


# ---- correct solutions written differently: each must get full marks ----------------------
EQUIVALENT: dict[str, dict[str, str]] = {
    "equivalent1": {
        # Functional norms (batch statistics always), the shared conv alone with F.relu in
        # forward, the nearest resize by indexing, norm + norm * gamma + beta.
        "SPADELayer": '''
class SPADELayer(nn.Module):
    def __init__(self, channels, label_channels, hidden=128, kernel=3, norm="batch"):
        super().__init__()
        pad = (kernel - 1) // 2
        self.shared = nn.Conv2d(label_channels, hidden, kernel, padding=pad)
        self.gamma = nn.Conv2d(hidden, channels, kernel, padding=pad)
        self.beta = nn.Conv2d(hidden, channels, kernel, padding=pad)
        self.use_batch_statistics = norm == "batch"

    def forward(self, h, labels):
        height, width = h.shape[2:]
        rows = torch.arange(height, device=h.device) * labels.shape[2] // height
        cols = torch.arange(width, device=h.device) * labels.shape[3] // width
        m = labels[:, :, rows][:, :, :, cols]
        if self.use_batch_statistics:
            normalized = F.batch_norm(h, None, None, training=True, eps=1e-5)
        else:
            normalized = F.instance_norm(h, eps=1e-5)
        e = F.relu(self.shared(m))
        return normalized + normalized * self.gamma(e) + self.beta(e)
''',
        # The layers registered pair by pair, nn.LeakyReLU as a module, the shortcut added last
        # (and found by hasattr).
        "SPADEResBlock": '''
class SPADEResBlock(nn.Module):
    def __init__(self, c_in, c_out, spade):
        super().__init__()
        width = c_out if c_out < c_in else c_in
        self.act = nn.LeakyReLU(0.2)
        self.norm_0, self.conv_0 = spade(c_in), nn.Conv2d(c_in, width, kernel_size=3, padding=1)
        self.norm_1, self.conv_1 = spade(width), nn.Conv2d(width, c_out, kernel_size=3, padding=1)
        if c_in != c_out:
            self.norm_s = spade(c_in)
            self.conv_s = nn.Conv2d(c_in, c_out, kernel_size=1, bias=False)

    def forward(self, x, labels):
        out = self.conv_0(self.act(self.norm_0(x, labels)))
        out = self.conv_1(self.act(self.norm_1(out, labels)))
        if hasattr(self, "conv_s"):
            return out + self.conv_s(self.norm_s(x, labels))
        return out + x
''',
        # clamp and a stack of the scales' losses.
        "hinge_losses": '''
def hinge_d_loss(real_logits, fake_logits):
    per_scale = [torch.clamp(1 - r, min=0).mean() + torch.clamp(1 + f, min=0).mean()
                 for r, f in zip(real_logits, fake_logits)]
    return torch.stack(per_scale).mean()


def hinge_g_loss(fake_logits):
    return -torch.stack([f.mean() for f in fake_logits]).mean()
''',
        # F.l1_loss per layer, the scales' sums in a list.
        "feature_matching_loss": '''
def feature_matching_loss(fake_features, real_features):
    scales = []
    for fake_scale, real_scale in zip(fake_features, real_features):
        layers = [F.l1_loss(f, r.detach()) for f, r in zip(fake_scale[:-1], real_scale[:-1])]
        scales.append(sum(layers))
    return sum(scales) / len(scales)
''',
        # torch's instance norm, then the scale and the shift.
        "adain": '''
def adain(x, mean, std, eps=1e-5):
    n, c = mean.shape
    return F.instance_norm(x, eps=eps) * std.view(n, c, 1, 1) + mean.view(n, c, 1, 1)
''',
    },
    "equivalent2": {
        # The statistics by hand (biased variance, rsqrt), padding="same", F.interpolate's
        # default mode (nearest), addcmul.
        "SPADELayer": '''
class SPADELayer(nn.Module):
    def __init__(self, channels, label_channels, hidden=128, kernel=3, norm="batch"):
        super().__init__()
        self.dims = (0, 2, 3) if norm == "batch" else (2, 3)
        self.shared = nn.Sequential(nn.Conv2d(label_channels, hidden, kernel, padding="same"),
                                    nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, kernel, padding="same")
        self.beta = nn.Conv2d(hidden, channels, kernel, padding="same")

    def forward(self, h, labels):
        mu = h.mean(dim=self.dims, keepdim=True)
        var = ((h - mu) ** 2).mean(dim=self.dims, keepdim=True)
        normalized = (h - mu) * torch.rsqrt(var + 1e-5)
        e = self.shared(F.interpolate(labels, size=tuple(h.shape[-2:])))
        return torch.addcmul(self.beta(e), normalized, 1 + self.gamma(e))
''',
        # A helper for "SPADE, LeakyReLU, conv"; the shortcut's layers registered conv first.
        "SPADEResBlock": '''
class SPADEResBlock(nn.Module):
    def __init__(self, c_in, c_out, spade):
        super().__init__()
        mid = min(c_in, c_out)
        self.norm_0, self.norm_1 = spade(c_in), spade(mid)
        self.conv_0 = nn.Conv2d(c_in, mid, 3, 1, 1)
        self.conv_1 = nn.Conv2d(mid, c_out, 3, 1, 1)
        self.learned = c_in != c_out
        if self.learned:
            self.conv_s = nn.Conv2d(c_in, c_out, 1, bias=False)
            self.norm_s = spade(c_in)

    def _step(self, norm, conv, x, labels):
        return conv(F.leaky_relu(norm(x, labels), negative_slope=0.2))

    def forward(self, x, labels):
        s = self.conv_s(self.norm_s(x, labels)) if self.learned else x
        dx = self._step(self.norm_0, self.conv_0, x, labels)
        return s + self._step(self.norm_1, self.conv_1, dx, labels)
''',
        # -min(0, x - 1) for the hinge; G's loss as a sum of the scales' shares.
        "hinge_losses": '''
def hinge_d_loss(real_logits, fake_logits):
    loss = 0
    for r, f in zip(real_logits, fake_logits):
        loss = loss - torch.minimum(r - 1, torch.zeros_like(r)).mean()
        loss = loss - torch.minimum(-f - 1, torch.zeros_like(f)).mean()
    return loss / len(real_logits)


def hinge_g_loss(fake_logits):
    return sum(-f.mean() / len(fake_logits) for f in fake_logits)
''',
        # The targets copied under no_grad; the logits dropped by zip against the shorter list.
        "feature_matching_loss": '''
def feature_matching_loss(fake_features, real_features):
    with torch.no_grad():
        targets = [[r.clone() for r in scale[:-1]] for scale in real_features]
    total = fake_features[0][0].new_zeros(())
    for fake_scale, target_scale in zip(fake_features, targets):
        for f, t in zip(fake_scale, target_scale):
            total = total + torch.mean(torch.abs(f - t))
    return total / len(targets)
''',
        # torch.var_mean with correction=0, rsqrt, unsqueeze.
        "adain": '''
def adain(x, mean, std, eps=1e-5):
    var, mu = torch.var_mean(x, dim=(2, 3), correction=0, keepdim=True)
    scale = std.unsqueeze(-1).unsqueeze(-1) * torch.rsqrt(var + eps)
    return (x - mu) * scale + mean.unsqueeze(-1).unsqueeze(-1)
''',
    },
    "equivalent3": {
        # BatchNorm without running statistics, the convs registered beta first, padding by
        # hand (F.pad) around padding-free convs.
        "SPADELayer": '''
class SPADELayer(nn.Module):
    def __init__(self, channels, label_channels, hidden=128, kernel=3, norm="batch"):
        super().__init__()
        self.beta = nn.Conv2d(hidden, channels, kernel)
        self.gamma = nn.Conv2d(hidden, channels, kernel)
        self.shared = nn.Sequential(nn.Conv2d(label_channels, hidden, kernel), nn.ReLU())
        self.pad = kernel // 2
        if norm == "batch":
            self.norm = nn.BatchNorm2d(channels, affine=False, track_running_stats=False)
        else:
            self.norm = nn.InstanceNorm2d(channels)

    def forward(self, h, labels):
        p = (self.pad,) * 4
        m = F.interpolate(labels, size=h.shape[-2:], mode="nearest")
        e = F.pad(self.shared(F.pad(m, p)), p)
        return self.norm(h) * (1 + self.gamma(e)) + self.beta(e)
''',
        # AdaIN through F.layer_norm over each map's (H, W).
        "adain": '''
def adain(x, mean, std, eps=1e-5):
    normalized = F.layer_norm(x, x.shape[-2:], eps=eps)
    return normalized * std[..., None, None] + mean[..., None, None]
''',
    },
}
