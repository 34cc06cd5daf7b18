"""Realistic mistakes in problem set 6 (MUNIT and AdaIN), and correct solutions written
differently.

Used by tests/test_grading_ps6.py; what a mutant is, and how the submissions carry them:
tests/grading_mutants/common.py.
"""
from __future__ import annotations

from grading_mutants.common import Mutant
from grading_mutants.common import mutant as _m

ASSIGNMENT = "ps6_munit"

#: The graded cells of each part (grade_id of the solution cell -> its test cells).
PARTS: dict[str, tuple[str, ...]] = {
    "adain": ("test_adain_hand", "test_adain_decoder", "hidden_adain", "hidden_adain_statistics"),
    "adain_params": ("test_params_hand", "test_params_reference", "hidden_params",
                     "hidden_params_decoder"),
    "StyleEncoder": ("test_style_reference", "test_style_statistics", "hidden_style",
                     "hidden_style_pooling"),
    "generator_losses": ("test_loss_reference", "test_loss_targets", "hidden_loss",
                         "hidden_loss_arguments", "hidden_loss_training_run"),
    "translate_like": ("test_guided_reference", "test_guided_one_reference", "hidden_guided",
                       "hidden_guided_seasons"),
}
_ALL = {part: set(cells) for part, cells in PARTS.items()}

_ADAIN_STATS = """    mu = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), unbiased=False, keepdim=True)
"""
_ADAIN_OUT = "normalized * std[:, :, None, None] + mean[:, :, None, None]"

_PARAMS_LOOP = """    for block in decoder.blocks:
        for _ in range(2):  # two AdaIN layers per residual block
            c = block.dim
            mean = params[:, start:start + c]
            std = params[:, start + c:start + 2 * c]
            pairs.append((mean, std))
            start += 2 * c
"""

_STYLE_DOWN = "nn.Conv2d(dim, width, 4, stride=2), nn.ReLU()]"
_STYLE_OUT = "        return self.out(self.pool(self.features(x))).flatten(1)"

_LOSS_STYLE_A = '(m.Es_A(x_ba) - s_a)'
_LOSS_GAN_A = 'gan_loss(m.D_A(x_ba))'

_GUIDED_STYLE = 'style = getattr(model, f"Es_{target}")(reference)'
_GUIDED_EXPAND = """    if len(style) == 1:  # one reference for every input
        style = style.expand(len(x), -1)
"""

MUTANTS: tuple[Mutant, ...] = (
    # ---- part 1: adain
    _m("adain_unbiased", "adain", "the unbiased variance (divided by HW - 1)",
       "unbiased=False", "unbiased=True", _ALL["adain"]),
    _m("adain_batch_statistics", "adain", "the statistics over the batch too (BatchNorm's)",
       _ADAIN_STATS, """    mu = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
""", _ALL["adain"]),
    _m("adain_mean_std_swapped", "adain", "the mean as the scale and the std as the shift",
       _ADAIN_OUT, "normalized * mean[:, :, None, None] + std[:, :, None, None]",
       _ALL["adain"]),
    _m("adain_one_plus_std", "adain", "1 + std as the scale (SPADE's 1 + gamma)", _ADAIN_OUT,
       "normalized * (1 + std[:, :, None, None]) + mean[:, :, None, None]", _ALL["adain"]),
    _m("adain_eps_outside", "adain", "eps added to the standard deviation, outside the square "
       "root", "torch.sqrt(var + eps)", "(torch.sqrt(var) + eps)",
       {"test_adain_hand", "test_adain_decoder", "hidden_adain"}),
    _m("adain_layer_statistics", "adain", "the statistics over the channels too (LayerNorm's)",
       _ADAIN_STATS, """    mu = x.mean(dim=(1, 2, 3), keepdim=True)
    var = x.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
""", {"test_adain_decoder", "hidden_adain", "hidden_adain_statistics"}),
    _m("adain_no_eps", "adain", "eps left out (a constant channel divides 0 by 0)",
       "torch.sqrt(var + eps)", "torch.sqrt(var)",
       {"test_adain_hand", "test_adain_decoder", "hidden_adain"}),
    # ---- part 2: adain_params
    _m("params_std_first", "adain_params", "the std first and the mean next in each layer's "
       "numbers", "pairs.append((mean, std))", "pairs.append((std, mean))",
       _ALL["adain_params"]),
    _m("params_one_plus_std", "adain_params", "1 + gamma instead of gamma (SPADE's convention)",
       "pairs.append((mean, std))", "pairs.append((mean, 1 + std))", _ALL["adain_params"]),
    _m("params_std_made_positive", "adain_params", "the std passed through softplus to make it "
       "positive", "pairs.append((mean, std))", "pairs.append((mean, F.softplus(std)))",
       _ALL["adain_params"]),
    _m("params_means_then_stds", "adain_params", "every layer's mean first, then every layer's "
       "std", _PARAMS_LOOP,
       """    layers = [block.dim for block in decoder.blocks for _ in range(2)]
    half = sum(layers)
    for c in layers:
        pairs.append((params[:, start:start + c], params[:, half + start:half + start + c]))
        start += c
""", _ALL["adain_params"]),
    _m("params_one_pair_per_block", "adain_params", "both AdaIN layers of a block given the same "
       "pair (the offset advanced once per block)",
       "            pairs.append((mean, std))\n            start += 2 * c\n",
       "            pairs.append((mean, std))\n        start += 2 * c\n", _ALL["adain_params"]),
    _m("params_layers_reversed", "adain_params", "the layers in reverse order",
       "    return pairs", "    return pairs[::-1]", _ALL["adain_params"]),
    _m("params_no_mlp", "adain_params", "the style code split instead of the MLP's output",
       "params = decoder.mlp(style)", "params = style",
       {"test_params_reference", "hidden_params", "hidden_params_decoder"}),
    _m("params_detached", "adain_params", "the MLP's output detached: the MLP never learns",
       "params = decoder.mlp(style)", "params = decoder.mlp(style).detach()",
       {"test_params_reference", "hidden_params"}),
    # ---- part 3: StyleEncoder
    _m("style_instance_norm", "StyleEncoder", "an instance norm after the first convolution "
       "(the content encoder's habit), which erases the style",
       "nn.Conv2d(in_channels, dim, 7), nn.ReLU()]",
       "nn.Conv2d(in_channels, dim, 7), nn.InstanceNorm2d(dim), nn.ReLU()]",
       _ALL["StyleEncoder"]),
    _m("style_one_pixel", "StyleEncoder", "no global pooling: the last feature map's top left "
       "pixel", "self.out(self.pool(self.features(x)))",
       "self.out(self.features(x)[:, :, :1, :1])",
       {"test_style_reference", "hidden_style", "hidden_style_pooling"}),
    _m("style_flattened", "StyleEncoder", "no global pooling: the 1x1 conv's map flattened "
       "into the code", _STYLE_OUT, "        return self.out(self.features(x)).flatten(1)",
       _ALL["StyleEncoder"]),
    _m("style_normalised_input", "StyleEncoder", "the input image instance-normalised by hand "
       "in forward", _STYLE_OUT,
       "        return self.out(self.pool(self.features(F.instance_norm(x)))).flatten(1)",
       {"test_style_reference", "test_style_statistics", "hidden_style"}),
    _m("style_zero_padding", "StyleEncoder", "zero instead of reflection padding before the "
       "downsamplings", "nn.ReflectionPad2d(1)", "nn.ZeroPad2d(1)",
       {"test_style_reference", "hidden_style"}),
    _m("style_always_doubling", "StyleEncoder", "the width doubled at every downsampling",
       "width = 2 * dim if i < 2 else dim", "width = 2 * dim",
       {"test_style_reference", "hidden_style"}),
    _m("style_no_relu_after_downsampling", "StyleEncoder", "no ReLU after the stride-2 "
       "convolutions", _STYLE_DOWN, "nn.Conv2d(dim, width, 4, stride=2)]",
       {"test_style_reference", "hidden_style"}),
    # ---- part 4: generator_losses
    _m("loss_style_other_domain", "generator_losses", "the style reconstruction of A against "
       "the other domain's sampled code s_b", _LOSS_STYLE_A, "(m.Es_A(x_ba) - s_b)",
       {"test_loss_reference", "test_loss_targets", "hidden_loss"}),
    _m("loss_cycle_random_style", "generator_losses", "the cycle decoded with a random style "
       "instead of the image's own", "(m.G_A(c_a_back, s_a_own) - x_a)",
       "(m.G_A(c_a_back, torch.randn_like(s_a_own)) - x_a)",
       {"test_loss_reference", "test_loss_targets", "hidden_loss"}),
    _m("loss_gan_on_reconstructions", "generator_losses", "D_A judging the reconstruction of "
       "x_a instead of the translation into A", _LOSS_GAN_A,
       "gan_loss(m.D_A(m.G_A(c_a, s_a_own)))",
       {"test_loss_reference", "test_loss_targets", "hidden_loss"}),
    _m("loss_style_encoded_target", "generator_losses", "the style reconstruction of B against "
       "the encoded style of the real x_b", "(m.Es_B(x_ab) - s_b)",
       "(m.Es_B(x_ab) - s_b_own)", {"test_loss_reference", "test_loss_targets", "hidden_loss"}),
    _m("loss_content_source_encoder", "generator_losses", "the translations' content read "
       "back by the source domain's content encoder",
       "c_b_back, c_a_back = m.Ec_A(x_ba), m.Ec_B(x_ab)",
       "c_b_back, c_a_back = m.Ec_B(x_ba), m.Ec_A(x_ab)",
       {"test_loss_reference", "test_loss_targets", "hidden_loss"}),
    _m("loss_recon_sampled_style", "generator_losses", "the image reconstruction of A decoded "
       "with the sampled style instead of its own", "(m.G_A(c_a, s_a_own) - x_a)",
       "(m.G_A(c_a, s_a) - x_a)", {"test_loss_reference", "test_loss_targets", "hidden_loss"}),
    _m("loss_cycle_weighted_by_lambda_x", "generator_losses", "the cycle weighted by lambda_x "
       "(both are 10 in the paper)", 'lambda_cycle * (losses["cycle_A"]',
       'lambda_x * (losses["cycle_A"]', {"hidden_loss", "hidden_loss_arguments"}),
    _m("loss_total_without_graph", "generator_losses", "the total rebuilt as a new tensor from "
       "its value: nothing learns from it", '    losses["x_ab"], losses["x_ba"] = x_ab, x_ba',
       '    losses["G"] = torch.tensor(losses["G"].item())\n'
       '    losses["x_ab"], losses["x_ba"] = x_ab, x_ba',
       {"test_loss_reference", "hidden_loss", "hidden_loss_training_run"}),
    _m("loss_own_gan_loss", "generator_losses", "coursekit's GAN loss of the model instead of "
       "the gan_loss argument (the same values)", _LOSS_GAN_A,
       "m.gan_loss.generator(m.D_A(x_ba))", {"hidden_loss_arguments"}),
    # ---- part 5: translate_like
    _m("guided_source_style_encoder", "translate_like", "the reference's style read by the "
       "source domain's style encoder", _GUIDED_STYLE,
       'style = getattr(model, f"Es_{source}")(reference)',
       {"test_guided_reference", "test_guided_one_reference", "hidden_guided"}),
    _m("guided_style_of_input", "translate_like", "the style of x instead of the reference's",
       _GUIDED_STYLE, 'style = getattr(model, f"Es_{target}")(x)', _ALL["translate_like"]),
    _m("guided_content_of_reference", "translate_like", "the reference's content instead of x's",
       'content = getattr(model, f"Ec_{source}")(x)',
       'content = getattr(model, f"Ec_{source}")(reference)',
       {"test_guided_reference", "test_guided_one_reference", "hidden_guided"}),
    _m("guided_source_decoder", "translate_like", "drawn by the source domain's decoder",
       'return getattr(model, f"G_{target}")(content, style)',
       'return getattr(model, f"G_{source}")(content, style)',
       {"test_guided_reference", "test_guided_one_reference", "hidden_guided"}),
    _m("guided_one_reference_not_repeated", "translate_like", "one reference's style code not "
       "repeated for the batch", _GUIDED_EXPAND, "",
       {"test_guided_one_reference", "hidden_guided"}),
    _m("guided_random_style", "translate_like", "a random style instead of the reference's",
       _GUIDED_EXPAND, "    style = torch.randn(len(x), style.shape[1])\n",
       _ALL["translate_like"]),
    _m("guided_always_a_to_b", "translate_like", "the direction ignored: always from A to B",
       "source, target = direction[0], direction[-1]", 'source, target = "A", "B"',
       {"hidden_guided"}),
)


# ---- special submissions ----------------------------------------------------------------
#: Every part delegates to coursekit's own implementation, each through a name taken at the
#: top of the cell, before any check runs: each part must earn nothing.
USES_REFERENCE: dict[str, str] = {
    "adain": '''
from coursekit.nn.norm import adain as reference_adain


def adain(x, mean, std, eps=1e-5):
    return reference_adain(x, mean, std, eps)
''',
    "adain_params": '''
from coursekit.models.munit import Decoder as ReferenceDecoder
reference_split = ReferenceDecoder.adain_params


def adain_params(decoder, style):
    return reference_split(decoder, style)
''',
    # coursekit's StyleEncoder as the base class.
    "StyleEncoder": '''
from coursekit.models.munit import StyleEncoder as ReferenceStyleEncoder


class StyleEncoder(ReferenceStyleEncoder):
    pass
''',
    "generator_losses": '''
from coursekit.models.munit import MUNIT as ReferenceMUNIT
reference_losses = ReferenceMUNIT.generator_losses


def generator_losses(model, x_a, x_b, s_a, s_b, gan_loss, lambda_gan=1.0, lambda_x=10.0,
                     lambda_c=1.0, lambda_s=1.0, lambda_cycle=10.0):
    codes = iter((s_a, s_b))
    model.sample_style = lambda n: next(codes)
    return reference_losses(model, x_a, x_b)
''',
    "translate_like": '''
from coursekit.models.munit import MUNIT as ReferenceMUNIT
reference_translate_like = ReferenceMUNIT.translate_like


def translate_like(model, x, reference, direction="AtoB"):
    return reference_translate_like(model, x, reference, direction)
''',
}

#: One broken part per kind of failure; the other parts are the correct solution.
BROKEN: dict[str, str] = {
    # An exception: a name that does not exist.
    "translate_like": '''
def translate_like(model, x, reference, direction="AtoB"):
    source, target = direction[0], direction[-1]
    content = getattr(model, f"Ec_{source}")(x)
    style = getattr(model, f"Es_{target}")(reference)
    return getattr(model, f"G_{target}")(content, styles)  # NameError: styles
''',
    # An endless loop: the domain index is never advanced.
    "generator_losses": '''
def generator_losses(model, x_a, x_b, s_a, s_b, gan_loss, lambda_gan=1.0, lambda_x=10.0,
                     lambda_c=1.0, lambda_s=1.0, lambda_cycle=10.0):
    losses, sides, k = {}, ["A", "B"], 0
    images = {"A": x_a, "B": x_b}
    while k < len(sides):
        side = sides[k]
        x = images[side]
        content = getattr(model, f"Ec_{side}")(x)
        style = getattr(model, f"Es_{side}")(x)
        losses[f"recon_x_{side}"] = (getattr(model, f"G_{side}")(content, style) - x).abs().mean()
    return losses
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
        # torch's instance norm, then the scale and the shift.
        "adain": '''
def adain(x, mean, std, eps=1e-5):
    n, c = mean.shape
    return F.instance_norm(x, eps=eps) * std.view(n, c, 1, 1) + mean.view(n, c, 1, 1)
''',
        # torch.split into each layer's 2C numbers, chunk into mean and std.
        "adain_params": '''
def adain_params(decoder, style):
    widths = [block.dim for block in decoder.blocks for _ in range(2)]
    chunks = torch.split(decoder.mlp(style), [2 * c for c in widths], dim=1)
    return [tuple(chunk.chunk(2, dim=1)) for chunk in chunks]
''',
        # padding_mode="reflect", the convs as attributes and a ModuleList, F.relu in forward,
        # the mean over the positions by hand.
        "StyleEncoder": '''
class StyleEncoder(nn.Module):
    def __init__(self, in_channels=3, dim=64, style_dim=8, n_downsample=4):
        super().__init__()
        self.first = nn.Conv2d(in_channels, dim, 7, padding=3, padding_mode="reflect")
        self.downs = nn.ModuleList()
        for i in range(n_downsample):
            out = dim * 2 if i < 2 else dim
            self.downs.append(nn.Conv2d(dim, out, 4, 2, 1, padding_mode="reflect"))
            dim = out
        self.to_style = nn.Conv2d(dim, style_dim, kernel_size=1)

    def forward(self, x):
        h = F.relu(self.first(x))
        for conv in self.downs:
            h = F.relu(conv(h))
        return self.to_style(h.mean(dim=(2, 3), keepdim=True))[:, :, 0, 0]
''',
        # One loop over the two domains, dicts of networks and codes, F.l1_loss.
        "generator_losses": '''
def generator_losses(model, x_a, x_b, s_a, s_b, gan_loss, lambda_gan=1.0, lambda_x=10.0,
                     lambda_c=1.0, lambda_s=1.0, lambda_cycle=10.0):
    x = {"A": x_a, "B": x_b}
    sampled = {"A": s_a, "B": s_b}
    nets = {d: (getattr(model, f"Ec_{d}"), getattr(model, f"Es_{d}"), getattr(model, f"G_{d}"),
                getattr(model, f"D_{d}")) for d in "AB"}
    codes = {d: (nets[d][0](x[d]), nets[d][1](x[d])) for d in "AB"}
    into = {d: nets[d][2](codes[o][0], sampled[d]) for d, o in (("A", "B"), ("B", "A"))}
    out = {}
    for d, o in (("A", "B"), ("B", "A")):
        Ec, Es, G, D = nets[d]
        out[f"recon_x_{d}"] = F.l1_loss(G(*codes[d]), x[d])
        content_back = nets[o][0](into[o])
        out[f"recon_c_{d}"] = F.l1_loss(content_back, codes[d][0])
        out[f"recon_s_{d}"] = F.l1_loss(Es(into[d]), sampled[d])
        out[f"cycle_{d}"] = F.l1_loss(G(content_back, codes[d][1]), x[d])
        out[f"gan_{d}"] = gan_loss(D(into[d]))
    weights = {"gan": lambda_gan, "recon_x": lambda_x, "recon_c": lambda_c, "recon_s": lambda_s,
               "cycle": lambda_cycle}
    out["G"] = sum(w * (out[f"{t}_A"] + out[f"{t}_B"]) for t, w in weights.items())
    out["x_ab"], out["x_ba"] = into["B"], into["A"]
    return out
''',
        # The model's encode and decode; the style repeated for one reference.
        "translate_like": '''
def translate_like(model, x, reference, direction="AtoB"):
    src, dst = ("A", "B") if direction == "AtoB" else ("B", "A")
    content, _ = model.encode(x, src)
    _, style = model.encode(reference, dst)
    return model.decode(content, style.repeat(len(x) // len(style), 1), dst)
''',
    },
    "equivalent2": {
        # torch.var_mean with correction=0, rsqrt, unsqueeze.
        "adain": '''
def adain(x, mean, std, eps=1e-5):
    var, mu = torch.var_mean(x, dim=(2, 3), correction=0, keepdim=True)
    scale = std.unsqueeze(-1).unsqueeze(-1) * torch.rsqrt(var + eps)
    return (x - mu) * scale + mean.unsqueeze(-1).unsqueeze(-1)
''',
        # The layers' widths listed first, an offset, pairs as lists.
        "adain_params": '''
def adain_params(decoder, style):
    out = decoder.mlp(style)
    layers = []
    for block in decoder.blocks:
        layers += [block.dim, block.dim]
    result, offset = [], 0
    for c in layers:
        result.append([out[:, offset:offset + c], out[:, offset + c:offset + 2 * c]])
        offset += 2 * c
    return result
''',
        # The 1x1 conv registered first, reflection padding with F.pad, adaptive pooling by
        # function, the code by view.
        "StyleEncoder": '''
class StyleEncoder(nn.Module):
    def __init__(self, in_channels=3, dim=64, style_dim=8, n_downsample=4):
        super().__init__()
        widths = [dim]
        for i in range(n_downsample):
            widths.append(widths[-1] * 2 if i < 2 else widths[-1])
        self.head = nn.Conv2d(widths[-1], style_dim, 1)
        self.stem = nn.Conv2d(in_channels, dim, 7)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 4, 2) for a, b in zip(widths, widths[1:]))

    def forward(self, x):
        h = torch.relu(self.stem(F.pad(x, (3, 3, 3, 3), mode="reflect")))
        for conv in self.convs:
            h = torch.relu(conv(F.pad(h, (1, 1, 1, 1), mode="reflect")))
        return self.head(F.adaptive_avg_pool2d(h, 1)).view(len(x), -1)
''',
        # The translations first, a helper for L1, the terms in another order, the total
        # summed step by step.
        "generator_losses": '''
def generator_losses(model, x_a, x_b, s_a, s_b, gan_loss, lambda_gan=1.0, lambda_x=10.0,
                     lambda_c=1.0, lambda_s=1.0, lambda_cycle=10.0):
    def l1(a, b):
        return torch.mean(torch.abs(a - b))

    c_a, c_b = model.Ec_A(x_a), model.Ec_B(x_b)
    x_ab, x_ba = model.G_B(c_a, s_b), model.G_A(c_b, s_a)
    own_a, own_b = model.Es_A(x_a), model.Es_B(x_b)
    back_a, back_b = model.Ec_B(x_ab), model.Ec_A(x_ba)
    terms = {
        "gan_A": gan_loss(model.D_A(x_ba)),
        "gan_B": gan_loss(model.D_B(x_ab)),
        "recon_s_A": l1(model.Es_A(x_ba), s_a),
        "recon_s_B": l1(model.Es_B(x_ab), s_b),
        "recon_c_A": l1(back_a, c_a),
        "recon_c_B": l1(back_b, c_b),
        "cycle_A": l1(model.G_A(back_a, own_a), x_a),
        "cycle_B": l1(model.G_B(back_b, own_b), x_b),
        "recon_x_A": l1(model.G_A(c_a, own_a), x_a),
        "recon_x_B": l1(model.G_B(c_b, own_b), x_b),
    }
    total = lambda_gan * terms["gan_A"] + lambda_gan * terms["gan_B"]
    total = total + lambda_x * (terms["recon_x_A"] + terms["recon_x_B"])
    total = total + lambda_c * (terms["recon_c_A"] + terms["recon_c_B"])
    total = total + lambda_s * (terms["recon_s_A"] + terms["recon_s_B"])
    total = total + lambda_cycle * (terms["cycle_A"] + terms["cycle_B"])
    return {**terms, "G": total, "x_ab": x_ab, "x_ba": x_ba}
''',
        # An if on the direction, repeat for one reference.
        "translate_like": '''
def translate_like(model, x, reference, direction="AtoB"):
    if direction == "AtoB":
        content_encoder, style_encoder, decoder = model.Ec_A, model.Es_B, model.G_B
    else:
        content_encoder, style_encoder, decoder = model.Ec_B, model.Es_A, model.G_A
    style = style_encoder(reference)
    if style.shape[0] != x.shape[0]:
        style = style.repeat(x.shape[0], 1)
    return decoder(content_encoder(x), style)
''',
    },
    "equivalent3": {
        # AdaIN through F.layer_norm over each map's (H, W).
        "adain": '''
def adain(x, mean, std, eps=1e-5):
    normalized = F.layer_norm(x, x.shape[-2:], eps=eps)
    return normalized * std[..., None, None] + mean[..., None, None]
''',
        # The MLP's output viewed as (N, layers, 2, C) (coursekit's blocks share one width).
        "adain_params": '''
def adain_params(decoder, style):
    c = decoder.blocks[0].dim
    p = decoder.mlp(style).view(len(style), -1, 2, c)
    return [(p[:, k, 0], p[:, k, 1]) for k in range(p.shape[1])]
''',
        # nn.Sequential blocks of (conv, ReLU) with padding_mode="reflect", pooling by
        # torch.mean.
        "StyleEncoder": '''
class StyleEncoder(nn.Module):
    def __init__(self, in_channels=3, dim=64, style_dim=8, n_downsample=4):
        super().__init__()
        blocks = [nn.Sequential(nn.Conv2d(in_channels, dim, 7, 1, 3, padding_mode="reflect"),
                                nn.ReLU(inplace=True))]
        for i in range(n_downsample):
            wider = dim * 2 if i in (0, 1) else dim
            blocks.append(nn.Sequential(
                nn.Conv2d(dim, wider, 4, 2, 1, padding_mode="reflect"), nn.ReLU(inplace=True)))
            dim = wider
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Conv2d(dim, style_dim, 1, 1, 0)

    def forward(self, x):
        pooled = torch.mean(self.blocks(x), dim=[2, 3], keepdim=True)
        return self.fc(pooled).squeeze(-1).squeeze(-1)
''',
        # One decoder call per domain for the reconstruction and the translation into it,
        # stacked in one batch.
        "generator_losses": '''
def generator_losses(model, x_a, x_b, s_a, s_b, gan_loss, lambda_gan=1.0, lambda_x=10.0,
                     lambda_c=1.0, lambda_s=1.0, lambda_cycle=10.0):
    n_a, n_b = len(x_a), len(x_b)
    c_a, s_a_own = model.Ec_A(x_a), model.Es_A(x_a)
    c_b, s_b_own = model.Ec_B(x_b), model.Es_B(x_b)
    out_a = model.G_A(torch.cat([c_a, c_b]), torch.cat([s_a_own, s_a]))
    out_b = model.G_B(torch.cat([c_b, c_a]), torch.cat([s_b_own, s_b]))
    rec_a, x_ba = out_a[:n_a], out_a[n_a:]
    rec_b, x_ab = out_b[:n_b], out_b[n_b:]
    c_a_back, c_b_back = model.Ec_B(x_ab), model.Ec_A(x_ba)
    losses = {"recon_x_A": F.l1_loss(rec_a, x_a), "recon_x_B": F.l1_loss(rec_b, x_b),
              "recon_c_A": F.l1_loss(c_a_back, c_a), "recon_c_B": F.l1_loss(c_b_back, c_b),
              "recon_s_A": F.l1_loss(model.Es_A(x_ba), s_a),
              "recon_s_B": F.l1_loss(model.Es_B(x_ab), s_b),
              "cycle_A": F.l1_loss(model.G_A(c_a_back, s_a_own), x_a),
              "cycle_B": F.l1_loss(model.G_B(c_b_back, s_b_own), x_b),
              "gan_A": gan_loss(model.D_A(x_ba)), "gan_B": gan_loss(model.D_B(x_ab))}
    weights = (("gan", lambda_gan), ("recon_x", lambda_x), ("recon_c", lambda_c),
               ("recon_s", lambda_s), ("cycle", lambda_cycle))
    losses["G"] = sum(w * losses[f"{t}_A"] + w * losses[f"{t}_B"] for t, w in weights)
    losses.update(x_ab=x_ab, x_ba=x_ba)
    return losses
''',
        # The networks picked from a dict by domain; the style broadcast by expand_as.
        "translate_like": '''
def translate_like(model, x, reference, direction="AtoB"):
    sides = {"AtoB": ("A", "B"), "BtoA": ("B", "A")}[direction]
    content = getattr(model, "Ec_" + sides[0])(x)
    style = getattr(model, "Es_" + sides[1])(reference)
    style = style.expand(content.shape[0], style.shape[1])
    return getattr(model, "G_" + sides[1])(content, style)
''',
    },
}
