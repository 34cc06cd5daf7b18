"""Write lectures/07_sdedit.ipynb from the cells below (run from the repository root).

The notebook is committed without outputs; tests/test_lecture_07.py executes it. Edit the
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
# FAST mode (the default without a CUDA GPU): the 32 px course model, a few guides and DDIM
# jumps, under three minutes on a 2-core laptop CPU. FULL mode (the default with one): every
# reverse step, more guides, the paper's 256 px model in the live run, and Stable Diffusion
# where its weights are on the machine. Force either with COURSEKIT_FAST=1 or 0.
_choice = os.environ.get("COURSEKIT_FAST", "").strip()
if _choice not in ("", "0", "1"):
    raise ValueError(f"COURSEKIT_FAST must be 0 or 1 (or unset), got {_choice!r}")
FAST = DEVICE.type != "cuda" if _choice == "" else _choice == "1"
SEED = 0  # every run below is seeded from this
MODE = "FAST (32 px, DDIM jumps, CPU-sized)" if FAST else "FULL (every step, 256 px live run)"
print(f"device: {DEVICE} | mode: {MODE}")
''')

md(r'''
# Lecture 7 · Guided synthesis with diffusion models: SDEdit

*Meng, He, Song, Song, Wu, Zhu, Ermon. "SDEdit: Guided Image Synthesis and Editing with
Stochastic Differential Equations", ICLR 2022; the diffusion model it uses: Ho, Jain, Abbeel.
"Denoising Diffusion Probabilistic Models", NeurIPS 2020.* Every method so far learned a
translation from examples of it: pairs (pix2pix, BicycleGAN, SPADE) or two unpaired
collections (CycleGAN, CUT, MUNIT). SDEdit learns **no translation at all**. It takes a
generative model trained on photos alone and a guide it has never seen (a child's stroke
painting, a collage, a photo with a region painted over) and applies one recipe:

> **diffuse, then denoise.**

Add enough noise to the guide that its flat strokes and hard edges are hidden but its layout
and colours are not; then let the model, which can only make photos, take the noise away.

| § | idea | what you will see |
|---|---|---|
| 1 | diffusion in one page | a photo noised step by step; what the denoiser predicts at each level; samples from pure noise |
| 2 | SDEdit's one idea | a stroke painting noised to $t_0$ and denoised, for $t_0$ from 0.1 to 1 |
| 3 | the trade-off | faithfulness to the strokes against realism over $t_0$, with one and three repeats, as the paper plots it |
| 4 | why a model is needed | the perfect denoiser of the training set hands back training photos: memorisation |
| 5 | masked editing | repaint one region of a photo, keep the rest exactly |
| 6 | how training starts | a short live run: the loss, the first samples |
| 7 | try it: the noise-level slider | $t_0$, the repeats, the noise draw, your own strokes |
| 8 | Stable Diffusion img2img | the same recipe in a text-conditioned latent model (GPU) |

**Two modes, and which results are which.** §1-5 and §7 use the **course checkpoint**
`ddpm-landscapes`, loaded from the package: a 32 px DDPM (the `fast` preset's U-Net, 0.6M
parameters) trained 6000 steps, 96 minutes on one CPU thread, on the photos of
`synthetic-strokes`. Its card says how it was made, and what it is: a model stopped long before
it converged, whose samples are recognisably landscapes but blurred. We say at each step what
that changes. §6 is a **live run** you train here: a few dozen steps in FAST mode, enough to
see how training starts and no more. FULL mode edits with every one of the 1000 reverse steps,
trains the paper's 256 px model in §6 (resumable), and runs §8 with Stable Diffusion if its
weights are on the machine. The synthetic data knows the right answer: every stroke painting
was painted from a photo we can render, and the data scores how faithful and how realistic an
edit is.
''')

code('''
import inspect
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from coursekit import pretrained
from coursekit.data import get_dataset
from coursekit.data.synthetic.landscapes import stroke_faithfulness
from coursekit.data.synthetic.strokes import REALISM_PASS_RATE, realism, realism_per_image
from coursekit.models import ddpm, stable_diffusion
from coursekit.models.ddpm import DDPM, IdealDenoiser
from coursekit.models.sdedit import T0_GRID, format_tradeoff, network_calls, sdedit, tradeoff
from coursekit.nn.diffusion import Schedule, p_sample, posterior, predict_x0, q_sample
from coursekit.plotting import image_grid, to_rgb
from coursekit.train import fit, seed_everything

seed_everything(SEED)
NOTEBOOK_START = time.perf_counter()


def show_row(ax_row, images, titles):
    for ax, image, title in zip(ax_row, images, titles):
        ax.imshow(to_rgb(image))
        ax.set_title(title, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])


def scores(images, guides):
    """Faithfulness to the guides and realism, as the data scores an edit."""
    images = images.clamp(-1, 1).cpu()
    return {"faithfulness": stroke_faithfulness(images, guides.cpu())["score"], **realism(images)}
''')

code('''
if FAST:
    ITEMS = 16  # test guides scored in §3-4
    EDIT_STEPS = 10  # DDIM jumps per edit (eta = 1), whatever t0: 10 network calls a cycle
    K3_T0S = (0.1, 0.3, 0.5, 0.7, 1.0)  # the t0 where §3 also runs three repeats
    TRAIN_PHOTOS = 1000  # the ideal denoiser's training set (§4)
    WIDGET = dict(samples=2, steps=10)
else:
    ITEMS, EDIT_STEPS, K3_T0S, TRAIN_PHOTOS = 200, None, T0_GRID, 1000  # every reverse step
    WIDGET = dict(samples=3, steps=None)

# §6, the live run. FULL mode: the paper's 256 px model on synthetic-strokes, resumable.
if FAST:
    STEPS = 40  # a glimpse of how training starts, sized for the FAST budget
    RUN_ROOT = Path(tempfile.mkdtemp(prefix="lecture07-"))
    LIVE_CONFIG = ddpm.Config.fast()
    LIVE_CONFIG = replace(LIVE_CONFIG, train=replace(
        LIVE_CONFIG.train, steps=STEPS, batch_size=16, seed=SEED, out_dir=str(RUN_ROOT / "live"),
        progress=False, log_every=4, sample_every=STEPS // 2, checkpoint_every=0,
        data="synthetic-strokes"))
else:
    STEPS = None  # the paper's 500 000 steps
    RUN_ROOT = Path("runs/lecture07")  # checkpoints: re-running this notebook resumes
    LIVE_CONFIG = ddpm.Config.paper()
    LIVE_CONFIG = replace(LIVE_CONFIG, train=replace(
        LIVE_CONFIG.train, seed=SEED, out_dir=str(RUN_ROOT / "live"), resume=True,
        data="synthetic-strokes"))
SIZE = LIVE_CONFIG.image_size
''', tags=["settings"])

md(r'''
## 1 · Diffusion in one page

**Forward: noise.** Fix a schedule $\beta_1, \dots, \beta_T$ ($T = 1000$, rising linearly from
$10^{-4}$ to $0.02$) and let each step shrink the image a little and add a little Gaussian
noise, $q(x_t \mid x_{t-1}) = \mathcal N(\sqrt{1-\beta_t}\,x_{t-1}, \beta_t I)$. Gaussians
compose, so any level is one draw away from the clean image (DDPM Eq. 4):

$$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\qquad
\varepsilon \sim \mathcal N(0, I),\qquad \bar\alpha_t = \prod_{s \le t} (1 - \beta_s).$$

$\bar\alpha_t$ falls from 1 (the photo) to $4\cdot 10^{-5}$ (pure noise). Note the product:
$\sqrt{\bar\alpha_t}$, not $\sqrt{1-\beta_t}$, multiplies $x_0$.
''')

code('''
TRAINED = pretrained.load("ddpm-landscapes").to(DEVICE).eval()  # trained, not live (§1-5, §7)
CARD = pretrained.card("ddpm-landscapes")
MODEL_SIZE = TRAINED.config.image_size
TEST = get_dataset("synthetic-strokes", split="test", size=MODEL_SIZE)
schedule = TRAINED.schedule
print(inspect.getsource(Schedule.__init__))
print(inspect.getsource(q_sample))

LEVELS = [0, 49, 99, 249, 499, 749, 999]  # 0-based: after 1, 50, 100, ... noising steps
photo = TEST[3]["B"][None].to(DEVICE)
gen = torch.Generator().manual_seed(SEED)
noised = [q_sample(schedule, photo, torch.tensor([t], device=DEVICE),
                   torch.randn(photo.shape, generator=gen).to(DEVICE))[0].cpu() for t in LEVELS]
abar = schedule.alphas_cumprod.cpu().double()

fig = plt.figure(figsize=(13, 2.4))
grid = fig.add_gridspec(1, len(LEVELS) + 2)
show_row([fig.add_subplot(grid[0, k]) for k in range(len(LEVELS))], noised,
         [f"t = {t + 1}\\n√ᾱ = {abar[t].sqrt():.2f}" for t in LEVELS])
ax = fig.add_subplot(grid[0, len(LEVELS):])
ax.plot(np.arange(1, 1001), abar.sqrt(), label="√ᾱ_t (signal)")
ax.plot(np.arange(1, 1001), (1 - abar).sqrt(), label="√(1 − ᾱ_t) (noise)")
ax.plot(np.arange(1, 1001), (1 - schedule.betas.cpu()).sqrt(), "--", label="√(1 − β_t): one step")
ax.set_xlabel("t", fontsize=8)
ax.legend(fontsize=7)
fig.suptitle("the forward process on a test photo", fontsize=10)
fig.tight_layout()
plt.show()

# Eq. 4 on numbers: 4000 draws of one pixel at t = 500 have the mean and spread it promises.
t_check, pixel = 499, photo[0, :, 10, 10].cpu()
cpu_schedule = Schedule(schedule.num_timesteps, TRAINED.config.beta_start, TRAINED.config.beta_end)
draws = q_sample(cpu_schedule, pixel.expand(4000, 3)[:, :, None, None],
                 torch.full((4000,), t_check), torch.randn(4000, 3, 1, 1, generator=gen))
FORWARD_CHECK = {"t": t_check + 1, "pixel": pixel.tolist(),
                 "mean": draws.mean(0).flatten().tolist(), "std": draws.std(0).flatten().tolist(),
                 "alphabar": {str(t + 1): float(abar[t]) for t in LEVELS}}
print(f"t = {t_check + 1}: √ᾱ x0 = {[round(v, 3) for v in (abar[t_check].sqrt() * pixel).tolist()]},"
      f" draws' mean {[round(v, 3) for v in FORWARD_CHECK['mean']]}; √(1 − ᾱ) = "
      f"{(1 - abar[t_check]).sqrt():.3f}, draws' std {[round(v, 3) for v in FORWARD_CHECK['std']]}")
''')

md(r'''
**Backward: learn to denoise.** If we could undo one step, $p(x_{t-1}\mid x_t)$, we could walk
from noise to a photo. For small $\beta_t$ that step is again nearly Gaussian, and given the
clean image it is exactly one (Eq. 6-7), with mean a mix of $x_0$ and $x_t$ and variance
$\tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t$. We do not know $x_0$, so a
network $\varepsilon_\theta(x_t, t)$ guesses the noise in $x_t$, which is the same as guessing
$x_0$:

$$\hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon_\theta(x_t, t)}{\sqrt{\bar\alpha_t}}.$$

It is trained by the simplest loss there is (Eq. 14): noise a training photo to a random level,
ask for the noise back, $L_\text{simple} = \mathbb E_{t, x_0, \varepsilon}\,\|\varepsilon -
\varepsilon_\theta(\sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon, t)\|^2$. The
network is a U-Net that is told $t$ (a sinusoidal embedding added inside every residual
block). coursekit writes it out (`coursekit.models.ddpm.UNet`) rather than taking diffusers'
`UNet2DModel`, so that you can read every layer; its parameter counts match the paper's
(35.7M for CIFAR-10's settings, 114M at 256 px).
''')

code('''
print(inspect.getsource(DDPM.loss))
print(inspect.getsource(predict_x0))

# What the course model sees and predicts at each level, on the test photo of the row above.
eps_mse, zero_mse, x0_hats = [], [], []
gen = torch.Generator().manual_seed(SEED)
batch = torch.stack([TEST[i]["B"] for i in range(16)]).to(DEVICE)  # 16 test photos
for t in LEVELS:
    tt = torch.full((len(batch),), t, device=DEVICE)
    noise = torch.randn(batch.shape, generator=gen).to(DEVICE)
    xt = q_sample(schedule, batch, tt, noise)
    with torch.no_grad():
        eps = TRAINED.eps(xt, t)
    eps_mse.append(float(((eps - noise) ** 2).mean()))
    zero_mse.append(float((noise ** 2).mean()))  # predicting "no noise": E[ε²] = 1
    x0_hats.append(predict_x0(schedule, xt, tt, eps)[3].cpu())
DENOISER = {"levels": [t + 1 for t in LEVELS], "eps_mse": eps_mse, "zero_mse": zero_mse}

fig, axes = plt.subplots(1, len(LEVELS) + 1, figsize=(13, 2.1))
show_row(axes, [*x0_hats, photo[0].cpu()], [f"x̂0 from t = {t + 1}\\nε error {e:.2f}"
                                            for t, e in zip(LEVELS, eps_mse)] + ["the photo"])
fig.suptitle("the course model's guess of the clean photo from each noise level (x̂0, Eq. 15)",
             fontsize=10)
fig.tight_layout()
plt.show()
print("noise-prediction error (mean square, 16 test photos):",
      {t + 1: round(e, 3) for t, e in zip(LEVELS, eps_mse)}, "| predicting zero: 1")
''')

md(r'''
**Sampling.** Algorithm 2 starts from pure noise $x_T \sim \mathcal N(0, I)$ and takes $T$
steps, each drawing $x_{t-1}$ from the Gaussian with the posterior's mean at $\hat x_0$ and
standard deviation $\sqrt{\tilde\beta_t}$ (the `fixedsmall` variance), with no noise at the last
step. A thousand network calls per image is too many for a CPU; DDIM (Song, Meng, Ermon 2021)
jumps from level $t$ straight to a lower level $s$ with the same trained network, so 20 jumps
give a sample. Each step also clips $\hat x_0$ to the images' range $[-1, 1]$, as DDPM's own
sampler does: from pure noise, $\hat x_0$ is the network's error divided by
$\sqrt{\bar\alpha_T} = 0.006$, and an imperfect network's guess lands far outside it. Below:
the ancestral step, and eight samples of the course model with 20 DDIM jumps, the same eight
noise draws without the clip, and eight test photos.
''')

code('''
print(inspect.getsource(p_sample))
gen = torch.Generator().manual_seed(SEED)
SAMPLES = TRAINED.sample(8, generator=gen).clamp(-1, 1).cpu()  # config.sample_steps = 20 jumps
gen = torch.Generator().manual_seed(SEED)  # the same noise, x0_hat not clipped
UNCLIPPED = TRAINED.sample(8, generator=gen, clip_x0=False).clamp(-1, 1).cpu()
real8 = torch.stack([TEST[i]["B"] for i in range(8)])
fig, axes = plt.subplots(3, 8, figsize=(12, 4.9))
show_row(axes[0], SAMPLES, ["sample"] * 8)
show_row(axes[1], UNCLIPPED, ["x̂0 not clipped"] * 8)
show_row(axes[2], real8, ["test photo"] * 8)
fig.suptitle("the course checkpoint's samples from pure noise (20 DDIM jumps), the same without "
             "clipping x̂0, and real photos", fontsize=10)
fig.tight_layout()
plt.show()
SAMPLE_REALISM = realism(SAMPLES)
UNCLIPPED_REALISM = realism(UNCLIPPED)
PHOTO_REALISM = realism(torch.stack([TEST[i]["B"] for i in range(ITEMS)]))
print(f"realism test (a photo passes {REALISM_PASS_RATE:.0%} of the time): samples pass "
      f"{SAMPLE_REALISM['realism']:.2f}, mean distance {SAMPLE_REALISM['realism_distance']:.1f}; "
      f"test photos {PHOTO_REALISM['realism']:.2f}, {PHOTO_REALISM['realism_distance']:.1f}")
print(f"without clipping x0_hat: {UNCLIPPED_REALISM['realism']:.2f}, "
      f"{UNCLIPPED_REALISM['realism_distance']:.1f}")
print(f"the card (64 samples): realism {CARD['check']['scores']['sample_realism']:.2f}, distance "
      f"{CARD['check']['scores']['sample_realism_distance']:.1f}")
''')

md(r'''
**What to see.** The forward process keeps the layout long after the texture is gone: at
$t = 100$ ($\sqrt{\bar\alpha} = 0.95$, noise of standard deviation 0.32) the mountains and
trees are still there under the speckle, at $t = 250$ ($\sqrt{\bar\alpha} = 0.72$) only the
split between sky and ground, and from $t = 500$ nothing a person can see, though 28 % of the
photo's amplitude is still in it. The 4000 draws of one pixel at $t = 500$ have the mean
$\sqrt{\bar\alpha_{500}}\,x_0$ (to within two standard errors, $0.96/\sqrt{4000} = 0.015$ each)
and the spread $\sqrt{1-\bar\alpha_{500}} = 0.96$ that Eq. 4 promises.

The course model's noise prediction errs less the noisier its input: about 0.7 of the noise's
variance at $t = 1$ (the noise there is $\sqrt{\beta_1}$, 1 % of the pixel range, nearly
invisible), 0.13 at $t = 50$, 0.02 at $t = 250$ and below 0.005 from $t = 500$ on, where $x_t$
is nearly the noise itself. Its guess $\hat x_0$ tells the other half of the story: up to
$t = 100$ it is the photo; at $t = 250$ a blurred photo with the right horizon and colours, the
average of the photos the noisy image could have come from; from $t = 500$ on it is colour
noise, because $\hat x_0$ divides what is left of the error by $\sqrt{\bar\alpha_t}$ (0.28 at
$t = 500$, 0.006 at $t = 1000$). A guess in one jump from high noise is worthless; that is
why sampling takes many small steps, each trusting $\hat x_0$ only a little.

The samples show what 96 CPU minutes of training buy: landscapes at the data's times of day
(sunsets, starry nights, a blue sky with clouds) over ground with a horizon and a few trees,
blurred; none has the data's sharp mountains. Without the clip the same noise gives darker,
murkier scenes, one of them black, further from the photos (the printed distances). The
realism test, which the test photos pass 94 % of the time here, passes none of the samples, and
their distance is about four times a photo's. A converged model (the paper's
took days on GPUs) is what makes SDEdit's outputs photos; everything below uses this one and
says where that matters.
''')

md(r'''
## 2 · SDEdit: diffuse, then denoise

A stroke painting is not a photo, and the model has never seen one. But noised enough, a
painting and the photo it was painted from look the same: noise at level $t_0$ hides
everything finer than the noise, and both keep the same layout and colours. So (SDEdit,
Algorithm 1):

1. **diffuse** the guide to $t_0$ in one draw: $x(t_0) = \sqrt{\bar\alpha_{t_0}}\,x_\text{guide} +
   \sqrt{1 - \bar\alpha_{t_0}}\,\varepsilon$;
2. **denoise** it with the learned reverse process from $t_0$ down to 0.

$t_0$ is the one knob. Near 0 the output is the guide (faithful, not a photo); at 1 the
guide is gone (a photo of anything). SDEdit's code also runs the cycle **K** times (its
`--sample_step`, default 3), each re-noising the *previous output*, which pushes the image
further towards the photos for the same $t_0$. coursekit's `sdedit`:
''')

code('''
print(inspect.getsource(sdedit))
''')

code('''
GUIDE_INDEX = 5
item = TEST[GUIDE_INDEX]
guide = item["A"][None].to(DEVICE)
noised_guides, edits = [], []
for t0 in T0_GRID:
    gen = torch.Generator().manual_seed(SEED)
    n = schedule.index(t0)
    noised_guides.append(q_sample(schedule, guide, torch.tensor([n - 1], device=DEVICE),
                                  torch.randn(guide.shape, generator=gen).to(DEVICE))[0].cpu())
    gen = torch.Generator().manual_seed(SEED)
    edits.append(sdedit(TRAINED, guide, t0, 1, EDIT_STEPS, generator=gen).clamp(-1, 1)[0].cpu())
ONE_GUIDE = [{"t0": t0, **scores(e[None], item["A"][None])} for t0, e in zip(T0_GRID, edits)]

fig, axes = plt.subplots(2, len(T0_GRID) + 1, figsize=(14, 3.2))
show_row(axes[0], [item["A"], *noised_guides], ["the guide"] + [f"noised to t0 = {t:.1f}" for t in T0_GRID])
show_row(axes[1], [item["B"], *edits], ["the photo painted"] + [
    f"t0 {r['t0']:.1f}: faith. {r['faithfulness']:.2f}\\nreal. dist. {r['realism_distance']:.1f}"
    for r in ONE_GUIDE])
fig.suptitle(f"one stroke guide edited at every t0 (K = 1, {EDIT_STEPS or 'every'} reverse steps; "
             "course checkpoint)", fontsize=10)
fig.tight_layout()
plt.show()
''')

md(r'''
**What to see.** Read the columns downwards: each edit starts from the noised guide above
it (at 32 px even $t_0 = 0.1$ looks noisy, but its noise has a standard deviation of 0.32
against the guide's 0.95 of signal). At $t_0 = 0.1$ the output is the painting with its edges
softened and some shading; up to 0.5-0.6 the horizon and the colours stay where the painter
put them while the flat patches take texture; from 0.7 the layout drifts, and from 0.9 the
output turns into a dark scene with nothing of the guide left (at $t_0 = 1$ the noised guide is
pure noise, and SDEdit, as its code does, does not clip $\hat x_0$: the darkness of §1's
unclipped samples). Faithfulness falls along the row, from about 0.7 to 0.1. The realism
distance stays near 5-6 up to $t_0 = 0.8$, below the guide's (the strokes have become shaded
patches), and rises only when the guide is nearly forgotten (about 14 at $t_0 = 1$); it never
comes near a photo's 1.7, because the model's own texture is a blur.
''')

md(r'''
## 3 · The trade-off

The paper argues with one curve: as $t_0$ grows, outputs become more realistic and less
faithful to the guide, and $t_0 \in [0.3, 0.6]$ balances the two. We measure both on stroke
guides of the test split, scored by the data:

* **faithfulness** (`stroke_faithfulness`): the guide and the output are averaged down to
  16 x 16 blocks (what a painted guide specifies) and compared, RMS $d$, score $e^{-d/0.2}$
  averaged over images: 1 for the guide itself;
* **realism** (`realism`): three statistics of an image (how far its colours are from its
  style's palette, the detail inside regions, the energy of its edges) against those of
  rendered photos of the same style, as a Mahalanobis distance; an image passes when its
  distance is below the 95th percentile of real photos'. We tested the score on wrong answers
  that look right to simpler ones: strokes, blurs, noise, speckle, shifted brightness and
  contrast, grey and upside-down photos pass at most 0.5 % of the time, real photos 94 %.

The reference rows are the guides themselves (perfectly faithful, not photos) and the photos
they were painted from (what a perfect edit could return).
''')

code('''
GUIDES = torch.stack([TEST[i]["A"] for i in range(ITEMS)])
PHOTOS = torch.stack([TEST[i]["B"] for i in range(ITEMS)])
REFERENCE_ROWS = {"guides": scores(GUIDES, GUIDES), "photos": scores(PHOTOS, GUIDES)}
for name, row in REFERENCE_ROWS.items():
    print(f"{name:<7} faithfulness {row['faithfulness']:.3f}  realism {row['realism']:.3f}  "
          f"distance {row['realism_distance']:.2f}")

start = time.perf_counter()
ROWS = tradeoff(TRAINED, TEST, T0_GRID, (1,), EDIT_STEPS, ITEMS, seed=SEED)
ROWS += tradeoff(TRAINED, TEST, K3_T0S, (3,), EDIT_STEPS, ITEMS, seed=SEED)
print(f"\\n{ITEMS} test guides, {EDIT_STEPS or 'every'} reverse steps per cycle, "
      f"{time.perf_counter() - start:.0f} s; the course model:\\n" + format_tradeoff(ROWS))
''')

md(r'''
The memorisation experiment of §4 runs the same edits with the perfect denoiser of the training
set; its rows join the plot here so the two curves can be compared.
''')

code('''
train_set = get_dataset("synthetic-strokes", split="train", size=MODEL_SIZE)
TRAIN = torch.stack([train_set.photos[i]["B"] for i in range(TRAIN_PHOTOS)])
IDEAL = DDPM(TRAINED.config).to(DEVICE).eval()  # the same schedule and sampler, no network:
IDEAL.net_ema = IdealDenoiser(TRAIN.to(DEVICE), IDEAL.schedule)  # the loss's exact minimiser
IDEAL_ROWS = tradeoff(IDEAL, TEST, T0_GRID, (1,), EDIT_STEPS, ITEMS, seed=SEED)
print(f"the ideal denoiser of {TRAIN_PHOTOS} training photos:\\n" + format_tradeoff(IDEAL_ROWS))

fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.4))
for rows, label, style in ((ROWS, "course model", "o-"), (IDEAL_ROWS, "ideal denoiser (§4)", "s:")):
    for k in sorted({r["repeats"] for r in rows}):
        sel = [r for r in rows if r["repeats"] == k]
        t0s = [r["t0"] for r in sel]
        name = f"{label}, K = {k}"
        ax1.plot(t0s, [r["faithfulness"] for r in sel], style, label=name)
        ax2.plot(t0s, [r["realism_distance"] for r in sel], style, label=name)
        ax3.plot([r["faithfulness"] for r in sel], [r["realism_distance"] for r in sel], style,
                 label=name)
        for r in sel[::2]:
            ax3.annotate(f"{r['t0']:.1f}", (r["faithfulness"], r["realism_distance"]), fontsize=6)
for name, marker in (("guides", "x"), ("photos", "*")):
    row = REFERENCE_ROWS[name]
    ax1.axhline(row["faithfulness"], color="grey", lw=0.8, ls="--")
    ax2.axhline(row["realism_distance"], color="grey", lw=0.8, ls="--")
    ax3.plot(row["faithfulness"], row["realism_distance"], marker, color="black", ms=9, label=name)
ax1.set_xlabel("t0")
ax1.set_ylabel("faithfulness to the strokes (higher: closer)")
ax2.set_xlabel("t0")
ax2.set_ylabel("realism distance (lower: more photo-like)")
ax2.set_yscale("log")
ax3.set_xlabel("faithfulness")
ax3.set_ylabel("realism distance")
ax3.set_yscale("log")
ax3.invert_xaxis()
for ax in (ax2, ax3):  # plain numbers on the log axis
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks([1, 2, 5, 10, 20])
ax3.legend(fontsize=6)
fig.suptitle("SDEdit's trade-off: the paper's curve (right), each point a t0; dashed: the guides "
             "and the photos", fontsize=10)
fig.tight_layout()
plt.show()
''')

md(r'''
**What to see.** Faithfulness falls steadily with $t_0$ for both models (the course model's
from about 0.73 at $t_0 = 0.1$ to 0.10 at 1): the only thing that carries the guide into the
output is the signal $\sqrt{\bar\alpha_{t_0}}\,x_\text{guide}$ left in the noised image. The
realism half of the curve depends on the model.

* The **ideal denoiser** sits at the photos' realism (distance about 1.7, the test passed by
  nearly every output) at *every* $t_0$, even 0.1: its outputs are training photos (§4), chosen
  by the guide's layout and colours, so its faithfulness is lower than the course model's at
  small $t_0$.
* The **course model** moves the guides towards the photos, a little: its outputs are closer
  to the photos' statistics than the guides themselves (distance about 6 against 7.7) up to
  $t_0 \approx 0.7$, flat in between, and drift away only near $t_0 = 1$ (about 12, pure noise
  with $\hat x_0$ unclipped as in SDEdit's code). No output passes the realism test.
* Three repeats move each point along the curve, as the paper says they should: less faithful
  at the same $t_0$ (about 0.65 against 0.73 at $t_0 = 0.1$) and a little more photo-like
  (5.8 against 6.0 at 0.1, 6.0 against 6.6 at 0.5).

So the two halves of the paper's curve come from two different models here: the course model
shows the faithful end and the start of the bend, the ideal denoiser the realistic end. A converged model draws the
whole curve, bending from the guides' corner towards the photos' star; on a GPU, the paper's
training (FULL mode's live run) is the way there. `benchmarks/sdedit_tables.py` measures the
course model's table on 64 guides with 20 jumps: faithfulness 0.722, 0.556, 0.452, 0.323,
0.170 and realism distance 6.32, 6.49, 6.73, 7.33, 8.77 at $t_0$ = 0.1, 0.3, 0.5, 0.7, 1.0
(K = 1; the guides' distance: 8.67).
''')

md(r'''
## 4 · Why a model is needed: the ideal denoiser memorises

$L_\text{simple}$ has an exact minimiser when the data are $N$ training photos $y_i$: the
posterior mean of $x_0$ given $x_t$, a softmax-weighted average of the training photos,

$$\hat x_0^*(x_t) = \sum_i w_i\,y_i,\qquad w = \operatorname{softmax}_i\Big(-\frac{\|x_t -
\sqrt{\bar\alpha_t}\,y_i\|^2}{2(1-\bar\alpha_t)}\Big).$$

It is better on the training loss than any network can be. Used in SDEdit, as low noise
levels are reached the weights collapse onto one training photo, and the output **is** that
photo: realistic by any score, and useless for editing (it ignores the guide's details, and
it can never make a photo that was not in the training set). The course model, trained on
the same photos, is worse on the loss and makes new images. We count copies: an output within
0.02 RMS of a training photo (8-bit rounding alone is 0.002).
''')

code('''
print(inspect.getsource(IdealDenoiser.forward))


def nearest(images, train):
    """RMS distance from each image to its nearest training photo, and which one."""
    d = torch.cdist(images.flatten(1), train.flatten(1), compute_mode="donot_use_mm_for_euclid_dist")
    best = d.min(1)
    return best.values / images[0].numel() ** 0.5, best.indices


MEMO = {}
memo_outputs = {}
for name, model in (("course model", TRAINED), ("ideal denoiser", IDEAL)):
    for t0 in (0.3, 0.6):
        gen = torch.Generator().manual_seed(SEED)
        out = sdedit(model, GUIDES.to(DEVICE), t0, 1, EDIT_STEPS, generator=gen).clamp(-1, 1).cpu()
        rms, index = nearest(out, TRAIN)
        MEMO[f"{name} t0={t0}"] = {"copies": float((rms < 0.02).double().mean()),
                                   "rms": float(rms.mean()), **scores(out, GUIDES)}
        memo_outputs[name, t0] = (out, TRAIN[index])
photo_rms, _ = nearest(PHOTOS, TRAIN)
MEMO["test photos"] = {"rms": float(photo_rms.mean()), "copies": float((photo_rms < 0.02).double().mean())}
for name, row in MEMO.items():
    print(f"{name:<22} copies {row['copies']:.2f}  RMS to nearest training photo {row['rms']:.3f}"
          + (f"  faithfulness {row['faithfulness']:.3f}  realism {row['realism']:.2f}"
             if "faithfulness" in row else ""))

columns = {"guide": GUIDES[:5]}
for name in ("ideal denoiser", "course model"):
    out, near = memo_outputs[name, 0.6]
    columns[f"{name}, t0 0.6"] = out[:5]
    columns[f"nearest training photo\\nto the {name}'s"] = near[:5]
columns["the photo painted"] = PHOTOS[:5]
image_grid(columns, "memorisation: the ideal denoiser returns training photos; the learned model "
           "does not", size=1.5);
''')

md(r'''
**What to see.** Every edit of the ideal denoiser is a training photo to the pixel (copies
1.00, RMS 0.000 at both $t_0$): in the picture its output and its nearest training photo are
the same image. It is often of the right kind, a sunset for a sunset painting, a night for a
night, but it is never the photo that was painted, which is not in the training set. It passes
the realism test (nearly always), and it is less faithful than the course model at
$t_0 = 0.3$ (about 0.46 against 0.57). The course model's outputs are about 0.21 RMS from every
training photo, as far as the test photos themselves are (0.24): they are new images, if
blurred ones. A diffusion model is useful because it does *not* minimise its loss on the
training set: it generalises from the photos to a smooth density, and only that turns a new
guide into a new photo.
''')

md(r'''
## 5 · Masked editing

To edit one region of a photo, paint strokes there and tell SDEdit which pixels to keep. After
every reverse step the kept pixels are replaced by the original noised to the level the step
has reached (a fresh noise draw each time), so the generated region has to agree with its
surroundings at every noise level, and after the last step they are the original's own pixels.
Below, the lower-left quarter of test photos is overpainted with their own stroke painting;
SDEdit without a mask repaints everything, with one it repaints only the quarter.
''')

code('''
EDIT_ITEMS = list(range(6))
photos = torch.stack([TEST[i]["B"] for i in EDIT_ITEMS])
painted = torch.stack([TEST[i]["A"] for i in EDIT_ITEMS])
KEEP = torch.ones(1, 1, MODEL_SIZE, MODEL_SIZE)
KEEP[..., MODEL_SIZE // 2:, : MODEL_SIZE // 2] = 0  # 0: the lower-left quarter is repainted
collage = KEEP * photos + (1 - KEEP) * painted
T0_MASK = 0.5
gen = torch.Generator().manual_seed(SEED)
free = sdedit(TRAINED, collage.to(DEVICE), T0_MASK, 1, EDIT_STEPS, generator=gen).clamp(-1, 1).cpu()
gen = torch.Generator().manual_seed(SEED)
masked = sdedit(TRAINED, collage.to(DEVICE), T0_MASK, 1, EDIT_STEPS, mask=KEEP,
                generator=gen).clamp(-1, 1).cpu()
image_grid({"the photo": photos, "collage (strokes in\\nthe lower left)": collage,
            f"SDEdit, no mask\\nt0 {T0_MASK}": free, f"SDEdit, masked\\nt0 {T0_MASK}": masked},
           "masked editing: keep the photo, repaint the painted quarter (course checkpoint)", size=1.6)


def region_l1(a, b, region):
    """Mean |a - b| over the pixels where region (1, 1, H, W) is 1, every image and channel."""
    return float(((a - b).abs() * region).sum() / (region.sum() * a.shape[0] * a.shape[1]))


repaint = 1 - KEEP
MASKED = {"kept_max_change": float((masked - collage).abs().mul(KEEP).max()),
          "kept_l1_unmasked": region_l1(free, collage, KEEP),
          "region_l1_collage": region_l1(collage, photos, repaint),
          "region_l1_masked": region_l1(masked, photos, repaint),
          "region_changed": region_l1(masked, collage, repaint)}
print({k: round(v, 4) for k, v in MASKED.items()})
''')

md(r'''
**What to see.** With the mask, the three kept quarters are the photo's own pixels (largest
change 0.0) and only the painted quarter moves; without it, SDEdit repaints the whole photo
(mean change about 0.16 in the quarters we wanted kept) and its detail is lost. In the painted
quarter, the flat strokes turn into textured blurs that continue the colours around them. They
are *not* closer to the true photo: L1 about 0.20 in the quarter, against the strokes' 0.10.
The weak model's texture is not the data's, and L1 to one photo prefers a flat average to a
texture that is slightly wrong everywhere, which is why SDEdit's paper scores realism with
statistics of many images rather than with a distance to one.
''')

md(r'''
## 6 · How training starts: a short live run

Everything above came from the course checkpoint. Now a **live run**: the `fast` preset's
U-Net, trained here from scratch on the photos of `synthetic-strokes` for a few dozen steps
(the checkpoint had 6000; its loss, measured on the same kind of batch, is printed beside).
It shows how training starts, not where it ends. FULL mode trains the paper's configuration
instead (SDEdit's 256 px church model: channels 128, multipliers 1, 1, 2, 2, 4, 4, attention
at 16 px; Adam $2\cdot10^{-5}$, batch 64, gradients clipped at 1, EMA 0.999, 500 000 steps)
and resumes from `runs/lecture07/` when the notebook is run again.
''')

code('''
TRAIN_DATA = get_dataset("synthetic-strokes", split="train", size=SIZE)
seed_everything(SEED)
LIVE = ddpm.build(LIVE_CONFIG)
start = time.perf_counter()
fit(LIVE, TRAIN_DATA, LIVE_CONFIG.train)
LIVE_SECONDS = round(time.perf_counter() - start, 1)
LIVE.eval()
print(f"live run: {LIVE_CONFIG.train.steps} steps at {SIZE} px in {LIVE_SECONDS} s")

log = [json.loads(line) for line in (RUN_ROOT / "live" / "metrics.jsonl").read_text().splitlines()]
log = [r for r in log if "losses" in r]
# The checkpoint's loss (its averaged network, the one shipped) on 256 training photos.
CHECKPOINT_LOSS = None
if SIZE == MODEL_SIZE:
    gen = torch.Generator().manual_seed(SEED)
    x0 = torch.stack([TRAIN_DATA[i]["B"] for i in range(256)])
    t = torch.randint(0, schedule.num_timesteps, (len(x0),), generator=gen)
    noise = torch.randn(x0.shape, generator=gen)
    with torch.no_grad():
        eps = TRAINED.net_ema(q_sample(schedule, x0.to(DEVICE), t.to(DEVICE), noise.to(DEVICE)),
                              t.to(DEVICE))
    CHECKPOINT_LOSS = float(((eps.cpu() - noise) ** 2).mean())
LIVE_LOSSES = {"steps": [r["step"] for r in log], "loss": [r["losses"]["loss"] for r in log],
               "checkpoint": CHECKPOINT_LOSS}

fig, (ax, *grid_axes) = plt.subplots(1, 3, figsize=(10, 3.0),
                                     gridspec_kw={"width_ratios": [1.3, 1, 1]})
ax.plot(LIVE_LOSSES["steps"], LIVE_LOSSES["loss"], "o-", label="live run")
if CHECKPOINT_LOSS is not None:
    ax.axhline(CHECKPOINT_LOSS, color="tab:green", ls="--", label=f"course checkpoint ({CARD['steps']} steps)")
ax.axhline(1.0, color="grey", ls=":", label="predicting no noise")
ax.set_xlabel("step")
ax.set_title("L_simple", fontsize=9)
ax.legend(fontsize=7)
grids = sorted((RUN_ROOT / "live" / "samples").glob("step_*.png"))[-2:]
for a, path in zip(grid_axes, grids):
    a.imshow(np.asarray(Image.open(path)), interpolation="nearest")
    a.set_title(f"samples grid at step {int(path.stem.split('_')[1])}", fontsize=9)
    a.set_xticks([])
    a.set_yticks([])
fig.suptitle("live run: the loss and the training loop's grids (guide, SDEdit, sample, photo)",
             fontsize=10)
fig.tight_layout()
plt.show()
''')

md(r'''
**What to see.** The loss starts at 1, the error of predicting no noise at all, and falls to
about a quarter of that within 40 steps: most of the noise at high levels is easy to find (the
image there *is* nearly that noise). The rest of the way, to the checkpoint's 0.025, is the
noise at low levels, where it must be told apart from the photo's own detail, and takes
thousands of steps. The live run's samples (third column of each grid) are still coloured
noise: a diffusion model's samples say nothing good until its loss is small at every level.
''')

md(r'''
## 7 · Try it: the noise-level slider

The course checkpoint on a stroke guide of the test split, or on your own painting (any PNG:
paint a sky, a horizon and some ground in a few flat colours; it is cropped and resized to the
model's 32 px):

* **t0** walks the grid from 0.1 to 1.0; **K** chooses one or three repeats; **sample** picks
  one of a few noise draws (the edit is random: compare them);
* shown are the guide, the guide noised to $t_0$ (what the reverse process starts from), the
  output and, for test guides, the photo the strokes were painted from;
* under them, the output's faithfulness and its realism verdict and distance, computed on the
  image exactly as shown, and the guide's own trade-off curve with the current $t_0$ marked.

Every output of the grid is computed when the guide is chosen (a few seconds on a CPU), so
the slider answers at once.
''')

code('''
from coursekit.widgets import NoiseLevelExplorer

explorer = NoiseLevelExplorer(TRAINED, TEST, index=GUIDE_INDEX, **WIDGET)  # trained, not live
explorer
''')

md(r'''
**Things to try.** Find the smallest $t_0$ at which the stroke edges disappear, and the largest
at which the horizon stays put: that is your model's sweet spot (the paper's is 0.3-0.6).
Compare K = 1 and K = 3 at the same $t_0$. Paint a guide with a colour the data never has
(a green sky): at which $t_0$ does the model overrule you?
''')

md(r'''
## 8 · Stable Diffusion img2img: SDEdit at scale (GPU)

diffusers' `StableDiffusionImg2ImgPipeline` *is* SDEdit, in the latent space of an autoencoder
and with a text prompt: the guide is encoded, noised to level `strength` (SDEdit's $t_0$),
denoised by a text-conditioned U-Net and decoded. This is the recipe behind "upgrade your
child's artwork" and "abstract art from photos". One detail matters: the pipeline's scheduler
spaces `num_inference_steps` over the whole range and runs only `int(num_inference_steps x
strength)` of them, so a small strength with few steps runs **none** (`coursekit` refuses that
with the fix instead of returning the guide).

It needs a GPU, `pip install 'coursekit[diffusion]'` and the weights (about 5 GB) in the
Hugging Face cache, fetched once on a machine with internet (`huggingface-cli download
stable-diffusion-v1-5/stable-diffusion-v1-5`); coursekit never downloads them. FULL mode runs
it on our guide below when they are there.
''')

code('''
print(inspect.getsource(stable_diffusion.img2img_steps))
STRENGTHS = (0.01, 0.1, 0.3, 0.5, 0.75, 1.0)
SD_STEPS = {n: [stable_diffusion.img2img_steps(n, s) for s in STRENGTHS] for n in (10, 50)}
print("strength        " + "".join(f"{s:>6}" for s in STRENGTHS))
for n, runs in SD_STEPS.items():
    print(f"steps run of {n:<3}" + "".join(f"{r:>6}" for r in runs))

SD_RESULT = None
if not FAST:
    try:
        pipe = stable_diffusion.load_img2img(device=DEVICE, dtype=torch.float16)
    except (ImportError, stable_diffusion.MissingWeightsError) as error:
        print(f"Stable Diffusion is not available here: {error}")
    else:
        guide512 = torch.nn.functional.interpolate(item["A"][None], size=512, mode="bicubic")
        prompt = "a photograph of a landscape, detailed, natural light"
        fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
        show_row(axes[:1], [guide512[0]], ["the guide (32 px, upsampled)"])
        for ax, strength in zip(axes[1:], (0.3, 0.5, 0.75)):
            out = stable_diffusion.img2img(pipe, guide512.to(DEVICE), prompt, strength=strength,
                                           generator=torch.Generator(DEVICE).manual_seed(SEED))
            show_row([ax], [out[0].float().cpu()], [f"strength (t0) {strength}"])
        fig.suptitle(f"Stable Diffusion img2img: {prompt!r}", fontsize=10)
        fig.tight_layout()
        plt.show()
        SD_RESULT = "ran"
else:
    print("FAST mode: Stable Diffusion img2img runs in FULL mode (a GPU and its weights)")
''')

md(r'''
## Summary

* A diffusion model learns to undo Gaussian noise: the forward process
  $x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon$ needs no learning, the
  network learns to predict $\varepsilon$ ($L_\text{simple}$), and sampling runs the learned
  reverse steps from pure noise.
* **SDEdit** uses such a model, trained on photos only, to turn a guide into a photo: noise the
  guide to $t_0$, denoise. No pairs, no training for the task. $t_0$ trades faithfulness for
  realism; repeats push further towards realism; a mask keeps a region exactly.
* Faithfulness falls with $t_0$ for any model. Realism rises only if the model's samples are
  more realistic than the guide: our 96-minute CPU model smooths strokes but does not make
  photos, and the ideal denoiser makes photos by copying its training set. A good model sits
  between: it generalises.
* Stable Diffusion's img2img is the same recipe in a latent space, with a prompt; its
  `strength` is $t_0$, and it runs `int(steps x strength)` steps.

**Try it.** Set `EDIT_STEPS = None` in the settings cell (every reverse step: a thousand
network calls at $t_0 = 1$) and compare the curve with 10 jumps. Train the live run longer
(`STEPS = 400`): when do its samples stop being noise? In §5, repaint the sky instead of the
lower-left quarter.

The cell below collects every number of this notebook in one JSON-serialisable dict (the
course's tests read it).
''')

code('''
RESULTS = {
    "mode": "fast" if FAST else "full",
    "size": MODEL_SIZE,
    "live_size": SIZE,
    "seed": SEED,
    "items": ITEMS,
    "edit_steps": EDIT_STEPS,
    "forward_check": FORWARD_CHECK,
    "denoiser": DENOISER,
    "sample_realism": SAMPLE_REALISM,
    "unclipped_sample_realism": UNCLIPPED_REALISM,
    "photo_realism": PHOTO_REALISM,
    "checkpoint_steps": CARD["steps"],
    "one_guide": ONE_GUIDE,
    "reference_rows": REFERENCE_ROWS,
    "tradeoff": ROWS,
    "ideal_tradeoff": IDEAL_ROWS,
    "memorisation": MEMO,
    "masked": MASKED,
    "live_losses": LIVE_LOSSES,
    "live_seconds": LIVE_SECONDS,
    "sd_steps": {str(n): runs for n, runs in SD_STEPS.items()},
    "sd_result": SD_RESULT,
    "notebook_seconds": round(time.perf_counter() - NOTEBOOK_START, 1),
}
print(json.dumps(RESULTS, indent=1))
''', tags=["results"])

nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"}})
out = Path(__file__).resolve().parents[1] / "lectures" / "07_sdedit.ipynb"
nbformat.write(nb, out)
print(f"wrote {out} ({len(cells)} cells)")
