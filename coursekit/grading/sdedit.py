"""Checks for problem set 7 (SDEdit and the diffusion process): the test cells of
``ps7_sdedit.ipynb`` call these.

Each check runs the student's code on fixed, tiny inputs (CPU, one torch thread, fixed seeds)
and compares it with a hand-computed value, with a property that any correct solution has, or
with coursekit's reference -- ``Schedule``, ``q_sample`` and ``p_sample`` in
``coursekit.nn.diffusion``, ``sdedit`` in ``coursekit.models.sdedit`` -- given the same
schedule, inputs, noise and random generator. While the student's code runs, the reference of
the part being graded is refused (``checks.forbid``), so calling it earns nothing.

Steps are 0-based, as in coursekit: ``alphas_cumprod[i]`` is the papers' alphabar_{i+1}, and
step -1 is the clean image.

What the students write (signatures fixed by the notebook):

* ``make_schedule(betas)``: for the betas (T,) in float64, a dict of ``alphas_cumprod``
  (the cumulative product of 1 - beta), ``alphas_cumprod_prev`` (1 before the first step),
  ``sqrt_alphas_cumprod`` and ``sqrt_one_minus_alphas_cumprod``, each (T,) in float64;
* ``q_sample(schedule, x0, t, noise)``: Eq. 4 of Ho et al. 2020 at a 0-based step per image
  (``t``: (N,)), sqrt(alphabar_t) x0 + sqrt(1 - alphabar_t) noise;
* ``reverse_step(schedule, x, eps, t, noise)``: one ancestral step from step ``t`` (an int,
  the whole batch) to t - 1 given the noise prediction ``eps``: x0 estimated by Eq. 4 solved
  for x0, the posterior mean of Eq. 7, plus sqrt(beta~_t) noise (``fixedsmall``), no noise
  at t = 0;
* ``sdedit(eps_model, guide, t0, schedule, step, repeats, generator)``: Meng et al. 2022's
  SDEdit with the given reverse ``step``: the guide noised to step n - 1 (n =
  ``schedule.index(t0)``), n reverse steps, ``repeats`` cycles each re-noising the previous
  output; every noise drawn from ``generator`` in the order it is used;
* ``masked_sdedit(eps_model, guide, mask, t0, schedule, step, generator)``: one cycle, and
  after every step the kept pixels (mask 1) replaced by the guide noised afresh to the level
  the step reached, the guide itself after the last step.

Tolerances, and why:

* The schedule is float64 (a product of 1000 factors; a float32 running product drifts by
  ~1e-5): any order of the products (a loop, ``cumprod``, ``exp(cumsum(log))``) agrees to
  ~1e-13. Hand values to 1e-12; coursekit's buffers are float32, rounded once from float64
  (relative 6e-8), compared to 1e-6 relative.
* q_sample does coursekit's float32 operations, maybe in another order: 1e-6 of the images'
  scale.
* The reverse step's coefficients divide by 1 - alphabar_t, which a float32 alphabar_t near 1
  knows only to half an ulp at 1 (3e-8): relative 3e-8 / (1 - alphabar_t), 3e-4 at the first
  step (1 - alphabar_1 = 1e-4). coursekit computes them in float64 and rounds once, so a
  correct float32 step differs from it by up to 2e-4 of the image's scale (measured at
  t = 1, also with every operation in float64: the float32 alphabar is the cause). The
  allowance is 3e-7 / (1 - alphabar_t) of the scale plus 1e-5: 3e-3 at t = 0, 1.4e-3 at
  t = 1, 1.7e-4 at t = 9, 1e-5 from t = 300 on; correct solutions use at most a seventh of
  it. The mistakes change the step by 1e-2 or more where they show.
* SDEdit runs with coursekit's step passed in, so the student's loop does coursekit's
  operations: the solutions written differently give coursekit's edits bit for bit; 1e-4 of
  the scale allows the noising written in another order or precision, carried through up to
  1000 steps.
* Statistics of fresh noise (the noised images' std, the kept pixels' level): 5 standard
  errors of the sample's mean or std, written at each check.
"""
from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from coursekit.grading.checks import (
    StudentTimeout,
    Threshold,
    assert_close,
    call_student,
    forbid,
    hidden_tests,
    largest,
    one_thread_checks,
    quiet,
    require_keys,
    seeded,
    tensor_output,
)
from coursekit.models import ddpm as ddpm_module
from coursekit.models import sdedit as sdedit_module
from coursekit.models.ddpm import IdealDenoiser
from coursekit.nn import diffusion
from coursekit.nn.diffusion import Schedule, p_sample
from coursekit.nn.diffusion import q_sample as reference_q_sample

# ------------------------------------------------------------------------------------------
# What each part may not call: coursekit's own implementation of that part.
SCHEDULE_REFERENCE = ((Schedule, "__init__"),)
Q_SAMPLE_REFERENCE = ((diffusion, "q_sample"),)
STEP_REFERENCE = ((diffusion, "p_sample"), (diffusion, "posterior"), (diffusion, "predict_x0"),
                  (diffusion, "ddim_step"), (diffusion, "reverse_step"))
# sdedit is wrapped by torch.no_grad (its code cannot be swapped): it is refused through
# timesteps and reverse_step, which it calls (a student's loop needs neither: it gets `step`).
SDEDIT_REFERENCE = ((sdedit_module, "sdedit"), (diffusion, "timesteps"),
                    (diffusion, "reverse_step"), (ddpm_module.DDPM, "denoise"),
                    (ddpm_module.DDPM, "translate"))

#: What ``make_schedule`` returns.
SCHEDULE_KEYS = ("alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                 "sqrt_one_minus_alphas_cumprod")

# float64 products and square roots in any order: ~1e-13; hand values are exact decimals.
HAND64_ATOL = 1e-12
# coursekit's float32 buffers, rounded once from float64: 6e-8 relative.
BUFFER_RTOL = 1e-6
# Images of order 1 from the same float32 operations in another order.
IMAGE_ATOL, IMAGE_RTOL = 1e-6, 1e-5
# An SDEdit run with coursekit's step: float32 sums over hundreds of steps.
RUN_ATOL = 1e-4
# The kept pixels after masked SDEdit: the guide's, up to the rounding of a blend written as
# x + mask (known - x) (an ulp of values below 1 is 1.2e-7); noising them at the last step
# changes them by ~0.01.
KEPT_ATOL = 1e-6


def course_schedule() -> Schedule:
    """The DDPM schedule of the course: T = 1000, betas 1e-4 .. 0.02 (Ho et al. 2020)."""
    return Schedule()


def reference_step(schedule: Schedule, x: Tensor, eps: Tensor, t: int, noise: Tensor) -> Tensor:
    """coursekit's ancestral step (``p_sample``) with the notebook's signature: what the checks
    of SDEdit pass as ``step``."""
    return p_sample(schedule, eps, x, torch.full((len(x),), int(t), dtype=torch.long), noise)


class EpsModel:
    """A noise predictor with the notebook's signature ``eps_model(x, t)`` (t an int, the
    0-based step of the whole batch) around coursekit's :class:`IdealDenoiser` of ``train``:
    deterministic, and every SDEdit output is one of the training images (far from a random
    guide, whatever the noise). Records every call (``calls``: the steps; ``inputs``: copies of
    x) when ``record``."""

    def __init__(self, train: Tensor, schedule: Schedule, record: bool = False):
        self.net = IdealDenoiser(train, schedule)
        self.schedule = schedule
        self.record = record
        self.calls: list[int] = []
        self.inputs: list[Tensor] = []

    def predict(self, x: Tensor, t: int) -> Tensor:
        return self.net(x, torch.full((len(x),), t, dtype=torch.long))

    def __call__(self, x: Tensor, t) -> Tensor:
        t = int(t)
        if self.record:
            self.calls.append(t)
            self.inputs.append(x.detach().clone())
        with torch.no_grad():
            return self.predict(x, t)


class GaussianEps(EpsModel):
    """A smooth stand-in for a trained network: the ideal noise prediction for Gaussian data
    N(mean, std^2 I), eps* = sqrt(1 - abar) (x - sqrt(abar) mean) / (abar std^2 + 1 - abar),
    applied to x with each pixel averaged half and half with its 3x3 neighbourhood (so that,
    as in a network, the pixels see their neighbours: a generated region sees the kept one
    beside it). Linear in x (no rounding is amplified, unlike the finite set's softmax), and it
    does not memorise: each SDEdit cycle moves an image only part of the way to ``mean``, so
    the output depends on where each cycle starts, on the noise level and on every noise
    draw."""

    def __init__(self, mean: Tensor, schedule: Schedule, std: float = 0.3, record: bool = False):
        self.mean, self.std = mean, std
        self.schedule = schedule
        self.record = record
        self.calls, self.inputs = [], []

    def predict(self, x: Tensor, t: int) -> Tensor:
        abar = self.schedule.alphas_cumprod[t]
        mixed = 0.5 * x + 0.5 * F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        return (1 - abar).sqrt() * (mixed - abar.sqrt() * self.mean) / (abar * self.std**2 + 1 - abar)


class RecordingStep:
    """``reference_step`` that records the steps it is called at and what it returns."""

    def __init__(self):
        self.calls: list[int] = []
        self.outputs: list[Tensor] = []

    def __call__(self, schedule, x, eps, t, noise):
        out = reference_step(schedule, x, eps, t, noise)
        self.calls.append(int(t))
        self.outputs.append(out.clone())
        return out


def _as_model(eps_model: EpsModel, schedule: Schedule, channels: int) -> SimpleNamespace:
    """What coursekit's ``sdedit`` needs of a DDPM: its schedule, device and ``eps``."""
    return SimpleNamespace(config=SimpleNamespace(channels=channels), schedule=schedule,
                           device=torch.device("cpu"), eps=eps_model)


def _images(shape: Sequence[int], seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.tanh(2 * torch.randn(*shape, generator=gen))


def _scale_close(got: Tensor, expected: Tensor, what: str, atol: float = IMAGE_ATOL,
                 rtol: float = IMAGE_RTOL) -> None:
    assert_close(got, expected, atol=atol * max(1.0, largest(expected)), rtol=rtol, what=what)


# ------------------------------------------------------------------------------------------
# Part 1: the schedule
def _schedule(make_schedule: Callable, betas: Tensor) -> dict:
    out = call_student(make_schedule, betas.clone(), forbidden=SCHEDULE_REFERENCE,
                       part="the schedule")
    out = require_keys(out, SCHEDULE_KEYS, "make_schedule(betas)")
    for key in SCHEDULE_KEYS:
        tensor_output(out[key], f"make_schedule(betas)[{key!r}]", tuple(betas.shape))
        if out[key].dtype != torch.float64:
            raise AssertionError(
                f"make_schedule(betas)[{key!r}] is {out[key].dtype}; keep the betas' float64 "
                f"(a float32 product of 1000 factors drifts by ~1e-5, and alphabar_T is 4e-5)")
    return out


def check_schedule_hand_value(make_schedule: Callable, *, betas: Sequence[float],
                              expected: dict[str, Sequence[float]]) -> None:
    """The schedule of a few betas given by hand equals the notebook's hand-computed values
    (to 1e-12: float64). Catches sqrt(alpha_t) = sqrt(1 - beta_t) for sqrt(alphabar_t),
    alphabar off by one step (the product up to t - 1), 1 - sum(beta) for the product,
    alphabar_{t-1} not starting at 1, 1 - sqrt(alphabar) for sqrt(1 - alphabar)."""
    b = torch.tensor(betas, dtype=torch.float64)
    out = _schedule(make_schedule, b)
    for key in SCHEDULE_KEYS:
        assert_close(out[key], torch.tensor(expected[key], dtype=torch.float64),
                     atol=HAND64_ATOL, rtol=0.0,
                     what=f"make_schedule(betas={list(betas)})[{key!r}], vs. the hand-computed "
                          f"values")


def check_schedule_matches_coursekit(make_schedule: Callable, *, num_timesteps: int = 1000,
                                     beta_start: float = 1e-4, beta_end: float = 0.02) -> None:
    """For the linear betas of ``Schedule(num_timesteps, beta_start, beta_end)`` (in float64),
    alphabar and alphabar_{t-1} equal coursekit's buffers (float32, rounded once: 1e-6
    relative), and the square roots those of coursekit's alphabar: sqrt(alphabar) to 1e-6
    relative, sqrt(1 - alphabar) to 1e-5 absolute (1 - alphabar_t of a float32 alphabar_t is
    off by up to 3e-8, so its root by up to 3e-8 / (2 sqrt(1 - alphabar_t)) <= 1.5e-6 at t = 1).
    Catches what the hand check catches, on the course's 1000 steps (where 1 - sum(beta) goes
    negative)."""
    reference = Schedule(num_timesteps, beta_start, beta_end)
    betas = torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)
    out = _schedule(make_schedule, betas)
    what = f"make_schedule on the linear betas {beta_start:g}..{beta_end:g}, T = {num_timesteps}"
    abar = reference.alphas_cumprod.double()
    for key, want, atol, rtol in (
            ("alphas_cumprod", abar, 0.0, BUFFER_RTOL),
            ("alphas_cumprod_prev", reference.alphas_cumprod_prev.double(), 0.0, BUFFER_RTOL),
            ("sqrt_alphas_cumprod", abar.sqrt(), 0.0, BUFFER_RTOL),
            ("sqrt_one_minus_alphas_cumprod", (1 - abar).sqrt(), 1e-5, 0.0)):
        assert_close(out[key], want, atol=atol, rtol=rtol,
                     what=f"{what}: {key!r}, vs. coursekit's Schedule")


def check_schedule_properties(make_schedule: Callable, *, num_timesteps: int = 50,
                              seed: int = 0) -> None:
    """For random betas in (0.001, 0.3): alphabar_1 = 1 - beta_1 and each alphabar is the one
    before times 1 - beta_t (so alphabar decreases), alphabar_{t-1} is 1 and then alphabar
    one step behind, and the square roots square back to alphabar and 1 - alphabar (all to
    1e-12 relative: float64). Names the mistake where it is a known one."""
    gen = torch.Generator().manual_seed(seed)
    betas = 0.001 + 0.299 * torch.rand(num_timesteps, generator=gen, dtype=torch.float64)
    out = _schedule(make_schedule, betas)
    abar, prev = out["alphas_cumprod"], out["alphas_cumprod_prev"]
    what = f"make_schedule on {num_timesteps} random betas"
    if abs(float(abar[0]) - float(1 - betas[0])) > 1e-12:
        hint = (" (alphabar_1 is 1: the product stops one step early)"
                if abs(float(abar[0]) - 1) < 1e-12 else "")
        raise AssertionError(f"{what}: alphabar_1 should be 1 - beta_1 = {float(1 - betas[0]):.6f}, "
                             f"got {float(abar[0]):.6f}{hint}")
    ratio = abar[1:] / abar[:-1]
    if not torch.allclose(ratio, 1 - betas[1:], rtol=1e-12, atol=0):
        raise AssertionError(f"{what}: alphabar_t / alphabar_(t-1) should be 1 - beta_t at every "
                             f"step (a cumulative product of 1 - beta)")
    if float(prev[0]) != 1.0 or not torch.allclose(prev[1:], abar[:-1], rtol=1e-12, atol=0):
        raise AssertionError(f"{what}: alphas_cumprod_prev should be 1 (before the first step) "
                             f"followed by alphas_cumprod[:-1]")
    for key, squared in (("sqrt_alphas_cumprod", abar), ("sqrt_one_minus_alphas_cumprod", 1 - abar)):
        assert_close(out[key] ** 2, squared, atol=HAND64_ATOL, rtol=1e-12,
                     what=f"{what}: {key!r} squared")


def check_schedule_runs(make_schedule: Callable) -> None:
    """make_schedule returns its four float64 tensors for two betas."""
    _schedule(make_schedule, torch.tensor([0.1, 0.2], dtype=torch.float64))


# ------------------------------------------------------------------------------------------
# Part 2: q_sample, the noising in one draw (Eq. 4)
def _q_sample(fn: Callable, schedule: Schedule, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
    out = call_student(fn, schedule, x0.clone(), t.clone(), noise.clone(),
                       forbidden=Q_SAMPLE_REFERENCE, part="q_sample")
    return tensor_output(out, "q_sample(schedule, x0, t, noise)", tuple(x0.shape))


def check_q_sample_hand_value(q_sample: Callable, *, betas: tuple[float, float],
                              x0: Sequence, t: Sequence[int], noise: Sequence,
                              expected: Sequence) -> None:
    """On ``Schedule(2, *betas)`` (two steps: the notebook's alphabar 0.64 and 0.36) the noised
    images equal the hand-computed ones (float32 of exact decimals: 1e-6). Catches
    sqrt(1 - beta_t) for sqrt(alphabar_t), alphabar_{t-1} (off by one), the variance
    1 - alphabar for its square root, one step for the whole batch."""
    schedule = Schedule(2, *betas)
    f = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    got = _q_sample(q_sample, schedule, f(x0), torch.tensor(t, dtype=torch.long), f(noise))
    assert_close(got, f(expected), atol=IMAGE_ATOL, rtol=IMAGE_RTOL,
                 what=f"q_sample at steps t = {list(t)} (0-based) of the two-step schedule, vs. "
                      f"the hand-computed values")




def check_q_sample_matches_coursekit(q_sample: Callable, *, batch: int = 4, channels: int = 3,
                                     size: int = 8, steps: Sequence[int] | None = None,
                                     seed: int = 0) -> None:
    """On the course schedule (T = 1000), random images noised at a step of their own each
    (``steps``; default 0, 999 and random ones) equal coursekit's q_sample given the same
    noise (1e-6 of the scale). Catches what the hand check catches, and one step taken for the
    whole batch."""
    schedule = course_schedule()
    gen = torch.Generator().manual_seed(seed)
    x0 = _images((batch, channels, size, size), seed + 1)
    noise = torch.randn(batch, channels, size, size, generator=gen)
    if steps is None:
        steps = [0, 999, *torch.randint(1, 999, (batch,), generator=gen).tolist()][:batch]
    t = torch.tensor(list(steps), dtype=torch.long)
    expected = reference_q_sample(schedule, x0, t, noise)
    got = _q_sample(q_sample, schedule, x0, t, noise)
    for i, step in enumerate(t.tolist()):
        _scale_close(got[i], expected[i],
                     f"q_sample of image {i} (of {batch}) at step t = {step} (0-based) of the "
                     f"course schedule, vs. coursekit's")


def check_q_sample_statistics(q_sample: Callable, *, steps: Sequence[int] = (0, 9, 99, 499, 999),
                              side: int = 128, seed: int = 0) -> None:
    """Images of one grey value each, noised with fresh N(0, I) noise at the given steps: each
    one's pixels have the mean sqrt(alphabar_t) x0 and the standard deviation
    sqrt(1 - alphabar_t) of q(x_t | x_0) = N(sqrt(alphabar_t) x0, (1 - alphabar_t) I) (Eq. 4).
    With side**2 = 16384 pixels, the sample's mean has a standard error of
    sqrt(1 - alphabar_t) / 128 and its standard deviation of sqrt(1 - alphabar_t) / 181: the
    allowance is 5 of them. Catches the variance for the standard deviation (std 1 - alphabar),
    sqrt(1 - beta_t) for sqrt(alphabar_t) (the mean), alphabar_{t-1} (no noise at all at
    t = 0; 9 % too little at t = 9)."""
    schedule = course_schedule()
    n = len(steps)
    grey = torch.linspace(-0.8, 0.8, n)
    x0 = grey.view(n, 1, 1, 1).expand(n, 1, side, side).clone()
    noise = torch.randn(n, 1, side, side, generator=torch.Generator().manual_seed(seed))
    got = _q_sample(q_sample, schedule, x0, torch.tensor(list(steps), dtype=torch.long), noise)
    pixels = side * side
    for i, t in enumerate(steps):
        abar = float(schedule.alphas_cumprod[t])
        std = math.sqrt(1 - abar)
        mean_want, got_mean = math.sqrt(abar) * float(grey[i]), float(got[i].mean())
        got_std = float(got[i].std())
        what = (f"q_sample of an image of grey value {float(grey[i]):.1f} at step t = {t} "
                f"(alphabar = {abar:.4g})")
        if abs(got_mean - mean_want) > 5 * std / math.sqrt(pixels) + 1e-6:
            raise AssertionError(f"{what}: its pixels' mean is {got_mean:.4f}; q(x_t | x_0) has "
                                 f"the mean sqrt(alphabar_t) x0 = {mean_want:.4f}")
        if abs(got_std - std) > 5 * std / math.sqrt(2 * pixels) + 1e-6:
            hint = (" (that is 1 - alphabar_t, the variance: the noise is scaled by its square "
                    "root)" if abs(got_std - (1 - abar)) < 0.05 * std else "")
            raise AssertionError(f"{what}: its pixels' standard deviation is {got_std:.5f}; "
                                 f"q(x_t | x_0) has sqrt(1 - alphabar_t) = {std:.5f}{hint}")


def check_q_sample_runs(q_sample: Callable) -> None:
    """q_sample returns an image for one step of the course schedule."""
    _q_sample(q_sample, course_schedule(), torch.zeros(1, 1, 2, 2), torch.tensor([3]),
              torch.zeros(1, 1, 2, 2))


# ------------------------------------------------------------------------------------------
# Part 3: one reverse step (Algorithm 2, line 4, with Eq. 7's posterior)
def _step(fn: Callable, schedule: Schedule, x: Tensor, eps: Tensor, t: int,
          noise: Tensor) -> Tensor:
    out = call_student(fn, schedule, x.clone(), eps.clone(), t, noise.clone(),
                       forbidden=STEP_REFERENCE, part="the reverse step")
    return tensor_output(out, f"reverse_step(schedule, x, eps, t={t}, noise)", tuple(x.shape))


def step_tolerance(schedule: Schedule, t: int) -> float:
    """The allowance, relative to the image's scale, for a float32 step at ``t`` against
    coursekit's float64 coefficients: 1e-5 plus 3e-7 / (1 - alphabar_t) (see the module
    docstring: 10x the rounding of 1 - alphabar_t of a float32 alphabar_t)."""
    return 1e-5 + 3e-7 / (1 - float(schedule.alphas_cumprod.double()[t]))


def check_reverse_step_hand_value(reverse_step: Callable, *, betas: tuple[float, float],
                                  x: Sequence, eps: Sequence, t: int, noise: Sequence,
                                  expected: Sequence) -> None:
    """On ``Schedule(2, *betas)`` (the notebook's two steps), one step from step ``t`` equals
    the hand-computed image (1e-6: float32 of exact decimals). Catches the variance where the
    standard deviation belongs, alphabar_t where alphabar_{t-1} belongs, alphabar_{t-1} read as
    ``alphas_cumprod[t - 1]`` (at t = 0 that is alphabar_T), the noise prediction added instead
    of subtracted, sigma^2 = beta_t."""
    schedule = Schedule(2, *betas)
    f = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    got = _step(reverse_step, schedule, f(x), f(eps), t, f(noise))
    assert_close(got, f(expected), atol=IMAGE_ATOL, rtol=IMAGE_RTOL,
                 what=f"reverse_step from step t = {t} (0-based) of the two-step schedule, vs. "
                      f"the hand-computed image")


def _step_case(schedule: Schedule, t: int, shape: Sequence[int], seed: int):
    """x at step t (clean images noised by Eq. 4), a noise prediction near the true noise (off
    by 0.3 N(0, I)), and the step's own noise."""
    gen = torch.Generator().manual_seed(seed)
    x0 = _images(shape, seed + 1)
    true_noise = torch.randn(*shape, generator=gen)
    x = reference_q_sample(schedule, x0, torch.full((shape[0],), t, dtype=torch.long), true_noise)
    eps = true_noise + 0.3 * torch.randn(*shape, generator=gen)
    return x, eps, torch.randn(*shape, generator=gen)


def check_reverse_step_matches_coursekit(reverse_step: Callable, *,
                                         steps: Sequence[int] = (999, 500, 50, 9, 1, 0),
                                         batch: int = 3, channels: int = 3, size: int = 8,
                                         seed: int = 0) -> None:
    """On the course schedule, at each of ``steps``, one step of noised random images with an
    imperfect noise prediction equals coursekit's ancestral step (``p_sample``: the posterior
    mean of Eq. 7 at x0 estimated from eps, plus sqrt(beta~_t) noise, none at t = 0), within
    :func:`step_tolerance`. Catches every mistake of the hand check, on 1000 steps, and x0
    clipped to [-1, 1] (DDPM's sampler from pure noise clips; SDEdit's step does not, and
    the estimate leaves that range at large t)."""
    schedule = course_schedule()
    for k, t in enumerate(steps):
        x, eps, noise = _step_case(schedule, t, (batch, channels, size, size), seed + 10 * k)
        expected = p_sample(schedule, eps, x, torch.full((batch,), t, dtype=torch.long), noise)
        got = _step(reverse_step, schedule, x, eps, t, noise)
        _scale_close(got, expected, f"reverse_step from step t = {t} (0-based) of the course "
                                    f"schedule, vs. coursekit's ancestral step",
                     atol=step_tolerance(schedule, t), rtol=step_tolerance(schedule, t))


def check_reverse_step_noise(reverse_step: Callable, *, steps: Sequence[int] = (0, 1, 10, 300, 999),
                             batch: int = 2, channels: int = 3, size: int = 16,
                             seed: int = 0) -> None:
    """How the step's noise enters: the step with ``noise`` minus the step with zero noise is
    sigma_t noise with sigma_t = sqrt(beta~_t) (coursekit's posterior variance; the
    ``fixedsmall`` choice) at every t > 0, and exactly nothing at t = 0 (the last step returns
    the mean). Names the mistake: the variance beta~_t where its root belongs, sqrt(beta_t),
    noise added at the last step."""
    schedule = course_schedule()
    for k, t in enumerate(steps):
        x, eps, noise = _step_case(schedule, t, (batch, channels, size, size), seed + 10 * k)
        difference = (_step(reverse_step, schedule, x, eps, t, noise)
                      - _step(reverse_step, schedule, x, eps, t, torch.zeros_like(noise)))
        variance = float(schedule.posterior_variance.double()[t])
        coefficient = float((difference * noise).sum() / (noise * noise).sum())
        if t == 0:
            if largest(difference) > 1e-6 * max(1.0, largest(x)):
                raise AssertionError(
                    f"at t = 0 (the last step) the result depends on the noise (it enters "
                    f"with a factor {coefficient:.4g}): the last step returns the mean, with no "
                    f"noise added")
            continue
        sigma = math.sqrt(variance)
        tol = step_tolerance(schedule, t)
        if (largest(difference - sigma * noise) > tol * max(1.0, largest(x))
                and abs(coefficient - sigma) > tol * sigma):
            known = {"the variance beta~_t itself (use its square root)": variance,
                     "sqrt(beta_t) (the step uses the posterior's beta~_t)":
                         math.sqrt(float(schedule.betas.double()[t]))}
            hint = next((f": that is {name}" for name, value in known.items()
                         if abs(coefficient - value) < 1e-3 * value), "")
            raise AssertionError(
                f"at step t = {t} the noise enters with a factor {coefficient:.6g}; it should "
                f"be sigma_t = sqrt(beta~_t) = {sigma:.6g}{hint}")


def check_reverse_step_runs(reverse_step: Callable) -> None:
    """reverse_step returns an image for a step of the course schedule."""
    z = torch.zeros(1, 1, 2, 2)
    _step(reverse_step, course_schedule(), z, z, 5, z)


# ------------------------------------------------------------------------------------------
# Part 4: SDEdit with repeats (Meng et al. 2022, Algorithm 1 and the code's K)
def _sdedit(fn: Callable, eps_model: Callable, guide: Tensor, t0: float, schedule: Schedule,
            step: Callable, repeats: int, generator: torch.Generator,
            seconds: float | None = None) -> Tensor:
    out = call_student(fn, eps_model, guide.clone(), t0, schedule, step, repeats=repeats,
                       generator=generator, forbidden=SDEDIT_REFERENCE, part="SDEdit",
                       seconds=seconds)
    return tensor_output(out, f"sdedit(eps_model, guide, t0={t0}, schedule, step, "
                              f"repeats={repeats})", tuple(guide.shape))


def _case(batch: int, channels: int, size: int, seed: int, train: int = 4):
    """Training images of the ideal denoiser and guides (random images, so that every output
    is far from its guide), and the course schedule."""
    return (_images((train, channels, size, size), seed), _images((batch, channels, size, size),
                                                                   seed + 1), course_schedule())


_SAME_NOISE = ("(coursekit's SDEdit draws every noise with torch.randn(guide.shape, "
               "generator=generator), in the order it is used: the noising of a cycle first, "
               "then one for each step)")


def check_sdedit_matches_coursekit(sdedit: Callable, *, t0: float = 0.05, repeats: int = 2,
                                   batch: int = 2, channels: int = 3, size: int = 8,
                                   seed: int = 0) -> None:
    """With the ideal noise prediction of Gaussian data (:class:`GaussianEps`) and coursekit's
    ancestral step as ``step``, the student's SDEdit of random guides equals coursekit's ``sdedit`` (every step, K =
    ``repeats``) given a generator with the same seed (1e-4 of the scale: float32 sums over
    the run). Catches a cycle that re-noises the guide instead of the previous output, a start
    from pure noise, the repeats ignored, the noise level off by one step, denoising from
    step T - 1."""
    train, guide, schedule = _case(batch, channels, size, seed, train=1)
    eps_model = GaussianEps(train[0], schedule)
    model = _as_model(eps_model, schedule, channels)
    expected = sdedit_module.sdedit(model, guide, t0, repeats,
                                    generator=torch.Generator().manual_seed(seed + 2))
    got = _sdedit(sdedit, eps_model, guide, t0, schedule, reference_step, repeats,
                  torch.Generator().manual_seed(seed + 2))
    what = (f"sdedit of {batch} random guides, t0 = {t0}, repeats = {repeats}, with the ideal "
            f"noise prediction of Gaussian data, vs. coursekit's SDEdit with the same generator")
    if repeats > 1 and got.shape == expected.shape:
        one = sdedit_module.sdedit(model, guide, t0, 1,
                                   generator=torch.Generator().manual_seed(seed + 2))
        if torch.allclose(got, one, atol=RUN_ATOL * max(1.0, largest(one)), rtol=1e-4):
            raise AssertionError(f"{what}: yours equals one cycle: run `repeats` cycles")
    try:
        _scale_close(got, expected, what, atol=RUN_ATOL, rtol=1e-4)
    except AssertionError as error:
        raise AssertionError(f"{error} {_SAME_NOISE}") from None


def _standard_normal(z: Tensor, what: str) -> None:
    """``z`` (thousands of values) looks like a sample of N(0, 1): its std within 0.05 of 1 and
    its mean within 0.07 of 0 (6144 draws: 5 standard errors are 0.045 and 0.064)."""
    std, mean = float(z.std()), float(z.mean())
    if abs(std - 1) > 0.05 or abs(mean) > 0.07:
        raise AssertionError(f"{what}: (x - sqrt(alphabar) image) / sqrt(1 - alphabar) should be "
                             f"N(0, 1) noise; it has mean {mean:.3f} and std {std:.3f}")


def check_sdedit_calls(sdedit: Callable, *, t0: float = 0.05, repeats: int = 2, batch: int = 32,
                       size: int = 8, seed: int = 0) -> None:
    """Spied on: ``eps_model`` and ``step`` are called at steps n - 1, ..., 0 (n =
    schedule.index(t0)) in every one of the ``repeats`` cycles, the step with the noise
    prediction of the same x, and the denoiser's first input is the guide noised to step
    n - 1: (x - sqrt(alphabar) guide) / sqrt(1 - alphabar) is N(0, 1) noise (6144 values:
    std within 0.05 of 1). The result is the last step's output. Catches a start from pure
    noise, the noise level off by one step (with t0 = 0.002: 2 steps, the std off by 28 %),
    the repeats ignored, denoising from step T - 1, a step skipped."""
    train, guide, schedule = _case(batch, 3, size, seed)
    eps_model, step = EpsModel(train, schedule, record=True), RecordingStep()
    out = _sdedit(sdedit, eps_model, guide, t0, schedule, step, repeats,
                  torch.Generator().manual_seed(seed + 2))
    n = schedule.index(t0)
    wanted = list(range(n - 1, -1, -1)) * repeats
    what = f"sdedit with t0 = {t0} (n = {n} steps) and repeats = {repeats}"
    for name, calls in (("eps_model", eps_model.calls), ("step", step.calls)):
        if calls != wanted:
            shown = calls if len(calls) <= 12 else f"{calls[:6]} ... {calls[-3:]} ({len(calls)} calls)"
            raise AssertionError(f"{what}: {name} was called at the steps {shown}; expected "
                                 f"{n - 1}, {n - 2}, ..., 0 in each of the {repeats} cycles "
                                 f"({n * repeats} calls)")
    abar = schedule.alphas_cumprod[n - 1]
    _standard_normal((eps_model.inputs[0] - abar.sqrt() * guide) / (1 - abar).sqrt(),
                     f"{what}: the denoiser's first input, against the guide at step {n - 1}")
    if not torch.equal(out, step.outputs[-1]):
        raise AssertionError(f"{what}: the result should be the output of the last step")


def check_sdedit_repeats_renoise_the_output(sdedit: Callable, *, t0: float = 0.05,
                                            repeats: int = 3, batch: int = 32, size: int = 8,
                                            seed: int = 0) -> None:
    """Spied on: each cycle after the first starts from the *previous cycle's output* noised to
    step n - 1, not from the guide: at the denoiser's first call of cycle k,
    (x - sqrt(alphabar) output_{k-1}) / sqrt(1 - alphabar) is N(0, 1) noise (std within 0.05
    of 1). With the ideal denoiser the first cycle's output is a training image, far from the
    guide, so re-noising the guide makes that std ~10. Catches each cycle re-noising the
    original guide, a cycle from pure noise, the repeats ignored."""
    train, guide, schedule = _case(batch, 3, size, seed)
    eps_model, step = EpsModel(train, schedule, record=True), RecordingStep()
    _sdedit(sdedit, eps_model, guide, t0, schedule, step, repeats,
            torch.Generator().manual_seed(seed + 2))
    n = schedule.index(t0)
    what = f"sdedit with t0 = {t0} (n = {n} steps) and repeats = {repeats}"
    if len(eps_model.calls) != n * repeats or len(step.outputs) != n * repeats:
        raise AssertionError(f"{what}: the denoiser was called {len(eps_model.calls)} times; "
                             f"expected n = {n} per cycle, {n * repeats} in all")
    abar = schedule.alphas_cumprod[n - 1]
    for k in range(1, repeats):
        previous = step.outputs[k * n - 1]
        _standard_normal((eps_model.inputs[k * n] - abar.sqrt() * previous) / (1 - abar).sqrt(),
                         f"{what}: the first input of cycle {k + 1}, against cycle {k}'s output "
                         f"at step {n - 1} (each cycle re-noises the previous output, not the "
                         f"guide)")


#: The pass mark of SDEdit of stroke paintings with the ideal denoiser of their photos.
PHOTOS = Threshold(
    "own_photo", "the fraction of edits (8 stroke paintings, t0 = 0.3, seeds 0..2) whose nearest "
    "photo is the painting's own", 0.75, higher_is_better=True, correct=(1.0, 1.0),
    measured="the solution, seeds 0..19 one at a time", untrained=(0.125, 0.5))
# (untrained: the guide ignored. A start from pure noise: 0.125 at every seed, always the same
# photo; denoising from step T - 1: 0.29 to 0.5 over groups of three seeds.)


def check_sdedit_photos(sdedit: Callable, *, t0: float = 0.3, repeats: int = 1, items: int = 8,
                        size: int = 32, seeds: Sequence[int] = (0, 1, 2),
                        min_rate: float = PHOTOS.limit, seconds: float = 60.0) -> float:
    """SDEdit moves a guide toward the photos: the stroke paintings ("A") of ``items``
    synthetic-strokes landscapes, edited with the ideal denoiser of their photos ("B") at
    ``t0``, must come out as the painting's own photo (the nearest of the photos) for at least
    ``min_rate`` of the edits over ``seeds`` (:data:`PHOTOS`: the measurements behind it).
    The ideal denoiser's edits are always one of its photos; noised to t0 = 0.3, a painting is
    still closest to its own. Returns the rate. Catches a start from pure noise (a random
    photo: chance is 1/8), denoising from step T - 1."""
    from coursekit.data.synthetic.strokes import SyntheticStrokes

    data = SyntheticStrokes("train", size=size, length=items)
    pairs = [data[i] for i in range(items)]
    paintings = torch.stack([p["A"] for p in pairs])
    photos = torch.stack([p["B"] for p in pairs])
    schedule = course_schedule()
    eps_model = EpsModel(photos, schedule)
    hits = []
    for seed in seeds:
        out = _sdedit(sdedit, eps_model, paintings, t0, schedule, reference_step, repeats,
                      torch.Generator().manual_seed(seed), seconds=seconds)
        nearest = torch.cdist(out.detach().flatten(1).double(), photos.flatten(1).double()).argmin(1)
        hits.append((nearest == torch.arange(items)).double())
    rate = float(torch.cat(hits).mean())
    if not rate >= min_rate:
        raise AssertionError(
            f"SDEdit of {items} stroke paintings (t0 = {t0}) with the ideal denoiser of their "
            f"photos: {rate:.0%} of the edits came out as the painting's own photo; a correct "
            f"SDEdit reaches {min_rate:.0%} or more (measured {PHOTOS.correct[0]:.0%}; "
            f"{PHOTOS.untrained[0]:.1%} to {PHOTOS.untrained[1]:.0%} when the guide is ignored: "
            f"a start from pure noise, or denoising from step T - 1)")
    return rate


def check_sdedit_runs(sdedit: Callable) -> None:
    """sdedit returns an image for a two-step edit."""
    train, guide, schedule = _case(1, 3, 4, 0, train=1)
    _sdedit(sdedit, EpsModel(train, schedule), guide, 0.002, schedule, reference_step, 1,
            torch.Generator().manual_seed(0))


# ------------------------------------------------------------------------------------------
# Part 5: masked SDEdit (SDEdit's stroke-based editing: keep the known region)
def _masked(fn: Callable, eps_model: Callable, guide: Tensor, mask: Tensor, t0: float,
            schedule: Schedule, step: Callable, generator: torch.Generator) -> Tensor:
    out = call_student(fn, eps_model, guide.clone(), mask.clone(), t0, schedule, step,
                       generator=generator, forbidden=SDEDIT_REFERENCE, part="masked SDEdit")
    return tensor_output(out, f"masked_sdedit(eps_model, guide, mask, t0={t0}, schedule, step)",
                         tuple(guide.shape))


def make_mask(kind: str, batch: int, size: int, seed: int = 0) -> Tensor:
    """1 = keep. ``"left"``: the left half of every image, (1, 1, H, W); ``"square"``: a
    centred square generated, the border kept, (1, 1, H, W); ``"random"``: a random half of
    the pixels, one mask per image, (N, 1, H, W)."""
    if kind == "left":
        mask = torch.zeros(1, 1, size, size)
        mask[..., : size // 2] = 1
    elif kind == "square":
        mask = torch.ones(1, 1, size, size)
        mask[..., size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 0
    elif kind == "random":
        gen = torch.Generator().manual_seed(seed)
        mask = (torch.rand(batch, 1, size, size, generator=gen) < 0.5).float()
    else:
        raise ValueError(f"unknown mask kind {kind!r}")
    return mask


def check_masked_keeps_the_known_pixels(masked_sdedit: Callable, *, t0: float = 0.1,
                                        mask: str = "left", batch: int = 2, size: int = 8,
                                        seed: int = 0) -> None:
    """The kept pixels (mask 1) of the result are the guide's (the last step pastes the guide
    itself; to :data:`KEPT_ATOL`), and the generated ones moved away from the guide (the ideal denoiser's
    images are far from random guides: mean change > 0.1). Catches the mask inverted, the
    kept region noised at the last step instead of pasted."""
    train, guide, schedule = _case(batch, 3, size, seed)
    keep = make_mask(mask, batch, size, seed)
    out = _masked(masked_sdedit, EpsModel(train, schedule), guide, keep, t0, schedule,
                  reference_step, torch.Generator().manual_seed(seed + 2))
    kept = keep.expand_as(guide).bool()
    what = f"masked_sdedit (t0 = {t0}, {mask} mask)"
    gap = float((out[kept] - guide[kept]).abs().max())
    if not gap <= KEPT_ATOL:
        if float((out[~kept] - guide[~kept]).abs().max()) <= KEPT_ATOL:
            raise AssertionError(f"{what}: the pixels with mask = 0 are the guide's and those "
                                 f"with mask = 1 were generated: the mask is inverted (1 = keep)")
        raise AssertionError(f"{what}: the kept pixels (mask = 1) differ from the guide by up to "
                             f"{gap:.3g}; they should be the guide's (after the last step, paste "
                             f"the guide itself, not a noised one)")
    change = float((out[~kept] - guide[~kept]).abs().mean())
    if not change > 0.1:
        raise AssertionError(f"{what}: the generated pixels (mask = 0) changed by only "
                             f"{change:.3f} on average: they should be the model's, not the "
                             f"guide's")


def check_masked_matches_coursekit(masked_sdedit: Callable, *, t0: float = 0.05,
                                   mask: str = "left", batch: int = 2, size: int = 8,
                                   seed: int = 0) -> None:
    """With the ideal noise prediction of Gaussian data (:class:`GaussianEps`) and coursekit's
    step, the student's masked SDEdit equals coursekit's ``sdedit(..., mask=mask)`` (one cycle, every step) given a
    generator with the same seed (1e-4 of the scale). Catches the mask inverted, the kept
    region pasted clean at each step, noised at the last step, the mask applied only at the
    end. (The kept region noised to the level before each step changes the edit by less than
    that: :func:`check_masked_levels` catches it.)"""
    train, guide, schedule = _case(batch, 3, size, seed, train=1)
    keep = make_mask(mask, batch, size, seed)
    eps_model = GaussianEps(train[0], schedule)
    expected = sdedit_module.sdedit(_as_model(eps_model, schedule, 3), guide, t0, 1, mask=keep,
                                    generator=torch.Generator().manual_seed(seed + 2))
    got = _masked(masked_sdedit, eps_model, guide, keep, t0, schedule, reference_step,
                  torch.Generator().manual_seed(seed + 2))
    try:
        _scale_close(got, expected, f"masked_sdedit of {batch} random guides, t0 = {t0}, "
                                    f"{mask} mask, vs. coursekit's SDEdit with the same generator",
                     atol=RUN_ATOL, rtol=1e-4)
    except AssertionError as error:
        raise AssertionError(
            f"{error} (coursekit draws with torch.randn(guide.shape, generator=generator): the "
            f"noising first, then at each step the step's noise and, unless it was the last "
            f"step, the kept pixels' noise)") from None


def check_masked_levels(masked_sdedit: Callable, *, t0: float = 0.02, batch: int = 64,
                        size: int = 8, seed: int = 0) -> None:
    """Spied on: at every call of the denoiser, at step t, the kept pixels are the guide
    noised to that step's level: (x - sqrt(alphabar_t) guide) / sqrt(1 - alphabar_t) is
    N(0, 1) there (6144 values per call: std within 0.05 of 1, mean within 0.07 of 0). One
    step off changes the std by 6 % (t = 19) to 40 % (t = 1). Catches the kept region not
    re-noised (the clean guide pasted at every step), noised to the level before the step
    (SDEdit's code), the mask inverted, the mask applied only at the end."""
    train, guide, schedule = _case(batch, 3, size, seed)
    keep = make_mask("left", batch, size)
    eps_model = EpsModel(train, schedule, record=True)
    _masked(masked_sdedit, eps_model, guide, keep, t0, schedule, reference_step,
            torch.Generator().manual_seed(seed + 2))
    n = schedule.index(t0)
    if eps_model.calls != list(range(n - 1, -1, -1)):
        raise AssertionError(f"masked_sdedit with t0 = {t0}: the denoiser was called at the steps "
                             f"{eps_model.calls}; expected {n - 1}, ..., 0")
    half = size // 2
    for t, x in zip(eps_model.calls, eps_model.inputs):
        abar = schedule.alphas_cumprod[t]
        _standard_normal((x[..., :half] - abar.sqrt() * guide[..., :half]) / (1 - abar).sqrt(),
                         f"masked_sdedit with t0 = {t0}: the kept pixels the denoiser sees at "
                         f"step {t}, against the guide at that step's level")


def check_masked_runs(masked_sdedit: Callable) -> None:
    """masked_sdedit returns an image for a two-step edit."""
    train, guide, schedule = _case(1, 3, 4, 0, train=1)
    _masked(masked_sdedit, EpsModel(train, schedule), guide, make_mask("left", 1, 4), 0.002,
            schedule, reference_step, torch.Generator().manual_seed(0))


one_thread_checks(globals())  # see checks.one_thread

__all__ = [name for name in dir() if name.startswith("check_")] + [
    "EpsModel", "GaussianEps", "PHOTOS", "Q_SAMPLE_REFERENCE", "RecordingStep", "SCHEDULE_KEYS",
    "SCHEDULE_REFERENCE", "SDEDIT_REFERENCE", "STEP_REFERENCE", "StudentTimeout",
    "course_schedule", "forbid", "hidden_tests", "make_mask", "quiet", "reference_step",
    "seeded", "step_tolerance",
]
