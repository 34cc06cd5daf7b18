"""Realistic mistakes in problem set 7 (SDEdit and the diffusion process), and correct solutions
written differently.

Used by tests/test_grading_ps7.py; what a mutant is, and how the submissions carry them:
tests/grading_mutants/common.py.
"""
from __future__ import annotations

from grading_mutants.common import Mutant
from grading_mutants.common import mutant as _m

ASSIGNMENT = "ps7_sdedit"

#: The graded cells of each part (grade_id of the solution cell -> its test cells).
PARTS: dict[str, tuple[str, ...]] = {
    "make_schedule": ("test_schedule_hand", "test_schedule_course", "hidden_schedule",
                      "hidden_schedule_properties"),
    "q_sample": ("test_q_hand", "test_q_course", "hidden_q", "hidden_q_statistics"),
    "reverse_step": ("test_step_hand", "test_step_course", "hidden_step", "hidden_step_noise"),
    "sdedit": ("test_sdedit_course", "test_sdedit_calls", "hidden_sdedit", "hidden_sdedit_repeats",
               "hidden_sdedit_photos"),
    "masked_sdedit": ("test_masked_keeps", "test_masked_course", "hidden_masked",
                      "hidden_masked_levels"),
}
_ALL = {part: set(cells) for part, cells in PARTS.items()}

_SCHEDULE_CUMPROD = "alphas_cumprod = torch.cumprod(alphas, dim=0)"
_SCHEDULE_PREV = ("alphas_cumprod_prev = torch.cat([torch.ones_like(alphas_cumprod[:1]), "
                  "alphas_cumprod[:-1]])")
_Q_ABAR = "abar = schedule.alphas_cumprod[t].view(-1, 1, 1, 1)"
_Q_OUT = "return torch.sqrt(abar) * x0 + torch.sqrt(1 - abar) * noise"
_STEP_ABARS = "abar, abar_prev = schedule.alphas_cumprod[t], schedule.alphas_cumprod_prev[t]"
_STEP_NOISE = "return mean + torch.sqrt(variance) * noise"
_SDEDIT_NOISING = "x = torch.sqrt(abar) * x + torch.sqrt(1 - abar) * noise"
_MASKED_BLEND = "x = mask * known + (1 - mask) * x"
_MASKED_LAST = """        else:  # after the last step: the guide itself
            known = guide
"""

MUTANTS: tuple[Mutant, ...] = (
    # ---- part 1: make_schedule
    _m("schedule_sqrt_alpha", "make_schedule", "sqrt(alpha_t) = sqrt(1 - beta_t), one step's "
       "factor, for sqrt(alphabar_t)", '"sqrt_alphas_cumprod": torch.sqrt(alphas_cumprod)',
       '"sqrt_alphas_cumprod": torch.sqrt(alphas)', _ALL["make_schedule"]),
    _m("schedule_alphabar_off_by_one", "make_schedule", "alphabar off by one: the product up to "
       "t - 1 (starting at 1)", _SCHEDULE_CUMPROD,
       "alphas_cumprod = torch.cat([torch.ones_like(alphas[:1]), torch.cumprod(alphas, dim=0)[:-1]])",
       _ALL["make_schedule"]),
    _m("schedule_one_minus_sum", "make_schedule", "1 - sum(beta), the first-order approximation, "
       "for the product", _SCHEDULE_CUMPROD, "alphas_cumprod = 1 - torch.cumsum(betas, dim=0)",
       _ALL["make_schedule"]),
    _m("schedule_prev_not_shifted", "make_schedule", "alphabar_{t-1} without the leading 1: "
       "alphabar itself", _SCHEDULE_PREV, "alphas_cumprod_prev = alphas_cumprod.clone()",
       _ALL["make_schedule"]),
    _m("schedule_one_minus_sqrt", "make_schedule", "1 - sqrt(alphabar) for sqrt(1 - alphabar)",
       '"sqrt_one_minus_alphas_cumprod": torch.sqrt(1 - alphas_cumprod)',
       '"sqrt_one_minus_alphas_cumprod": 1 - torch.sqrt(alphas_cumprod)', _ALL["make_schedule"]),
    _m("schedule_float32", "make_schedule", "the product in float32", _SCHEDULE_CUMPROD,
       "alphas_cumprod = torch.cumprod(alphas.float(), dim=0)", _ALL["make_schedule"]),
    # ---- part 2: q_sample
    _m("q_variance_for_std", "q_sample", "the noise scaled by the variance 1 - alphabar where the "
       "standard deviation belongs", _Q_OUT,
       "return torch.sqrt(abar) * x0 + (1 - abar) * noise", _ALL["q_sample"]),
    _m("q_alphabar_off_by_one", "q_sample", "alphabar one step behind (alphas_cumprod_prev: the "
       "level before step t)", _Q_ABAR, "abar = schedule.alphas_cumprod_prev[t].view(-1, 1, 1, 1)",
       _ALL["q_sample"]),
    _m("q_sqrt_one_minus_beta", "q_sample", "sqrt(1 - beta_t) for sqrt(alphabar_t): one step's "
       "noising (Eq. 2) instead of all of them (Eq. 4)", _Q_ABAR,
       "abar = (1 - schedule.betas[t]).view(-1, 1, 1, 1)", _ALL["q_sample"]),
    _m("q_one_step_for_the_batch", "q_sample", "the first image's step used for the whole batch",
       _Q_ABAR, "abar = schedule.alphas_cumprod[t[0]]", {"test_q_hand", "test_q_course",
                                                         "hidden_q", "hidden_q_statistics"}),
    _m("q_noise_sqrt_beta", "q_sample", "the noise scaled by sqrt(beta_t), one step's noise",
       _Q_OUT, "return torch.sqrt(abar) * x0 + torch.sqrt(schedule.betas[t].view(-1, 1, 1, 1)) * noise",
       _ALL["q_sample"]),
    # ---- part 3: reverse_step
    _m("step_variance_for_std", "reverse_step", "the noise scaled by the variance beta~_t where "
       "the standard deviation belongs", _STEP_NOISE, "return mean + variance * noise",
       _ALL["reverse_step"]),
    _m("step_prev_wraps_around", "reverse_step", "alphabar_{t-1} read as alphas_cumprod[t - 1]: "
       "at t = 0 that wraps around to alphabar_T (the last step's mean is wrong)",
       _STEP_ABARS, "abar, abar_prev = schedule.alphas_cumprod[t], schedule.alphas_cumprod[t - 1]",
       {"test_step_hand", "test_step_course", "hidden_step"}),
    _m("step_prev_as_current", "reverse_step", "alphabar_t where alphabar_{t-1} belongs (off by "
       "one)", _STEP_ABARS, "abar, abar_prev = schedule.alphas_cumprod[t], schedule.alphas_cumprod[t]",
       _ALL["reverse_step"]),
    _m("step_sigma_beta", "reverse_step", "sigma_t^2 = beta_t (the other choice of Ho et al.) "
       "instead of beta~_t", "    variance = (1 - abar_prev) / (1 - abar) * beta\n",
       "    variance = beta\n", _ALL["reverse_step"]),
    _m("step_eps_added", "reverse_step", "the noise prediction added to x_t instead of subtracted "
       "in x0's estimate", "x0 = (x - torch.sqrt(1 - abar) * eps)",
       "x0 = (x + torch.sqrt(1 - abar) * eps)", {"test_step_hand", "test_step_course", "hidden_step"}),
    _m("step_x0_clipped", "reverse_step", "x0's estimate clipped to [-1, 1] (what DDPM's sampler "
       "does from pure noise; SDEdit's step does not)",
       "    mean = (torch.sqrt(abar_prev)",
       "    x0 = x0.clamp(-1, 1)\n    mean = (torch.sqrt(abar_prev)",
       {"test_step_course", "hidden_step"}),
    # ---- part 4: sdedit
    _m("sdedit_renoises_the_guide", "sdedit", "each repeat re-noising the original guide instead "
       "of the previous output", _SDEDIT_NOISING,
       "x = torch.sqrt(abar) * guide + torch.sqrt(1 - abar) * noise",
       {"test_sdedit_course", "hidden_sdedit", "hidden_sdedit_repeats"}),
    _m("sdedit_from_pure_noise", "sdedit", "starting from pure noise (the guide thrown away)",
       _SDEDIT_NOISING, "x = noise", _ALL["sdedit"]),
    _m("sdedit_repeats_ignored", "sdedit", "one cycle whatever repeats says",
       "    for _ in range(repeats):\n", "    for _ in range(1):\n",
       {"test_sdedit_course", "test_sdedit_calls", "hidden_sdedit", "hidden_sdedit_repeats"}),
    _m("sdedit_level_off_by_one", "sdedit", "the guide noised to step n (alphas_cumprod[n]), one "
       "step beyond where the denoising starts", "abar = schedule.alphas_cumprod[n - 1]",
       "abar = schedule.alphas_cumprod[n]",
       {"test_sdedit_course", "hidden_sdedit", "hidden_sdedit_repeats"}),
    _m("sdedit_from_step_T", "sdedit", "denoised from step T - 1 though noised only to t0",
       "for t in range(n - 1, -1, -1):",
       "for t in range(schedule.num_timesteps - 1, -1, -1):", _ALL["sdedit"]),
    # ---- part 5: masked_sdedit
    _m("masked_inverted", "masked_sdedit", "the mask the wrong way round (0 = keep)",
       _MASKED_BLEND, "x = (1 - mask) * known + mask * x", _ALL["masked_sdedit"]),
    _m("masked_not_renoised", "masked_sdedit", "the known region not re-noised: the clean guide "
       "pasted after every step", "        if t > 0:  # the kept pixels at step t - 1, with fresh noise\n",
       "        if False:\n", {"test_masked_course", "hidden_masked", "hidden_masked_levels"}),
    _m("masked_noise_at_last_step", "masked_sdedit", "noise added at the last step: the kept "
       "region noised to step 0 instead of the guide pasted", _MASKED_LAST,
       """        else:
            abar_0 = schedule.alphas_cumprod[0]
            known = (torch.sqrt(abar_0) * guide
                     + torch.sqrt(1 - abar_0) * torch.randn(guide.shape, generator=generator))
""", {"test_masked_keeps", "test_masked_course", "hidden_masked"}),
    _m("masked_level_before_step", "masked_sdedit", "the kept region noised to the level before "
       "the step, t instead of t - 1 (SDEdit's code)", "abar_prev = schedule.alphas_cumprod_prev[t]",
       "abar_prev = schedule.alphas_cumprod[t]",
       # Its effect on the edit is below the reference checks' allowance (measured 1e-5 to 5e-4
       # of the scale): only the levels the denoiser sees show it.
       {"hidden_masked_levels"}),
    _m("masked_only_at_the_end", "masked_sdedit", "the guide pasted only after the last step",
       "        x = mask * known + (1 - mask) * x\n",
       "        if t == 0:\n            x = mask * known + (1 - mask) * x\n",
       {"test_masked_course", "hidden_masked", "hidden_masked_levels"}),
)


# ---- special submissions ----------------------------------------------------------------
#: Every part delegates to coursekit's own implementation, each through a name taken at the
#: top of the cell, before any check runs: each part must earn nothing.
USES_REFERENCE: dict[str, str] = {
    "make_schedule": '''
from coursekit.nn.diffusion import Schedule as ReferenceSchedule


def make_schedule(betas):
    s = ReferenceSchedule(len(betas), float(betas[0]), float(betas[-1]))
    abar, prev = s.alphas_cumprod.double(), s.alphas_cumprod_prev.double()
    return {"alphas_cumprod": abar, "alphas_cumprod_prev": prev,
            "sqrt_alphas_cumprod": abar.sqrt(), "sqrt_one_minus_alphas_cumprod": (1 - abar).sqrt()}
''',
    "q_sample": '''
from coursekit.nn.diffusion import q_sample as reference_q_sample


def q_sample(schedule, x0, t, noise):
    return reference_q_sample(schedule, x0, t, noise)
''',
    "reverse_step": '''
from coursekit.nn.diffusion import p_sample as reference_p_sample


def reverse_step(schedule, x, eps, t, noise):
    return reference_p_sample(schedule, eps, x, torch.full((len(x),), t), noise)
''',
    "sdedit": '''
from types import SimpleNamespace

from coursekit.models.sdedit import sdedit as reference_sdedit


def sdedit(eps_model, guide, t0, schedule, step, repeats=1, generator=None):
    model = SimpleNamespace(config=SimpleNamespace(channels=guide.shape[1]), schedule=schedule,
                            device=guide.device, eps=eps_model)
    return reference_sdedit(model, guide, t0, repeats, generator=generator)
''',
    "masked_sdedit": '''
from types import SimpleNamespace

from coursekit.models.sdedit import sdedit as reference_sdedit


def masked_sdedit(eps_model, guide, mask, t0, schedule, step, generator=None):
    model = SimpleNamespace(config=SimpleNamespace(channels=guide.shape[1]), schedule=schedule,
                            device=guide.device, eps=eps_model)
    return reference_sdedit(model, guide, t0, 1, mask=mask, generator=generator)
''',
}

#: One broken part per kind of failure; the other parts are the correct solution.
BROKEN: dict[str, str] = {
    # An exception: a name that does not exist.
    "masked_sdedit": '''
def masked_sdedit(eps_model, guide, mask, t0, schedule, step, generator=None):
    n = schedule.index(t0)
    x = guide
    for t in range(n - 1, -1, -1):
        x = step(schedule, x, eps_model(x, t), t, torch.randn(guide.shape, generator=generator))
        x = mask * guide + (1 - mask) * x
    return x_final  # NameError
''',
    # An endless loop: the step counter is never lowered.
    "sdedit": '''
def sdedit(eps_model, guide, t0, schedule, step, repeats=1, generator=None):
    n = schedule.index(t0)
    abar = schedule.alphas_cumprod[n - 1]
    x = guide
    for _ in range(repeats):
        x = torch.sqrt(abar) * x + torch.sqrt(1 - abar) * torch.randn(guide.shape, generator=generator)
        t = n - 1
        while t >= 0:
            x = step(schedule, x, eps_model(x, t), t, torch.randn(guide.shape, generator=generator))
    return x
''',
}
#: A flood of output: the correct schedule, printing 2000 lines on every call. Printing is not a
#: mistake: it must cost neither this part nor any other.
FLOOD = Mutant("schedule_flood", "make_schedule", "prints 2000 lines per call",
               "    alphas = 1 - betas\n",
               '    for i in range(2000):\n        print("debug", i)\n    alphas = 1 - betas\n',
               frozenset())


# ---- correct solutions written differently: each must get full marks ----------------------
EQUIVALENT: dict[str, dict[str, str]] = {
    "equivalent1": {
        # A Python loop over the steps, lists turned into tensors at the end.
        "make_schedule": '''
def make_schedule(betas):
    product, abar, prev = 1.0, [], []
    for beta in betas.tolist():
        prev.append(product)
        product = product * (1.0 - beta)
        abar.append(product)
    abar = torch.tensor(abar, dtype=torch.float64)
    return {"alphas_cumprod": abar, "alphas_cumprod_prev": torch.tensor(prev, dtype=torch.float64),
            "sqrt_alphas_cumprod": abar ** 0.5, "sqrt_one_minus_alphas_cumprod": (1 - abar) ** 0.5}
''',
        # gather and a reshape to x0's number of dimensions.
        "q_sample": '''
def q_sample(schedule, x0, t, noise):
    shape = (len(t),) + (1,) * (x0.dim() - 1)
    abar = schedule.alphas_cumprod.gather(0, t).reshape(shape)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise
''',
        # Eq. 11: the mean from eps directly; the noise multiplied by 0 at the last step.
        "reverse_step": '''
def reverse_step(schedule, x, eps, t, noise):
    beta = schedule.betas[t]
    abar = schedule.alphas_cumprod[t]
    abar_prev = schedule.alphas_cumprod[t - 1] if t > 0 else torch.ones_like(abar)
    mean = (x - beta / (1 - abar).sqrt() * eps) / (1 - beta).sqrt()
    sigma = (beta * (1 - abar_prev) / (1 - abar)).sqrt()
    return mean + (sigma * noise if t > 0 else 0 * noise)
''',
        # A while loop counting down, a helper that draws noise.
        "sdedit": '''
def sdedit(eps_model, guide, t0, schedule, step, repeats=1, generator=None):
    def draw():
        return torch.randn(guide.shape, generator=generator)

    n = schedule.index(t0)
    a = schedule.alphas_cumprod[n - 1]
    out = guide
    k = 0
    while k < repeats:
        out = a ** 0.5 * out + (1 - a) ** 0.5 * draw()
        t = n - 1
        while t >= 0:
            out = step(schedule, out, eps_model(out, t), t, draw())
            t -= 1
        k += 1
    return out
''',
        # torch.where on a boolean mask.
        "masked_sdedit": '''
def masked_sdedit(eps_model, guide, mask, t0, schedule, step, generator=None):
    keep = mask.bool()
    n = schedule.index(t0)
    abar = schedule.alphas_cumprod
    x = abar[n - 1].sqrt() * guide + (1 - abar[n - 1]).sqrt() * torch.randn(guide.shape, generator=generator)
    for t in reversed(range(n)):
        x = step(schedule, x, eps_model(x, t), t, torch.randn(guide.shape, generator=generator))
        if t == 0:
            known = guide
        else:
            z = torch.randn(guide.shape, generator=generator)
            known = abar[t - 1].sqrt() * guide + (1 - abar[t - 1]).sqrt() * z
        x = torch.where(keep, known, x)
    return x
''',
    },
    "equivalent2": {
        # Products in log space, the shifted copy by padding.
        "make_schedule": '''
import torch.nn.functional as F


def make_schedule(betas):
    abar = torch.exp(torch.cumsum(torch.log1p(-betas), dim=0))
    prev = F.pad(abar[:-1], (1, 0), value=1.0)
    return {"alphas_cumprod": abar, "alphas_cumprod_prev": prev,
            "sqrt_alphas_cumprod": abar.sqrt(), "sqrt_one_minus_alphas_cumprod": torch.sqrt(-torch.expm1(torch.log(abar)))}
''',
        # Indexing with None for the image dimensions, torch.addcmul.
        "q_sample": '''
def q_sample(schedule, x0, t, noise):
    abar = schedule.alphas_cumprod[t][:, None, None, None]
    return torch.addcmul(abar.sqrt() * x0, (1 - abar).sqrt(), noise)
''',
        # Everything in float64, the result cast back; the coefficients named as in the paper.
        "reverse_step": '''
def reverse_step(schedule, x, eps, t, noise):
    beta = schedule.betas.double()[t]
    abar = schedule.alphas_cumprod.double()[t]
    abar_prev = schedule.alphas_cumprod_prev.double()[t]
    x64, eps64 = x.double(), eps.double()
    x0_hat = (x64 - (1 - abar).sqrt() * eps64) / abar.sqrt()
    coef_x0 = abar_prev.sqrt() * beta / (1 - abar)
    coef_xt = (1 - beta).sqrt() * (1 - abar_prev) / (1 - abar)
    out = coef_x0 * x0_hat + coef_xt * x64
    if t > 0:
        out = out + (beta * (1 - abar_prev) / (1 - abar)).sqrt() * noise.double()
    return out.to(x.dtype)
''',
        # The cycle as a helper function, the steps from a list.
        "sdedit": '''
def sdedit(eps_model, guide, t0, schedule, step, repeats=1, generator=None):
    n = schedule.index(t0)
    steps = list(range(n))[::-1]

    def cycle(image):
        abar = schedule.alphas_cumprod[steps[0]]
        z = torch.randn(guide.shape, generator=generator)
        image = abar.sqrt() * image + (1 - abar).sqrt() * z
        for t in steps:
            image = step(schedule, image, eps_model(image, t), t,
                         torch.randn(guide.shape, generator=generator))
        return image

    x = guide
    for _ in range(repeats):
        x = cycle(x)
    return x
''',
        # The blend written as x + mask * (known - x); the levels from alphas_cumprod_prev.
        "masked_sdedit": '''
def masked_sdedit(eps_model, guide, mask, t0, schedule, step, generator=None):
    n = schedule.index(t0)
    start = schedule.alphas_cumprod[n - 1]
    noise = lambda: torch.randn(guide.shape, generator=generator)  # noqa: E731
    x = start.sqrt() * guide + (1 - start).sqrt() * noise()
    for t in range(n - 1, -1, -1):
        x = step(schedule, x, eps_model(x, t), t, noise())
        level = schedule.alphas_cumprod_prev[t]
        known = guide if t == 0 else level.sqrt() * guide + (1 - level).sqrt() * noise()
        x = x + mask * (known - x)
    return x
''',
    },
}
