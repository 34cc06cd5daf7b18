"""Write lectures/06_munit.ipynb from the cells below (run from the repository root).

The notebook is committed without outputs; tests/test_lecture_06.py executes it. Edit the
cells here and re-run this script rather than editing the notebook by hand, so that the two
never disagree.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = []


def md(text, tags=None):
    cell = new_markdown_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = tags
    cells.append(cell)


def code(text, tags=None):
    cell = new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = tags
    cells.append(cell)


code('''
# Setup: run this cell first. It works in JupyterLab, in classic Jupyter and on Google Colab.
import importlib.util
import os

if importlib.util.find_spec("coursekit") is None:  # e.g. a fresh Colab runtime
    %pip install -q "coursekit @ git+https://github.com/coursekit/coursekit.git"

import torch
from coursekit.train import select_device

DEVICE = select_device("auto")  # a CUDA GPU if there is one, else Apple's MPS, else the CPU
# FAST mode (the default without a CUDA GPU): small networks on synthetic seasons, under three
# minutes on a 2-core laptop CPU. FULL mode (the default with one): the paper's settings at
# 256 px on summer2winter_yosemite (days on a GPU). Force either with COURSEKIT_FAST=1 or 0.
_choice = os.environ.get("COURSEKIT_FAST", "").strip()
if _choice not in ("", "0", "1"):
    raise ValueError(f"COURSEKIT_FAST must be 0 or 1 (or unset), got {_choice!r}")
FAST = DEVICE.type != "cuda" if _choice == "" else _choice == "1"
SEED = 0  # every run below is seeded from this
MODE = "FAST (synthetic seasons, CPU-sized)" if FAST else "FULL (the paper's settings, 256 px)"
print(f"device: {DEVICE} | mode: {MODE}")
''')

md(r'''
# Lecture 6 · Multimodal unsupervised translation: MUNIT and AdaIN

*Huang, Liu, Belongie, Kautz. "Multimodal Unsupervised Image-to-Image Translation", ECCV 2018;
Huang and Belongie. "Arbitrary Style Transfer in Real-time with Adaptive Instance
Normalization", ICCV 2017.* CycleGAN (lecture 2) turns a summer photo into **one** winter photo.
But a summer scene has many right winter versions: by day, at sunset, at night. The
translation is *multimodal*, and a deterministic generator can only pick one of them (or blur
them together). BicycleGAN (lecture 4) drew many outputs from a latent code, but it needed
pairs. MUNIT does it without pairs, with one assumption:

> images in both domains share **structure** (content) but not **style**.

| § | idea | what you will see |
|---|---|---|
| 1 | content and style; AdaIN | one summer and one winter photo split into a content code and a style code, and put back together crosswise; the losses; why instance norm erases the contrast the style must set, on numbers |
| 2 | the course checkpoint | random styles, example-guided translation against the true renders, the scores; MUNIT beside CycleGAN and the ablations |
| 3 | AdaIN inside the decoder | swapping the AdaIN statistics of some layers swaps the style |
| 4 | how training starts | a short live run: the losses, the first samples |
| 5 | cost | seconds and memory per iteration beside CycleGAN's and the thesis's Table 3.6 |
| 6 | try it: the season explorer | sliders on the style code, reference photos, interpolation, both directions |

**Two modes, and which results are which.** §1-3 and §6 show the **course checkpoint**
`munit-seasons`, loaded from the package: the fast preset's networks (32 px) trained 8000
iterations (about 40 minutes on one CPU thread) on `synthetic-seasons`, unpaired summer (A)
and winter (B) landscapes at any time of day. Its card says how it was made. §4 is a **live
run** you train here: a few hundred iterations in FAST mode, enough to see how training
starts and no more. FULL mode runs §4 with the paper's settings (`Config.paper()`, 256 px, one
million iterations, resumable) on `summer2winter_yosemite` when it is downloaded, and measures
§5 at 256 px on the GPU. The synthetic data knows the right answer of every translation (each
scene can be rendered in any season at any time of day), so every output here is scored
against it.
''')

code('''
import inspect
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from coursekit import pretrained
from coursekit.data import get_dataset
from coursekit.data.download import DatasetNotDownloadedError, dataset_path
from coursekit.data.synthetic.landscapes import SEASONS, TIMES_OF_DAY
from coursekit.data.synthetic.seasons import DOMAIN_SEASONS, SyntheticSeasons, season_and_time
from coursekit.models import cyclegan, munit
from coursekit.models.munit import (ABLATIONS, MUNIT, AdaINResBlock, Decoder, StyleEncoder,
                                    style_recon_loss)
from coursekit.models.profile import training_cost_in_fresh_process
from coursekit.nn import adain
from coursekit.nn.norm import channel_stats
from coursekit.plotting import image_grid, to_rgb
from coursekit.train import fit, seed_everything

seed_everything(SEED)
NOTEBOOK_START = time.perf_counter()


def verdict(photos):
    """'winter, night' for each photo: the season and time of day the data's classifier sees."""
    seasons, times = season_and_time(photos.float().cpu())
    return [f"{SEASONS[s]}, {TIMES_OF_DAY[t]}" for s, t in zip(seasons.tolist(), times.tolist())]


def show_row(ax_row, images, titles, colours=None):
    for k, (ax, image, title) in enumerate(zip(ax_row, images, titles)):
        ax.imshow(to_rgb(image))
        ax.set_title(title, fontsize=7, color=(colours[k] if colours else "black"))
        ax.set_xticks([])
        ax.set_yticks([])
''')

md(r'''
## 1 · Content and style

**UNIT** (Liu, Breuel, Kautz 2017) maps both domains into a single **shared latent space**: a
summer photo and its winter version have the same code. Then the code must hold everything,
including what differs between the two photos, and one input has one output. **MUNIT** splits
the code in two:

* a **content** space $\mathcal C$ that is **shared, domain-invariant**: the layout (where the
  mountains, the lake and the trees are), a spatial feature map;
* two **style** spaces $\mathcal S_1, \mathcal S_2$ that are **unshared, domain-specific**: what
  varies *within* a domain, here the light of the time of day; 8 numbers per image.

Each domain $i$ has a content encoder $E^c_i$, a style encoder $E^s_i$ and a decoder $G_i$. To
translate $x_1$ into domain 2, keep its content and take a style of domain 2,

$$x_{1\to2} = G_2\big(E^c_1(x_1),\ s_2\big),\qquad s_2 \sim \mathcal N(0, I)\ \text{(multimodal)}\quad\text{or}\quad s_2 = E^s_2(x_2)\ \text{(example-guided)}.$$

Here is the picture on the course checkpoint (trained, not live; §2 says more about it): a
summer photo $x_1$ and a winter photo $x_2$, each split into its content code (4 of its 64
channels of $8 \times 8$, the ones that vary most) and its style code (8 numbers), and decoded
again: each with its own style (a reconstruction), and crosswise (a translation).
''')

code('''
TRAINED = pretrained.load("munit-seasons")  # trained, not live (§2)
CARD = pretrained.card("munit-seasons")
TEST = SyntheticSeasons("test", size=TRAINED.config.image_size)
x1, x2 = TEST[0]["A"][None], TEST[3]["B"][None]  # a summer scene, another scene in winter
c1, s1 = TRAINED.encode(x1, "A")
c2, s2 = TRAINED.encode(x2, "B")
pictures = {"recon 1": TRAINED.decode(c1, s1, "A"), "1 to 2": TRAINED.decode(c1, s2, "B"),
            "recon 2": TRAINED.decode(c2, s2, "B"), "2 to 1": TRAINED.decode(c2, s1, "A")}


def content_tiles(c, k=4):
    """The k channels of a content code (1, C, h, w) that vary most, each scaled to [0, 1],
    tiled 2 x 2 with a white gap."""
    c = c[0].cpu()
    top = c.flatten(1).std(1).argsort(descending=True)[:k]
    maps = [(c[j] - c[j].min()) / (c[j].max() - c[j].min() + 1e-8) for j in top]
    h, w = maps[0].shape
    out = torch.ones(2 * h + 1, 2 * w + 1)
    for j, m in enumerate(maps):
        r, q = divmod(j, 2)
        out[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = m
    return out.numpy()


fig, axes = plt.subplots(2, 5, figsize=(11, 4.6))
rows = [("summer $x_1$", x1, c1, s1, "A", "recon 1", "$G_1(c_1, s_1)$: itself again",
         "1 to 2", "$G_2(c_1, s_2)$: $x_1$ in winter"),
        ("winter $x_2$", x2, c2, s2, "B", "recon 2", "$G_2(c_2, s_2)$: itself again",
         "2 to 1", "$G_1(c_2, s_1)$: $x_2$ in summer")]
for r, (name, x, c, s, side, rec, rec_title, cross, cross_title) in enumerate(rows):
    ax = axes[r]
    ax[0].imshow(to_rgb(x[0]))
    ax[0].set_title(f"{name}\\n({verdict(x)[0]})", fontsize=8)
    ax[1].imshow(content_tiles(c), cmap="gray", interpolation="nearest")
    ax[1].set_title(f"content $c_{r + 1} = E^c_{r + 1}(x_{r + 1})$\\n4 of {c.shape[1]} channels, "
                    f"{c.shape[2]}x{c.shape[3]}", fontsize=8)
    ax[2].bar(range(len(s[0])), s[0].cpu().numpy(), color="tab:orange" if r else "tab:green")
    ax[2].set_ylim(-3, 3)
    ax[2].axhline(0, color="grey", lw=0.5)
    ax[2].set_title(f"style $s_{r + 1} = E^s_{r + 1}(x_{r + 1})$\\n8 numbers", fontsize=8)
    ax[3].imshow(to_rgb(pictures[rec][0]))
    ax[3].set_title(f"{rec_title}\\n({verdict(pictures[rec])[0]})", fontsize=8)
    ax[4].imshow(to_rgb(pictures[cross][0]))
    ax[4].set_title(f"{cross_title}\\n({verdict(pictures[cross])[0]})", fontsize=8)
for ax in axes.flat:
    if ax not in (axes[0, 2], axes[1, 2]):
        ax.set_xticks([])
        ax.set_yticks([])
fig.suptitle("the course checkpoint: content codes are the layout, style codes are 8 numbers",
             fontsize=10)
fig.tight_layout()
plt.show()
''')

md(r'''
**What to see.** The content maps are the scene's layout in the network's own code: bright and
dark bands where the sky, the ridge and the ground are, for a summer and a winter photo alike
(one content space). The style is eight numbers per photo, from two different encoders (two
style spaces). Decoding $x_1$'s content with $x_2$'s style gives $x_1$'s scene in winter, in
$x_2$'s daylight: the classifier sees "winter, day" although $x_1$ was a summer sunset; the
other way round, $x_2$'s scene becomes a summer sunset. The reconstructions are soft copies:
at 32 px after 8000 iterations the checkpoint keeps the horizon and the light, not the
trees' outlines (§2 measures it).

### The losses

The seeds' names for the terms (MUNIT §3.3), with $c_1 = E^c_1(x_1)$ and $s_2 \sim \mathcal N(0, I)$:

* **image reconstruction** (within a domain): $\mathcal L^{x_1}_{recon} = \lVert G_1(E^c_1(x_1), E^s_1(x_1)) - x_1 \rVert_1$;
* **latent reconstruction** (across domains): translate with a *sampled* style, encode the
  result again, and ask for the codes back: the **content** $\mathcal L^{c_1}_{recon} = \lVert E^c_2(G_2(c_1, s_2)) - c_1\rVert_1$ and the **style**
  $\mathcal L^{s_2}_{recon} = \lVert E^s_2(G_2(c_1, s_2)) - s_2\rVert_1$, against the code $s_2$ it was
  decoded with (a widely copied re-implementation compared it with the other domain's code,
  which teaches nothing). The style term makes the decoder *use* the code and the style
  encoder invert it; without it, the sampled codes may be ignored;
* **GAN**: $\mathcal L^{x_2}_{GAN}$, each translation must look real to its target domain's
  multi-scale discriminator (least squares);
* the reference code's **explicit cycle** (weight 10 for summer2winter, 0 for edges2shoes):
  back to the source domain with the source's own style,
  $\lVert G_1(E^c_2(x_{1\to2}), E^s_1(x_1)) - x_1\rVert_1$.

$$\min_{E,G}\max_D\ \mathcal L^{x_1}_{GAN} + \mathcal L^{x_2}_{GAN} + \lambda_x(\mathcal L^{x_1}_{recon} + \mathcal L^{x_2}_{recon}) + \lambda_c(\mathcal L^{c_1}_{recon} + \mathcal L^{c_2}_{recon}) + \lambda_s(\mathcal L^{s_1}_{recon} + \mathcal L^{s_2}_{recon}) + \lambda_{cyc}(\ldots)$$

with $\lambda_x = 10$, $\lambda_c = \lambda_s = 1$, $\lambda_{cyc} = 10$. The picture of the terms on
three test items, and their values on a batch of 16 (the GAN terms are left out: the
checkpoint ships its encoders and decoders, not its discriminators):
''')

code('''
batch = [TEST[i] for i in range(16)]
xa, xb = torch.stack([it["A"] for it in batch]), torch.stack([it["B"] for it in batch])
torch.manual_seed(SEED)
with torch.no_grad():
    LOSSES = TRAINED.generator_losses(xa, xb)  # every term of the objective, as training sees it
    ca, sa = TRAINED.encode(xa, "A")
    recon = TRAINED.decode(ca, sa, "A")                 # image reconstruction
    x_ab = LOSSES["x_ab"]                                # content of A, a sampled winter style
    cycle = TRAINED.decode(TRAINED.encode(x_ab, "B")[0], sa, "A")  # back, with A's own style
terms = ["recon_x", "recon_c", "recon_s", "cycle"]
print("on 16 test pairs:  " + "  ".join(f"{t}_A {LOSSES[t + '_A'].item():.3f}" for t in terms))
print("                   " + "  ".join(f"{t}_B {LOSSES[t + '_B'].item():.3f}" for t in terms))
print(f"for scale: the sampled style codes have mean |s_i| per number "
      f"{(2 / np.pi) ** 0.5:.2f} (N(0, 1)); the content codes mean |c| {ca.abs().mean().item():.2f}")
show = slice(0, 3)
image_grid({"summer $x_1$": xa[show], "image recon.\\n$G_1(c_1, s_1)$": recon[show].cpu(),
            "translation\\n$G_2(c_1, s_2 \\\\sim N)$": x_ab[show].cpu(),
            "cycle\\n$G_1(E^c_2(x_{1\\\\to2}), s_1)$": cycle[show].cpu()},
           "the images the losses compare (course checkpoint)", size=1.5);
print(inspect.getsource(style_recon_loss))
print(inspect.getsource(MUNIT.generator_losses))
''')

md(r'''
### AdaIN: the style sets what instance normalisation removes

**Instance normalisation** (Ulyanov, Vedaldi, Lempitsky 2016) was found in fast style transfer
to fix a problem: *the contrast of a stylized image should not depend on the contrast of the
content image*. It normalises every channel of every image over its pixels,

$$\mu_{nc} = \frac{1}{HW}\sum_{y,x} h_{ncyx},\qquad \sigma^2_{nc} = \frac{1}{HW}\sum_{y,x}(h_{ncyx} - \mu_{nc})^2,$$

and so throws away each image's channel means and contrasts: $\frac{h - \mu}{\sigma}$ is the same
for $h$ and $a h + b$ with any $a > 0$. **AdaIN** (Huang and Belongie 2017) asks: if instance
norm removes the style, can the style be put back, *any* style, by choosing the scale and shift
per image?

$$\mathrm{AdaIN}(x, y) = \sigma(y)\,\frac{x - \mu(x)}{\sigma(x)} + \mu(y)
\qquad\text{MUNIT:}\qquad \mathrm{AdaIN}(c, s) = \gamma\,\frac{c - \mu(c)}{\sigma(c)} + \beta,$$

the statistics of a style image $y$'s features, or $(\gamma, \beta)$ computed from a style code
$s$ by an MLP. coursekit's `adain` (biased variance, $\varepsilon$ inside the square root, as
MUNIT's reference computes it) and `channel_stats`, the statistics it transfers:
''')

code('''
print(inspect.getsource(adain))
print(inspect.getsource(channel_stats))
torch.manual_seed(SEED)
h = 3 * torch.randn(2, 4, 16, 16) + 1.5             # any activations
beta, gamma = torch.randn(2, 4), torch.rand(2, 4) + 0.5  # the style's shift and scale
out_mean, out_std = channel_stats(adain(h, beta, gamma))
same = [(adain(a * h + b, beta, gamma) - adain(h, beta, gamma)).abs().max().item()
        for a, b in ((0.1, 0.0), (10.0, -4.0))]
ADAIN_CHECK = {"mean_gap": (out_mean - beta).abs().max().item(),
               "std_gap": (out_std - gamma).abs().max().item(), "affine_gap": max(same)}
print(f"AdaIN's output has the style's statistics: |mean - beta| <= {ADAIN_CHECK['mean_gap']:.1e}, "
      f"|std - gamma| <= {ADAIN_CHECK['std_gap']:.1e}")
print(f"and forgets the input's: AdaIN(a h + b) = AdaIN(h) for a = 0.1 and 10, up to "
      f"{ADAIN_CHECK['affine_gap']:.1e}")
''')

md(r'''
**The seeds' experiment on MUNIT.** MUNIT's content encoder normalises every layer with
instance norm, so the content code cannot carry the contrast; the decoder gets it from the
style. Take (a) a content image, (b) its translation with a winter style, (c) the same image
with its contrast cut to 30 % ($0.3x + 0.2$), (d) *its* translation with the same style. The
contrast of (d) does not depend on the contrast of (c): the two translations are the same
picture.
''')

code('''
x = torch.stack([TEST[i]["A"] for i in (0, 1, 2)])
low = 0.3 * x + 0.2                                   # the same scenes, 30 % of the contrast
reference = TEST.render("B", 5)["B"][None]            # one winter style for all
style = TRAINED.encode(reference, "B")[1][0]
c_x, s_x = TRAINED.encode(x, "A")
c_low, s_low = TRAINED.encode(low, "A")
y, y_low = TRAINED.translate(x, "AtoB", style), TRAINED.translate(low, "AtoB", style)
CONTRAST = {"input_std": [x.std().item(), low.std().item()],
            "output_std": [y.std().item(), y_low.std().item()],
            "content_gap": ((c_x - c_low).abs().max() / c_x.abs().max()).item(),
            "output_gap": (y - y_low).abs().max().item(),
            "style_gap": (s_x - s_low).abs().max().item()}
image_grid({"(a) content": x, "(b) stylized": y.cpu(), "(c) low contrast": low,
            "(d) stylized\\nlow contrast": y_low.cpu()}, "contrast in, contrast out", size=1.5);
print(f"pixel std: (a) {CONTRAST['input_std'][0]:.3f}  (c) {CONTRAST['input_std'][1]:.3f}   |   "
      f"(b) {CONTRAST['output_std'][0]:.4f}  (d) {CONTRAST['output_std'][1]:.4f}")
print(f"content codes of (a) and (c) differ by {CONTRAST['content_gap']:.1e} of their largest value; "
      f"(b) and (d) by at most {CONTRAST['output_gap']:.1e} (pixels in [-1, 1])")
print(f"the style codes of (a) and (c) differ by up to {CONTRAST['style_gap']:.2f}: "
      "the style encoder has no normalisation, and sees the contrast")
''')

md(r'''
A third of the contrast in, the same contrast out: (b) and (d) have the same pixel standard
deviation to four decimals. The two outputs differ only through $\varepsilon$, the small constant under the square root:
for the low-contrast image some channels' variance is no longer large beside it. This is why
MUNIT's **style encoder has no normalisation** at all: it must see exactly the statistics that
instance norm erases.
''')

code('''
print(inspect.getsource(StyleEncoder.__init__))
''')

md(r'''
## 2 · The course checkpoint: many winters for one summer

`munit-seasons` (loaded in §1) is MUNIT's fast preset (32 px, 16 base filters, 2 residual
blocks, 8-d styles, an MLP of 64, a 2-scale discriminator) trained by
`scripts/train_course_checkpoints.py munit-seasons` on the training split of
`synthetic-seasons`: summer scenes (A) and *other* scenes in winter (B), unpaired, each at its
own time of day. Season is the domain; the time of day is what the style code should learn,
since it varies within each domain and the content code cannot hold it.
''')

code('''
params = sum(p.numel() for n in MUNIT.inference_networks for p in getattr(TRAINED, n).parameters())
print(f"munit-seasons: {CARD['steps']} iterations in {CARD['seconds'] / 60:.0f} minutes on "
      f"{CARD['threads']} {CARD['device'].upper()} thread(s), seed {CARD['seed']}, commit "
      f"{CARD['commit']}; {params / 1e6:.2f}M parameters in its encoders and decoders, "
      f"{CARD['bytes'] / 2**20:.1f} MB in float16")
''')

md(r'''
**Random styles.** Each row is one test input; each column one style code drawn from
$\mathcal N(0, I)$, the *same* code for every row of a direction. Titles: the season and time
of day the data's classifier sees in the output.
''')

code('''
N_STYLES = 5
torch.manual_seed(SEED)
codes = {"AtoB": TRAINED.sample_style(N_STYLES).cpu(), "BtoA": TRAINED.sample_style(N_STYLES).cpu()}
inputs = {"AtoB": torch.stack([TEST[i]["A"] for i in (0, 1, 2)]),
          "BtoA": torch.stack([TEST[i]["B"] for i in (0, 1, 2)])}
fig, axes = plt.subplots(6, N_STYLES + 1, figsize=(1.55 * (N_STYLES + 1), 1.75 * 6))
RANDOM_TIMES = {}
for d, (direction, x) in enumerate(inputs.items()):
    target = SEASONS.index(DOMAIN_SEASONS[direction[-1]])
    outputs = torch.stack([TRAINED.translate(x, direction, s).cpu() for s in codes[direction]], 1)
    seasons, times = season_and_time(outputs.flatten(0, 1))
    RANDOM_TIMES[direction] = times.view(len(x), N_STYLES).tolist()
    for r in range(len(x)):
        row = axes[3 * d + r]
        names = verdict(outputs[r])
        colours = ["black" if s == target else "tab:red" for s in seasons.view(len(x), -1)[r].tolist()]
        show_row(row, [x[r], *outputs[r]], [f"input: {verdict(x[r:r + 1])[0]}", *names],
                 ["black", *colours])
    axes[3 * d, 0].set_ylabel("summer → winter" if direction == "AtoB" else "winter → summer",
                              fontsize=8)
fig.suptitle("one input per row, one sampled style per column (course checkpoint)", fontsize=10)
fig.tight_layout()
plt.show()
# Where the style encoders put real photos, beside the prior's codes.
photos = {side: torch.stack([TEST[i][side] for i in range(100)]) for side in ("A", "B")}
CODE_NORMS = {side: TRAINED.encode(x, side)[1].norm(dim=1).mean().item() for side, x in photos.items()}
CODE_NORMS["prior"] = TRAINED.sample_style(1000).norm(dim=1).mean().item()
# The time of day of the outputs over many random codes (the three inputs of each direction).
TIME_SHARES = {}
for direction, x in inputs.items():
    times = torch.cat([season_and_time(TRAINED.translate(x, direction, s).cpu())[1]
                       for s in TRAINED.sample_style(100)])
    TIME_SHARES[direction] = (torch.bincount(times, minlength=3) / len(times)).tolist()
    print(f"{direction}: the time of day of the outputs of 100 random codes: " + ", ".join(
        f"{name} {share:.0%}" for name, share in zip(TIMES_OF_DAY, TIME_SHARES[direction])))
print(f"mean |s| of the style codes of 100 test photos: summer {CODE_NORMS['A']:.2f}, winter "
      f"{CODE_NORMS['B']:.2f}; of 1000 codes drawn from N(0, I): {CODE_NORMS['prior']:.2f}")
''')

md(r'''
**Example-guided translation.** The style taken from a reference photo of the target domain,
$s_2 = E^s_2(x_2)$ (`translate_like`). The data pairs every test input with a random
reference (`guided_item`) and knows the right answer: the input's scene in the target season
at the **reference's** time of day (last column).
''')

code('''
guided = [TEST.guided_item(i, "AtoB") for i in (0, 1, 2, 4, 6, 9)]
g_in = torch.stack([g["input"] for g in guided])
g_ref = torch.stack([g["reference"] for g in guided])
g_out = TRAINED.translate_like(g_in, g_ref, "AtoB").cpu()
g_truth = torch.stack([g["truth"] for g in guided])
fig, axes = plt.subplots(len(guided), 4, figsize=(6.4, 1.75 * len(guided)))
for r, g in enumerate(guided):
    t_ref = TIMES_OF_DAY[int(g["time_reference"])]
    out_name = verdict(g_out[r:r + 1])[0]
    colour = "black" if out_name.endswith(t_ref) else "tab:red"
    show_row(axes[r], [g_in[r], g_ref[r], g_out[r], g_truth[r]],
             [f"input ({TIMES_OF_DAY[int(g['time_input'])]})", f"reference ({t_ref})",
              f"output: {out_name}", f"truth: winter, {t_ref}"], ["black", "black", colour, "black"])
fig.suptitle("summer → winter in the style of a reference (course checkpoint)", fontsize=10)
fig.tight_layout()
plt.show()
''')

md(r'''
**Scores.** `model.evaluate` runs `evaluate_samples` (three random styles per input) and
`evaluate_guided` (the reference of `guided_item`) in both directions on the test split, and
scores each output against what the data knows:

* **content kept**: the fraction of the output's pixels that the data's segmenter reads as the
  input's label map (pixel accuracy);
* **season reached**: the output's season is the target's;
* **time of day**: with random styles, how often the output keeps the *input's* time of day
  (what a one-to-one translator such as CycleGAN does: it has nowhere else to get one); with a
  reference, how often it takes the **reference's** (a model that ignores the reference
  matches it one time in three);
* **L1 to truth** (example-guided only): the mean distance to the true render.

Three reference rows bracket them, scored by the same function on images that are not
translations: the input itself (content perfect, season wrong), the reference itself (season
and time right, another scene) and the true render (what a perfect model would output).
''')

code('''
# The card's scores are on the whole test split (200 items). Re-measured here on the items and
# with the seed of the card's own check: the same numbers, from the shipped weights.
CHECK = CARD["check"]
TEST_EVAL = torch.utils.data.Subset(TEST, range(CHECK["items"]))
torch.manual_seed(CHECK["torch_seed"])
SCORES = TRAINED.evaluate(TEST_EVAL)
RECHECK_GAP = max(abs(SCORES[k] - v) for k, v in CHECK["scores"].items())
print(f"first {CHECK['items']} test items re-measured: largest difference from the card's "
      f"check {RECHECK_GAP:.1e}")
BRACKETS = {}
for direction in ("AtoB", "BtoA"):  # the data's scorer on images that are not translations
    items = [TEST.guided_item(i, direction) for i in range(len(TEST))]
    items = {k: torch.stack([it[k] for it in items]) for k in items[0]}
    BRACKETS[direction] = {name: TEST.score_guided(items[key], items, direction) for name, key in
                           (("input itself", "input"), ("reference itself", "reference"),
                            ("true render", "truth"))}
''')

code('''
COLUMNS = [("pixel_accuracy", "content kept"), ("season_rate", "season"),
           ("time_kept", "time kept"), ("time_follows_reference", "time follows ref."),
           ("l1", "L1 to truth")]


def row(name, s):
    print(f"{name:<34}" + "".join(f"{s[k]:>18.3f}" if k in s else f"{'-':>18}" for k, _ in COLUMNS))


def pick(scores, prefix):
    return {k.removeprefix(prefix): v for k, v in scores.items()
            if k.startswith(prefix) and "guided" not in k.removeprefix(prefix)}


print(f"the whole test split ({len(TEST)} items; MUNIT's rows from the card)")
print(f"{'':<34}" + "".join(f"{h:>18}" for _, h in COLUMNS))
for direction, name in (("AtoB", "summer → winter"), ("BtoA", "winter → summer")):
    print(name)
    row("  MUNIT, random style (3 per input)", pick(CARD["scores"], f"{direction}_"))
    row("  MUNIT, style of the reference", pick(CARD["scores"], f"{direction}_guided_"))
    for label, s in BRACKETS[direction].items():
        row(f"  ({label})", s)
''')

md(r'''
### MUNIT beside CycleGAN and the ablations

The table below comes from `python benchmarks/munit_tables.py` (2000 iterations per row, the
last half decaying, seed 0, one CPU thread, 6 to 12 minutes each), which trains CycleGAN's and
MUNIT's fast presets and MUNIT's loss ablations (`munit.ABLATIONS`: the paper's Table 1 rows
without the image, content or style reconstruction, and the reference's cycle removed) on
`synthetic-seasons`, and scores them as above on the 200 test scenes, summer → winter. With a
reference: content kept (pixel accuracy, class IoU), winter reached, the reference's time of day,
the input's time of day, L1 to the true render. Random styles (3 per input): content kept,
winter reached, diversity. CycleGAN is handed the reference too, and has no way to use it.

| run | content kept | class IoU | winter | time follows reference | input's time kept | L1 to truth | random styles: content / winter / diversity |
|---|---|---|---|---|---|---|---|
| MUNIT (fast preset) | 0.634 | 0.228 | 0.99 | 1.00 | 0.34 | 0.142 | 0.387 / 0.36 / 0.405 |
| w/o image reconstruction (Table 1) | 0.663 | 0.231 | 0.99 | 1.00 | 0.34 | 0.128 | 0.375 / 0.35 / 0.416 |
| w/o content reconstruction (Table 1) | 0.624 | 0.222 | 0.99 | 1.00 | 0.34 | 0.159 | 0.380 / 0.47 / 0.419 |
| w/o style reconstruction (Table 1) | 0.636 | 0.234 | 1.00 | 1.00 | 0.34 | 0.138 | 0.341 / 0.24 / 0.419 |
| w/o the reference's cycle | 0.620 | 0.226 | 0.88 | 1.00 | 0.34 | 0.134 | 0.419 / 0.53 / 0.425 |
| CycleGAN (fast preset) | 0.713 | 0.345 | 0.98 | 0.34 | 1.00 | 0.417 | 0.713 / 0.98 / - |

**Reading it.** Only MUNIT follows the reference: every MUNIT row takes its time of day in all
200 cases, while CycleGAN keeps the input's time every time and so matches the reference at
chance (0.34 against 1/3), which is why its L1 to the true render is three times MUNIT's.
CycleGAN keeps the content best (0.713 against 0.634): one deterministic mapping, trained
against its own input, is the easier task at this budget. The ablations show where each loss
acts, within one seed and 2000 iterations (differences of 0.02 in content are within what
another seed changes): without the style reconstruction, random codes give winter least often
(0.24) and the worst content (0.341), since nothing ties the decoder's use of a code to the
prior the codes are drawn from; without the cycle, a reference gives winter less often (0.88).
Without the image reconstruction this short run keeps the content a little better, the paper's
opposite (its Table 1: worse realism and diversity without $\mathcal{L}_{recon}^x$), a reminder
that this table measures minutes of training on a CPU, not the method at convergence.
''', tags=["benchmark-table"])

md(r'''
**What to see.** *Random styles*: each column is one code, and it gives every input of its
direction the same time of day: the time of day is carried by the style code, not by the
content. Over 100 random codes all three times of day come out (printed under the figure),
whatever the input's own time: the input's time is kept one time in three (0.37 and 0.34 in
the table), where a one-to-one translator such as CycleGAN has no other time to give than the
input's. Random codes give noisier pictures than the codes of real photos, and some summer →
winter outputs come out as autumn (red titles: a season reached 0.81 of the time with random
codes, 0.995 with a reference); note that the codes the style encoders give real photos lie
nearer the centre ($|s| \approx 1.7$) than codes drawn from the prior ($|s| \approx 2.7$).

*Example-guided*: the output takes the reference's time of day in every test case (1.000 in
both directions, where ignoring the reference would score 1/3) and the target season (0.995
and 1.000), and comes nearer the true render than the reference itself does (L1 0.147 against
0.190 summer → winter). The content is where this checkpoint is weak: its outputs keep the
horizon, the sky and the ground, but the segmenter finds the input's label map in only 62 %
(61 %) of their pixels, against 94 % (95 %) for the true renders and 56 % (57 %) for the
reference itself, another scene entirely. Trees, the lake shore and the mountains' outline
are washed out. At this budget MUNIT has learnt the *style* half of its job well and the
*content* half poorly; §4 shows that it is learnt in that order.
''')

md(r'''
## 3 · AdaIN inside the decoder

MUNIT's decoder $G$ has no other way to hear the style: an MLP maps $s$ to the scale and shift
of **every AdaIN layer at once** (two layers in each of its residual blocks, here 2 blocks of
64 channels: $2 \times 2 \times 2 \times 64 = 512$ numbers), and the blocks run on the content
code with them. `adain_params` splits the MLP's output into one (mean $\beta$, std $\gamma$) pair
per layer; the reference uses $\gamma$ as it is, not $1 + \gamma$ as SPADE does (so a negative
$\gamma$ flips a channel).
''')

code('''
print(inspect.getsource(Decoder.adain_params))
print(inspect.getsource(AdaINResBlock.forward))
print(inspect.getsource(Decoder.forward))
''')

md(r'''
**Swapping the statistics swaps the style.** Take one summer scene's content code and two
winter references, one by day and one at night. Decode with every AdaIN layer's $(\beta, \gamma)$
from the day style, then take the night style's for some layers only, then for all of them.
The function below is `Decoder.forward` with the parameters passed in instead of computed
from $s$ (the first line checks that it gives `forward`'s output exactly):
''')

code('''
G = TRAINED.G_B  # the winter decoder


def decode_with(G, content, params):
    """Decoder.forward with the AdaIN parameters given: [(beta, gamma) per layer]."""
    h = content
    for i, block in enumerate(G.blocks):
        h = block(h, params[2 * i:2 * i + 2])
    return G.upsample(h)


day_ref = TEST.render("B", next(i for i in range(len(TEST)) if TEST.time_of("B", i) == 0))["B"][None]
night_ref = TEST.render("B", next(i for i in range(len(TEST)) if TEST.time_of("B", i) == 2))["B"][None]
content = TRAINED.encode(TEST[1]["A"][None], "A")[0]
with torch.no_grad():
    s_day, s_night = TRAINED.encode(day_ref, "B")[1], TRAINED.encode(night_ref, "B")[1]
    P_day, P_night = G.adain_params(s_day), G.adain_params(s_night)
    DECODE_GAP = (decode_with(G, content, P_day) - G(content, s_day)).abs().max().item()
    n_layers = len(P_day)
    mixes = {"all day": P_day}
    for k in range(n_layers):
        mixes[f"layer {k} night"] = [P_night[j] if j == k else P_day[j] for j in range(n_layers)]
    mixes["means night"] = [(pn[0], pd[1]) for pd, pn in zip(P_day, P_night)]  # beta only
    mixes["stds night"] = [(pd[0], pn[1]) for pd, pn in zip(P_day, P_night)]   # gamma only
    mixes["all night"] = P_night
    swapped = {name: decode_with(G, content, p).cpu() for name, p in mixes.items()}
print(f"decode_with(G, c, G.adain_params(s)) = G(c, s) up to {DECODE_GAP:.1e}")
SWAP_TIMES = {name: TIMES_OF_DAY[int(season_and_time(y)[1][0])] for name, y in swapped.items()}
names = list(swapped)
layout = [("day reference", day_ref[0]), *[(n, swapped[n][0]) for n in names[:1 + n_layers]],
          ("night reference", night_ref[0]), *[(n, swapped[n][0]) for n in names[1 + n_layers:]]]
fig, axes = plt.subplots(2, 2 + n_layers, figsize=(1.7 * (2 + n_layers), 4.4))
for ax, (name, image) in zip(axes.flat, layout):
    title = name if "reference" in name else f"{name}\\n→ looks like {SWAP_TIMES[name]}"
    show_row([ax], [image], [title])
for ax in axes.flat[len(layout):]:
    ax.axis("off")
fig.suptitle("one content code; AdaIN parameters from the day style, the night style or a mix",
             fontsize=10)
fig.tight_layout()
plt.show()
''')

md(r'''
**Channel statistics.** Inside the first AdaIN layer: the activations coming in are the same
whatever the style (they depend on the content only); what goes out has, in every channel,
exactly the mean $\beta$ and the standard deviation $|\gamma|$ the style asked for. Below, for 16
of its 64 channels, the incoming mean and std and the outgoing ones under the day and the night
style.
''')

code('''
captured = {}
block = G.blocks[0]
hook_in = block.conv1.register_forward_hook(lambda m, a, out: captured.setdefault("in", []).append(out))
with torch.no_grad():
    for s in (s_day, s_night):
        G(content, s)
hook_in.remove()
h_day, h_night = captured["in"]
(b_day, g_day), (b_night, g_night) = P_day[0], P_night[0]
out_day, out_night = adain(h_day, b_day, g_day), adain(h_night, b_night, g_night)
STATS = {"input_same": (h_day - h_night).abs().max().item(),
         "mean_gap": max((channel_stats(o)[0] - b).abs().max().item()
                         for o, b in ((out_day, b_day), (out_night, b_night))),
         "std_gap": max((channel_stats(o)[1] - g.abs()).abs().max().item()
                        for o, g in ((out_day, g_day), (out_night, g_night))),
         "negative_gamma": float((g_day < 0).float().mean())}
ch = slice(0, 16)
fig, axes = plt.subplots(1, 2, figsize=(12, 2.6))
width = 0.27
in_mean, in_std = channel_stats(h_day)
for ax, j, title in ((axes[0], 0, "channel means"), (axes[1], 1, "channel standard deviations")):
    values = [in_mean if j == 0 else in_std, channel_stats(out_day)[j], channel_stats(out_night)[j]]
    for k, (v, label, colour) in enumerate(zip(values, ["in (either style)", "out, day style",
                                                        "out, night style"],
                                               ["grey", "tab:orange", "tab:blue"])):
        ax.bar(np.arange(16) + (k - 1) * width, v[0, ch].cpu().numpy(), width, label=label,
               color=colour)
    ax.set_title(f"first AdaIN layer: {title}", fontsize=9)
    ax.set_xlabel("channel", fontsize=8)
axes[0].legend(fontsize=7)
fig.tight_layout()
plt.show()
print(f"the incoming activations under the two styles differ by {STATS['input_same']:.1e}; "
      f"outgoing means = beta up to {STATS['mean_gap']:.1e}, stds = |gamma| up to "
      f"{STATS['std_gap']:.1e}; {STATS['negative_gamma']:.0%} of this layer's gammas are negative")
''')

md(r'''
**What to see.** With every layer's parameters from the night style, the day content code
is drawn at night: the decoder hears the style through these numbers and nothing else. One
layer at a time, the night parameters of layers 1 and 3 (the *second* AdaIN of each residual
block, just before the block adds its result to its input) turn the picture to night; those
of layers 0 and 2 leave it day, with other colours and more noise. And of each pair it is the
**means** $\beta$ that carry the time of day (night means with day stds: night), not the stds
$\gamma$ (night stds with day means: a noisy day). In the bar charts, the incoming
activations are identical under the two styles (the content decides them) and AdaIN's output
has exactly the style's statistics (the std up to the $\varepsilon$ under the square root).
Half of the $\gamma$ are negative: MUNIT uses them as they are, and a negative scale flips a
channel, which its std ($|\gamma|$) does not see.
''')

md(r'''
## 4 · How training starts: a short live run

Everything above came from the course checkpoint. Now a **live run**: MUNIT's fast preset,
the same networks as the checkpoint, trained here from scratch, for as long as the FAST budget
allows (the checkpoint had 8000 iterations; this run has a few hundred). It shows how training
starts, not where it ends. FULL mode trains the paper's configuration instead (256 px, dim 64,
4 residual blocks, a 3-scale discriminator, batch 1, Adam $10^{-4}$ with weight decay, one million
iterations halving the rate every 100 000) on `summer2winter_yosemite` if it has been downloaded
(`coursekit data download summer2winter_yosemite`), else on `synthetic-seasons` at 256 px;
it resumes from `runs/lecture06/` when the notebook is run again.

The ablations a CPU can run are settings of the same config, `munit.ABLATIONS`; the table of
§2 trains them all (for your own, see "Try it" at the end):
''')

code('''
for name, overrides in ABLATIONS.items():
    print(f"{name:<18} {overrides}")
''')

code('''
# FULL mode: the paper's data if it has been downloaded (coursekit data download
# summer2winter_yosemite), else the synthetic seasons at the paper's size.
REAL_DATA = "summer2winter_yosemite"
if FAST:
    SIZE, STEPS = 32, 300  # iterations of the live run, sized for the FAST budget
    RUN_ROOT = Path(tempfile.mkdtemp(prefix="lecture06-"))
    DATA = "synthetic-seasons"
    LIVE_CONFIG = munit.Config.fast()
    LIVE_CONFIG = replace(LIVE_CONFIG, train=replace(
        LIVE_CONFIG.train, steps=STEPS, decay_steps=STEPS // 2, seed=SEED,
        out_dir=str(RUN_ROOT / "live"), progress=False, log_every=10,
        sample_every=STEPS // 2, checkpoint_every=0, data=DATA))
    COST_SIZE, COST_ITERS, COST_WARMUP = 64, 2, 1  # §5: the paper's networks at 64 px
else:
    SIZE, STEPS = 256, None  # the paper's one million iterations
    RUN_ROOT = Path("runs/lecture06")  # checkpoints: re-running this notebook resumes
    try:
        dataset_path(REAL_DATA)
        DATA = REAL_DATA
    except DatasetNotDownloadedError:
        DATA = "synthetic-seasons"
        print(f"{REAL_DATA} is not downloaded (coursekit data download {REAL_DATA}): FULL "
              "mode trains on synthetic-seasons at 256 px")
    LIVE_CONFIG = munit.Config.paper()
    LIVE_CONFIG = replace(LIVE_CONFIG, train=replace(
        LIVE_CONFIG.train, seed=SEED, out_dir=str(RUN_ROOT / "live"), resume=True,
        sample_every=10_000, data=DATA))
    COST_SIZE, COST_ITERS, COST_WARMUP = 256, 20, 5  # §5: the thesis's size
''', tags=["settings"])

code('''
TRAIN = get_dataset(DATA, split="train", size=SIZE)
LIVE_TEST = get_dataset(DATA, split="test", size=SIZE)
seed_everything(SEED)
LIVE = munit.build(LIVE_CONFIG)
start = time.perf_counter()
fit(LIVE, TRAIN, LIVE_CONFIG.train)
LIVE_SECONDS = round(time.perf_counter() - start, 1)
LIVE.eval()
print(f"live run: {LIVE_CONFIG.train.steps} iterations at {SIZE} px on {DATA} in {LIVE_SECONDS} s")
''')

md(r'''
Below: the losses as the loop logged them, and the sample grids it wrote at the start, half way
and at the end (`samples/step_*.png`, the same four training items each time). The columns of
a grid: a summer photo, its translation with a random winter style, its translation in the
style of the row's winter photo, that winter photo, its translation with a random summer
style, and in the style of the row's summer photo.
''')

code('''
log = [json.loads(line) for line in (RUN_ROOT / "live" / "metrics.jsonl").read_text().splitlines()]
log = [r for r in log if "losses" in r]
steps = [r["step"] for r in log]
curves = {"image recon. (x)": ("recon_x_A", "recon_x_B"), "content recon. (c)": ("recon_c_A", "recon_c_B"),
          "style recon. (s)": ("recon_s_A", "recon_s_B"), "cycle": ("cycle_A", "cycle_B"),
          "G's GAN term": ("gan_A", "gan_B"), "D's loss": ("D_A", "D_B")}
fig, axes = plt.subplots(1, len(curves), figsize=(2.3 * len(curves), 2.3), sharex=True)
for ax, (title, keys) in zip(axes, curves.items()):
    for key, colour in zip(keys, ("tab:green", "tab:blue")):
        ax.plot(steps, [r["losses"][key] for r in log], color=colour,
                label="summer (A)" if key.endswith("A") else "winter (B)")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("iteration", fontsize=8)
axes[0].legend(fontsize=7)
fig.suptitle(f"live run: the losses (mean of every {LIVE_CONFIG.train.log_every} iterations)",
             fontsize=10)
fig.tight_layout()
plt.show()
LIVE_LOSSES = {"first": log[0]["losses"], "last": log[-1]["losses"], "steps": [steps[0], steps[-1]]}

grids = sorted((RUN_ROOT / "live" / "samples").glob("step_*.png"))
fig, axes = plt.subplots(1, len(grids), figsize=(4.4 * len(grids), 3.2))
for ax, path in zip(np.atleast_1d(axes), grids):
    ax.imshow(np.asarray(Image.open(path)), interpolation="nearest")
    ax.set_title(f"iteration {int(path.stem.split('_')[1])}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("live run: the training loop's sample grids", fontsize=10)
fig.tight_layout()
plt.show()
''')

code('''
if DATA == "synthetic-seasons":
    # The items and seed of §2's re-measured check, so that the two rows compare.
    torch.manual_seed(CHECK["torch_seed"])
    LIVE_SCORES = LIVE.evaluate(torch.utils.data.Subset(LIVE_TEST, range(CHECK["items"])))
    keys = [("pixel_accuracy", "content kept"), ("season_rate", "season"),
            ("time_kept", "time kept"), ("guided_time_follows_reference", "time follows ref."),
            ("guided_l1", "L1 to truth")]
    print(f"first {CHECK['items']} test items" + "".join(f"{h:>18}" for _, h in keys))
    for direction, name in (("AtoB", "summer → winter"), ("BtoA", "winter → summer")):
        print(name)
        for run, s in ((f"  live run ({STEPS or 'paper'} iterations)", LIVE_SCORES),
                       (f"  course checkpoint ({CARD['steps']})", SCORES)):
            print(f"{run:<34}" + "".join(f"{s[f'{direction}_{k}']:>18.3f}" for k, _ in keys))
else:
    LIVE_SCORES = None
    real = torch.stack([LIVE_TEST[i]["A"] for i in range(4)])
    torch.manual_seed(SEED)
    image_grid({"summer": real, **{f"style {k}": LIVE.translate(real, "AtoB").cpu() for k in range(3)}},
               f"{DATA}: summer → winter with random styles (live run)", size=2.0);
''')

md(r'''
**What to see** (FAST mode, seed 0, 300 iterations; the last digits move a little with the
number of CPU threads). The image reconstruction and the cycle fall first and fastest (about
0.42 to 0.10 in 300 iterations), the content reconstruction steadily (1.7 to about 0.45), the
style reconstruction hardly (0.93 to about 0.73 in summer, 0.83 to about 0.8 in winter; the
checkpoint's, after 8000 iterations, is 0.37): the style encoder has not yet learnt to read
back the sampled code.
The discriminators' loss falls from about 1.9 to 0.9 and stays there, the adversarial game in
balance. In the sample grids, iteration 0 is noise; by 150 every translation is a blur of sky
over ground, and the columns styled like a reference already take its light (sunset, day,
night); by 300 the horizon sits where the input's is, not more. The scores say the same: the
live run follows the reference's time of day as well as the checkpoint does (1.000), but keeps
much less of the content (about 0.33 against 0.53 summer → winter) and reaches the winter far
less often with random styles (about 0.3 against 0.86). MUNIT learns the style first; the content, and the
season with a random code, take the thousands of iterations the checkpoint had.
''')

md(r'''
## 5 · Cost

The thesis's Table 3.6 measures one training iteration on a GTX 1080Ti at 256 px, batch 1:
CycleGAN 0.40 s and 4.81 GB, MUNIT **0.39 s and 3.84 GB**, about **0.98x** CycleGAN's time and
**0.80x** its memory: two encoders and a decoder per domain cost about what CycleGAN's two
ResNet generators do. We measure the same two numbers, and the floating-point work of one
iteration, with `coursekit.models.profile` (as lecture 3 and `benchmarks/unpaired_cost.py`
do): each method's paper configuration (CycleGAN: ResNet-9, 64 filters; MUNIT: the reference's
summer2winter networks) built in a fresh Python process and timed on random images. In FAST
mode the images are 64 px (MUNIT's 3-scale discriminator needs at least that; 256 px takes
tens of seconds per iteration on a laptop CPU), in FULL mode 256 px on the GPU. On a CPU the
memory column is the growth of the process's peak resident memory, comparable between our two
rows but not with the thesis's GB.
''')

code('''
COST = {}
for name, module in (("CycleGAN", cyclegan), ("MUNIT", munit)):
    config = replace(module.Config.paper(), image_size=COST_SIZE)
    COST[name] = training_cost_in_fresh_process(
        name.lower(), config, device=str(DEVICE), iters=COST_ITERS, warmup=COST_WARMUP,
        threads=torch.get_num_threads() if DEVICE.type == "cpu" else None)
THESIS = {"CycleGAN": (0.40, 4.81), "MUNIT": (0.39, 3.84)}
ref = COST["CycleGAN"]
for c in COST.values():
    c.update(time_ratio=c["seconds"] / ref["seconds"], memory_ratio=c["memory_bytes"] / ref["memory_bytes"],
             flop_ratio=c["flops"] / ref["flops"])
print(f"{DEVICE}, paper networks at {COST_SIZE} px, batch 1, median of {COST_ITERS} iterations "
      f"after {COST_WARMUP}; memory = {ref['memory_kind']}")
print(f"{'':10}{'GFLOP':>8}{'s/iter':>9}{'memory MB':>11}{'flop/CG':>9}{'time/CG':>9}{'mem/CG':>8}"
      f"   thesis: s/iter  GB   time/CG  mem/CG")
for name, c in COST.items():
    t, m = THESIS[name]
    print(f"{name:<10}{c['flops'] / 1e9:8.1f}{c['seconds']:9.3f}{c['memory_bytes'] / 2**20:11.0f}"
          f"{c['flop_ratio']:9.2f}{c['time_ratio']:9.2f}{c['memory_ratio']:8.2f}"
          f"   {t:14.2f}{m:5.2f}{t / 0.40:9.2f}{m / 4.81:8.2f}")
fig, axes = plt.subplots(1, 3, figsize=(11, 1.9), sharey=True)
for ax, key, thesis, label in ((axes[0], "flop_ratio", None, "FLOPs / CycleGAN's"),
                               (axes[1], "time_ratio", 0, "time per iteration / CycleGAN's"),
                               (axes[2], "memory_ratio", 1, "peak memory / CycleGAN's")):
    ax.barh([0.2], [COST["MUNIT"][key]], height=0.35, label="MUNIT, ours")
    if thesis is not None:
        ax.barh([-0.2], [THESIS["MUNIT"][thesis] / THESIS["CycleGAN"][thesis]], height=0.35,
                label="MUNIT, thesis Table 3.6", color="tab:grey")
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks([])
    ax.set_xlabel(label, fontsize=8)
axes[1].legend(fontsize=7, loc="lower right")
fig.tight_layout()
plt.show()
''')

md(r'''
**What to see.** We do not find the thesis's ratios. By the count of operations, one MUNIT
iteration is about 1.5 times CycleGAN's work (173 against 117 GFLOP at 64 px; the ratio does
not depend on the image size, since every convolution's cost grows with the number of
pixels): it encodes every image twice (content and style), decodes six images in the
generators' step (two reconstructions, two translations, two cycles) and re-encodes both
translations, and its discriminators look at three scales. On a CPU, where time follows the
work, it takes about that much longer (1.4-1.6x in our runs on one thread), and needs about
1.5 times the memory. Timings need a quiet machine: with another program busy on one of two
cores, we saw MUNIT's iteration on two threads take ten times as long and more (each of its
many small layers waits for the thread the other program pushed aside), CycleGAN's hardly. The thesis measured 0.98x the time and 0.80x the memory on a GPU, at 256 px and batch
1, with the authors' implementations: on a GPU the time of an iteration need not follow its
work as closely as on a CPU, and memory depends on what each implementation keeps for the
backward pass. FULL mode measures both methods at 256 px on your GPU.
''')

md(r'''
## 6 · Try it: the season explorer

A summer test scene and the course checkpoint's winter version of it, decoded from a style
code $s$ that you choose:

* the **8 sliders** are $s$ itself; **random style** draws it from $\mathcal N(0, I)$, **s = 0**
  is the prior's mean;
* the **reference photos** are winter test photos, two at each time of day: a button copies
  the photo's style code $E^s(\text{photo})$ into the sliders (example-guided translation);
* **between two references**: $t$ walks the straight line $(1 - t)\,s_A + t\,s_B$ between two
  references' codes;
* the **direction** toggle translates winter scenes into summer instead (the references become
  summer photos, each encoded by the summer style encoder);
* **item** picks the test scene.

Under the output: the season and time of day the classifier sees in it and the fraction of its
pixels that segment as the input's label map (the content kept), computed on the image exactly
as shown; a faithful translation keeps at least 80 % and reaches the target season. Beside it,
the true render: the input's scene in the target season at the time of day the output shows.
''')

code('''
from coursekit.widgets import SeasonExplorer

explorer = SeasonExplorer(TRAINED, TEST, index=1)  # the course checkpoint, trained, not live
explorer
''')

md(r'''
**Things to try.** Copy the night reference's style, then move one slider at a time: which
numbers move the sun, the sky, the snow? Walk from a day reference to a night one: where does
the time of day switch, and does the content survive the way? Draw random styles: do they give
every time of day, and how often? Switch the direction: is the summer style space organised
like the winter one?
''')

md(r'''
## Summary

* MUNIT assumes that images of both domains share **content** but not **style**: a shared,
  domain-invariant content space (a spatial code) and one style space per domain (8 numbers).
  Translation keeps the content and takes a style of the target domain, sampled (many
  outputs per input) or encoded from a reference (example-guided).
* Its objective: image reconstruction within each domain, content and style reconstruction
  across (the style against the **sampled** code), a GAN per domain, and the reference code's
  explicit cycle.
* **AdaIN** normalises each channel of each image (instance norm: its mean and contrast are
  gone) and sets them from the style. Instance norm in the content encoder makes the output's
  contrast independent of the input's, which we checked on numbers; the style encoder has no
  normalisation, since it must see exactly those statistics.
* The decoder hears the style only through the AdaIN parameters: swapping them swaps the
  style.

**Try it.** Train the live run longer (`STEPS = 600`), or with one of the ablations
(`LIVE_CONFIG = munit.Config.ablation("no_style_recon", LIVE_CONFIG)` in the settings cell):
do random styles still give different times of day? Change `SEED`. In §3, swap only the means
or only the stds of the *last* layers.

The cell below collects every number of this notebook in one JSON-serialisable dict (the
course's tests read it).
''')

code('''
RESULTS = {
    "mode": "fast" if FAST else "full",
    "data": DATA,
    "size": SIZE,
    "seed": SEED,
    "steps": STEPS,
    "adain_check": ADAIN_CHECK,
    "contrast": CONTRAST,
    "losses": {k: v.item() for k, v in LOSSES.items() if not k.startswith("x_")},
    "checkpoint_steps": CARD["steps"],
    "checkpoint_scores": SCORES,
    "brackets": BRACKETS,
    "random_times": RANDOM_TIMES,
    "code_norms": CODE_NORMS,
    "time_shares": TIME_SHARES,
    "decode_gap": DECODE_GAP,
    "swap_times": SWAP_TIMES,
    "adain_stats": STATS,
    "live_scores": LIVE_SCORES,
    "live_losses": LIVE_LOSSES,
    "recheck_gap": RECHECK_GAP,
    "live_seconds": LIVE_SECONDS,
    "cost": COST,
    "notebook_seconds": round(time.perf_counter() - NOTEBOOK_START, 1),
}
print(json.dumps(RESULTS, indent=1))
''', tags=["results"])

nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"}})
out = Path(__file__).resolve().parents[1] / "lectures" / "06_munit.ipynb"
nbformat.write(nb, out)
print(f"wrote {out} ({len(cells)} cells)")
