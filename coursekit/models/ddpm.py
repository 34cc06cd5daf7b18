"""DDPM: denoising diffusion probabilistic models, the denoiser behind SDEdit.

Ho, Jain, Abbeel, NeurIPS 2020 (notation and equation numbers theirs); the sampler with fewer
steps is Song, Meng, Ermon's DDIM (ICLR 2021). ``coursekit.models.sdedit`` edits images with
the model trained here.

**Forward process (Eq. 2, 4).** Over T = 1000 steps, Gaussian noise is added with a linear
schedule beta_1 = 1e-4 ... beta_T = 0.02. With alpha_t = 1 - beta_t and
alphabar_t = prod_{s <= t} alpha_s, any noise level is reached in one draw:

    q(x_t | x_0) = N(sqrt(alphabar_t) x_0, (1 - alphabar_t) I)

**Reverse process (Eq. 6-7, 11).** Given x_0, the step back is Gaussian with

    mu~_t(x_t, x_0) = sqrt(alphabar_{t-1}) beta_t / (1 - alphabar_t) x_0
                      + sqrt(alpha_t) (1 - alphabar_{t-1}) / (1 - alphabar_t) x_t
    beta~_t = (1 - alphabar_{t-1}) / (1 - alphabar_t) beta_t

A network eps_theta(x_t, t) predicts the noise that was added; x_0 is estimated as
(x_t - sqrt(1 - alphabar_t) eps_theta) / sqrt(alphabar_t) and put into mu~_t, which is Eq. 11's
1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alphabar_t) eps_theta). The variance is fixed to beta~_t
(``fixedsmall``, the choice of the SDEdit and DDIM code).

**Training (Eq. 14, Algorithm 1).** L_simple = E_{t, x_0, eps} || eps - eps_theta(sqrt(alphabar_t)
x_0 + sqrt(1 - alphabar_t) eps, t) ||^2 with t uniform: plain regression on the noise.

**Sampling (Algorithm 2).** From x_T ~ N(0, I), T ancestral steps x_{t-1} = mu + sqrt(beta~_t) z,
with no noise added at the last step. DDIM (Eq. 12) jumps between any two levels t > s:

    x_s = sqrt(alphabar_s) x0_hat + sqrt(1 - alphabar_s - sigma^2) eps_theta + sigma z,
    sigma = eta sqrt((1 - alphabar_s) / (1 - alphabar_t)) sqrt(1 - alphabar_t / alphabar_s)

eta = 0 is deterministic; eta = 1 with s = t - 1 is the ancestral step above. A CPU samples
with 50 such steps instead of 1000.

**Indices.** The papers count t = 1..T; the code, like the reference's and diffusers', indexes
arrays by t - 1 = 0..T-1: ``alphas_cumprod[i]`` is alphabar_{i+1}, and "alphabar_0" = 1 is
the value before the first step. The process's functions (``coursekit.nn.diffusion``: the
schedule, q_sample, the posterior, the ancestral and DDIM steps) take that 0-based index.

**Network.** The U-Net of Ho et al. (PixelCNN++'s backbone, as in the DDIM/SDEdit code): a
sinusoidal embedding of t through a 2-layer MLP added inside every residual block, GroupNorm,
swish, self-attention at the listed resolutions, skips from every block of the way down to the
way up. Written out here rather than taken from diffusers' ``UNet2DModel`` so that a student
can read where t enters the network; the tests check the schedule and the steps against
diffusers.

**Optimisation.** Adam at 2e-4 for 32 px and 2e-5 for 256 px (Ho et al. lowered it for the
256 px models, which were unstable at the larger rate), batch 64, no weight decay, gradients
clipped to norm 1 (their code's), and an exponential moving average of the weights (0.999 in
SDEdit's configs) that is the model used for sampling.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# The schedule and the steps (Eq. 2-7, 11; DDIM's Eq. 12) are shared blocks: SDEdit runs them.
from coursekit.nn.diffusion import Schedule, q_sample, reverse_step, timesteps
from coursekit.train import Method, TrainConfig, unwrap

#: The noise prediction is regression on photos: any image dataset works; the offline one is
#: the landscapes' stroke/photo view, whose strokes SDEdit edits.
DEFAULT_DATA = "synthetic-strokes"
PAIRED = False


# ------------------------------------------------------------------------------ network
def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """The Transformer's sinusoidal position encoding of steps ``t`` (N,): (N, dim), the first
    half sines and the second cosines of t at frequencies 10000^(-k / (dim/2 - 1))."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / (half - 1))
    angles = t.float()[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(groups, channels), channels, eps=1e-6)


class TimeResBlock(nn.Module):
    """norm, swish, conv; + the projected time embedding; norm, swish, dropout, conv; plus the
    input (through a 1x1 conv when the width changes)."""

    def __init__(self, c_in: int, c_out: int, time_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in, groups), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(time_dim, c_out)
        self.norm2, self.conv2 = _norm(c_out, groups), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(F.silu(temb))[:, :, None, None]  # the step enters every block
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Single-head self-attention over the H x W positions, added to the input."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = _norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).unbind(1)  # (N, C, HW) each
        attention = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(c), dim=-1)  # (N, HW, HW)
        return x + self.out((v @ attention.transpose(1, 2)).reshape(n, c, h, w))


class UNet(nn.Module):
    """eps_theta(x_t, t): (N, C, H, W) and 0-based steps (N,) -> the predicted noise (N, C, H, W).

    Level k works at H / 2^k with ``ch * ch_mult[k]`` channels and ``num_res_blocks`` blocks
    (plus attention where the resolution is in ``attn_resolutions``); a stride-2 conv goes
    down, nearest-neighbour upsampling and a conv come back up, and every block's output on
    the way down is concatenated to a block on the way up."""

    def __init__(self, channels: int = 3, image_size: int = 256, ch: int = 128,
                 ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4, 4), num_res_blocks: int = 2,
                 attn_resolutions: tuple[int, ...] = (16,), dropout: float = 0.0,
                 groups: int = 32):
        super().__init__()
        if image_size % 2 ** (len(ch_mult) - 1):
            raise ValueError(f"{len(ch_mult)} levels halve the image {len(ch_mult) - 1} times: "
                             f"image_size must be a multiple of {2 ** (len(ch_mult) - 1)}, got "
                             f"{image_size}")
        self.ch, time_dim = ch, 4 * ch
        self.time_mlp = nn.Sequential(nn.Linear(ch, time_dim), nn.SiLU(),
                                      nn.Linear(time_dim, time_dim))
        self.stem = nn.Conv2d(channels, ch, 3, padding=1)
        self.down, widths, c, size = nn.ModuleList(), [ch], ch, image_size
        for level, mult in enumerate(ch_mult):
            for _ in range(num_res_blocks):
                self.down.append(_Level(c, ch * mult, time_dim, groups, dropout,
                                        size in attn_resolutions))
                c = ch * mult
                widths.append(c)
            if level < len(ch_mult) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                widths.append(c)
                size //= 2
        self.middle = nn.ModuleList([_Level(c, c, time_dim, groups, dropout, True),
                                     _Level(c, c, time_dim, groups, dropout, False)])
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(ch_mult))):
            for _ in range(num_res_blocks + 1):
                self.up.append(_Level(c + widths.pop(), ch * mult, time_dim, groups, dropout,
                                      size in attn_resolutions))
                c = ch * mult
            if level > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(c, c, 3, padding=1)))
                size *= 2
        self.head = nn.Sequential(_norm(c, groups), nn.SiLU(), nn.Conv2d(c, channels, 3, padding=1))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        temb = self.time_mlp(timestep_embedding(t, self.ch))
        h = self.stem(x)
        skips = [h]
        for layer in self.down:
            h = layer(h, temb) if isinstance(layer, _Level) else layer(h)
            skips.append(h)
        for layer in self.middle:
            h = layer(h, temb)
        for layer in self.up:
            h = layer(torch.cat([h, skips.pop()], 1), temb) if isinstance(layer, _Level) else layer(h)
        return self.head(h)


class _Level(nn.Module):
    """A residual block with the time embedding, then attention if ``attention``."""

    def __init__(self, c_in, c_out, time_dim, groups, dropout, attention):
        super().__init__()
        self.block = TimeResBlock(c_in, c_out, time_dim, groups, dropout)
        self.attention = SelfAttention(c_out, groups) if attention else nn.Identity()

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        return self.attention(self.block(x, temb))


class IdealDenoiser(nn.Module):
    """The noise prediction that minimises L_simple exactly when the data are the N images
    ``train`` (N, C, H, W): the posterior mean of x_0 given x_t under that finite set,

        x0*(x_t) = sum_i w_i y_i,   w = softmax_i(-||x_t - sqrt(alphabar_t) y_i||^2 / (2 (1 - alphabar_t)))

    turned into eps* = (x_t - sqrt(alphabar_t) x0*) / sqrt(1 - alphabar_t). No network learns
    better on the training loss, and every sample it makes is a training image: the
    memorisation that a finite network trained on finite steps avoids."""

    def __init__(self, train: Tensor, schedule: Schedule):
        super().__init__()
        self.register_buffer("train_images", train.detach().flatten(1).float(), persistent=False)
        self.schedule = schedule

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if not bool((t == t[0]).all()):  # one noise level per call; else image by image
            return torch.cat([self(x[i:i + 1], t[i:i + 1]) for i in range(len(x))])
        abar = self.schedule.alphas_cumprod[t[0]]
        flat = x.flatten(1)
        # Exact distances (not the matmul shortcut): at small t, 2 (1 - alphabar) is ~1e-4.
        distance = torch.cdist(flat, abar.sqrt() * self.train_images,
                               compute_mode="donot_use_mm_for_euclid_dist") ** 2
        weights = torch.softmax(-distance / (2 * (1 - abar)), dim=1)  # (N, train images)
        x0 = weights @ self.train_images
        return ((flat - abar.sqrt() * x0) / (1 - abar).sqrt()).reshape(x.shape)


# ------------------------------------------------------------------------------ config
@dataclass
class Config:
    """Defaults: SDEdit's LSUN church model (its ``configs/church.yml``) with the DDPM paper's
    optimiser for 256 px; ``fast()`` is a 32 px model for a CPU."""

    image_size: int = 256
    channels: int = 3
    image_key: str = "B"  # the dataset's photos: what the model learns to generate
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    dropout: float = 0.0
    groups: int = 32  # GroupNorm's groups (fewer where a layer has fewer channels)
    num_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    lr: float = 2e-5
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0
    ema_rate: float = 0.999
    sample_steps: int = 50  # DDIM steps for ``sample`` and the training loop's grids
    # SDEdit (``translate``, ``evaluate``): the README commands of SDEdit's code use t0 = 0.5
    # (its command-line default is 0.4) and K = 3 repeats; ``edit_steps`` None is every step.
    t0: float = 0.5
    repeats: int = 3
    edit_steps: int | None = None
    eval_items: int = 200  # test guides ``evaluate`` edits (and unconditional samples it draws)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=500_000, batch_size=64, out_dir="runs/ddpm", log_every=100,
        sample_every=10_000, checkpoint_every=5_000))

    def __post_init__(self) -> None:
        self.ch_mult, self.attn_resolutions = tuple(self.ch_mult), tuple(self.attn_resolutions)
        self.betas = tuple(self.betas)
        if not 0 <= self.ema_rate < 1:
            raise ValueError(f"ema_rate must be in [0, 1), got {self.ema_rate}")
        if self.sample_steps < 1:
            raise ValueError(f"sample_steps must be >= 1, got {self.sample_steps}")
        if self.edit_steps is not None and self.edit_steps < 1:
            raise ValueError(f"edit_steps must be >= 1 (or None for every step), got "
                             f"{self.edit_steps}")
        if not 0 < self.t0 <= 1 or self.repeats < 1:
            raise ValueError(f"SDEdit needs 0 < t0 <= 1 and repeats >= 1, got t0={self.t0}, "
                             f"repeats={self.repeats}")
        if self.ch % 2:
            raise ValueError(f"ch must be even (the time embedding is half sines, half "
                             f"cosines), got {self.ch}")

    @classmethod
    def paper(cls, **overrides) -> "Config":
        """SDEdit's 256 px LSUN church model: ch 128, mult 1,1,2,2,4,4, 2 blocks per level,
        attention at 16 px, no dropout, linear betas 1e-4..0.02 over 1000 steps, EMA 0.999."""
        return replace(cls(), **overrides)

    @classmethod
    def fast(cls, **overrides) -> "Config":
        """A CPU preset: 32 px landscapes, ch 32, mult 1,2,2, one block per level, attention at
        8 px, 8 groups, batch 32, lr 2e-4 (the DDPM paper's CIFAR-10 rate), EMA 0.995 (a run
        of thousands of steps, not hundreds of thousands), 200 steps; sampling and SDEdit with
        20 and 10 DDIM steps, 64 test guides in ``evaluate``."""
        base = cls(image_size=32, ch=32, ch_mult=(1, 2, 2), num_res_blocks=1,
                   attn_resolutions=(8,), groups=8, lr=2e-4, ema_rate=0.995, sample_steps=20,
                   edit_steps=10, eval_items=64,
                   train=TrainConfig(steps=200, batch_size=32, out_dir="runs/ddpm-fast",
                                     log_every=50, sample_every=100, checkpoint_every=100))
        return replace(base, **overrides)

    @classmethod
    def course(cls, **overrides) -> "Config":
        """The course checkpoint's preset (``scripts/train_course_checkpoints.py``): the fast
        preset's network (2.1 MB in float16) trained 6000 steps at a constant rate, as the DDPM
        paper (no decay), with EMA 0.999: about 95 minutes on one CPU thread."""
        base = cls.fast()
        base = replace(base, ema_rate=0.999, train=replace(
            base.train, steps=6000, decay_steps=0, out_dir="runs/ddpm-course",
            sample_every=1000, checkpoint_every=500, eval_every=1000, log_every=100))
        return replace(base, **overrides)


# ------------------------------------------------------------------------------ method
class DDPM(Method):
    """The noise predictor ``net``, its moving average ``net_ema`` (used to sample), and the
    fixed ``schedule``."""

    inference_networks = ("net_ema",)
    averaged_networks = {"net_ema": "net"}

    def __init__(self, config: Config | None = None):
        super().__init__()
        self.config = c = config or Config()
        self.net = UNet(c.channels, c.image_size, c.ch, c.ch_mult, c.num_res_blocks,
                        c.attn_resolutions, c.dropout, c.groups)
        # Not trained by gradients: it follows ``net`` after every step (``update_ema``).
        self.net_ema = copy.deepcopy(self.net).requires_grad_(False).eval()
        self.schedule = Schedule(c.num_timesteps, c.beta_start, c.beta_end)

    def networks(self) -> dict[str, nn.Module]:
        return {"net": self.net}  # the average is state, not a network to wrap or train

    def train(self, mode: bool = True) -> "DDPM":
        super().train(mode)
        self.net_ema.eval()  # no dropout in the averaged model, ever
        return self

    # ------------------------------------------------------------------ training
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        return {"net": torch.optim.Adam(self.net.parameters(), lr=c.lr, betas=c.betas)}

    def loss(self, x0: Tensor) -> Tensor:
        """Eq. 14, L_simple: a uniform step per image, a fresh N(0, I) noise, the squared error
        of the noise prediction."""
        t = torch.randint(0, self.config.num_timesteps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        return F.mse_loss(self.net(q_sample(self.schedule, x0, t, noise), t), noise)

    @torch.no_grad()
    def update_ema(self) -> None:
        """net_ema <- rate net_ema + (1 - rate) net."""
        rate = self.config.ema_rate
        for average, current in zip(self.net_ema.parameters(), unwrap(self.net).parameters()):
            average.lerp_(current, 1 - rate)

    def training_step(self, batch: dict) -> dict[str, Tensor]:
        x0 = batch[self.config.image_key]
        # 1. Algorithm 1: noise the photos at random steps, regress the noise.
        loss = self.loss(x0)
        # 2. One Adam step with the gradient clipped to norm ``grad_clip`` (the DDIM code's).
        self.backward_and_step(loss, "net", clip_grad_norm=self.config.grad_clip or None)
        # 3. The moving average that samples.
        self.update_ema()
        return {"loss": loss.detach()}

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def eps(self, x: Tensor, t: int) -> Tensor:
        """The averaged model's noise prediction for x at 0-based step ``t``."""
        return self.net_ema(x, torch.full((len(x),), t, device=x.device, dtype=torch.long))

    @torch.no_grad()
    def denoise(self, x: Tensor, start: int, steps: int | None = None, eta: float = 1.0,
                generator: torch.Generator | None = None, clip_x0: bool = False) -> Tensor:
        """Run the reverse process from x at level ``start`` (after ``start`` noising steps)
        down to a clean image: every step, ancestral (Algorithm 2; ``start`` network calls)
        with ``steps=None``, else ``steps`` DDIM jumps (Eq. 12) with ``eta``; ``clip_x0``:
        clip each step's x0_hat to [-1, 1]. Noise comes from ``generator`` on the CPU, so a
        seed gives the same images on any device."""
        visit = timesteps(self.schedule.num_timesteps, start, steps)
        x = x.to(self.device)
        for k, t in enumerate(visit):
            s = visit[k + 1] if k + 1 < len(visit) else -1
            noise = torch.randn(x.shape, generator=generator).to(x.device)
            x = reverse_step(self.schedule, self.eps(x, t), x, t, s, eta, noise, clip_x0)
        return x

    @torch.no_grad()
    def sample(self, n: int, steps: int | None = -1, eta: float = 1.0,
               generator: torch.Generator | None = None, clip_x0: bool = True) -> Tensor:
        """``n`` images from pure noise: ``steps`` DDIM steps (default ``config.sample_steps``;
        None: all T ancestral steps), x0_hat clipped to [-1, 1] at each step as DDPM's sampler
        does (from pure noise, the unclipped x0_hat of an imperfect network overshoots by
        1 / sqrt(alphabar_T) = 157x its error)."""
        c = self.config
        steps = c.sample_steps if steps == -1 else steps
        x = torch.randn(n, c.channels, c.image_size, c.image_size, generator=generator)
        return self.denoise(x, c.num_timesteps, steps, eta, generator=generator, clip_x0=clip_x0)

    @torch.no_grad()
    def translate(self, guide: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """SDEdit of ``guide`` with the config's t0, repeats and edit_steps
        (``coursekit.models.sdedit``), clipped to the images' range [-1, 1]."""
        from coursekit.models.sdedit import sdedit

        c = self.config
        return sdedit(self, guide, c.t0, c.repeats, c.edit_steps,
                      generator=generator).clamp(-1, 1)

    @torch.no_grad()
    def visuals(self, batch: dict) -> dict[str, Tensor]:
        generator = torch.Generator().manual_seed(0)
        out = {"guide": batch["A"]} if "A" in batch and self.config.image_key != "A" else {}
        if out:
            out["sdedit"] = self.translate(batch["A"], generator)
        x0 = batch[self.config.image_key]
        out["sample"] = self.sample(len(x0), generator=generator).clamp(-1, 1)
        out["real"] = x0
        return out

    @torch.no_grad()
    def evaluate(self, dataset, max_items: int | None = None) -> dict[str, float]:
        """SDEdit of the first ``max_items`` (default ``config.eval_items``) guides of
        ``dataset`` ("A") scored by the dataset (synthetic-strokes: ``faithfulness``,
        ``realism``), ``l1`` to their photos ("B"), and the realism of as many unconditional
        samples (``sample_realism``, ``sample_realism_distance``)."""
        from coursekit.data.evaluation import _base_dataset, evaluate_paired
        from coursekit.data.synthetic.strokes import SyntheticStrokes, realism

        n = min(len(dataset), max_items or self.config.eval_items)
        generator = torch.Generator().manual_seed(0)
        scores = evaluate_paired(lambda x: self.translate(x, generator), dataset, "AtoB",
                                 max_items=n)
        if isinstance(_base_dataset(dataset), SyntheticStrokes):  # the realism test's photos
            samples = torch.cat([self.sample(min(16, n - k), generator=generator).cpu()
                                 for k in range(0, n, 16)]).clamp(-1, 1)
            scores.update({f"sample_{k}": v for k, v in realism(samples).items()})
        return scores


def build(config: Config | None = None) -> DDPM:
    return DDPM(config)
