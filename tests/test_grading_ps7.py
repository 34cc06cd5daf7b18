"""Problem set 7 (SDEdit and the diffusion process): the notebooks, the checks its test cells
call, and nbgrader end to end.

The tests every assignment has come from tests/grading_contract.py (see there); slow: one
nbgrader run with the solution, the untouched student notebook, 2 correct solutions written
differently, 27 realistic mistakes (6 submissions carrying at most one mistake per part, see
tests/grading_mutants/ps7_sdedit.py), a submission that calls coursekit's own implementations
through names taken at the top of its cells, and one with a crashing part, an endless loop and
a flood of output.

Here: the notebook's hand-computed values agree with exact fractions and with coursekit, the
checks' stand-in denoisers and step are what they claim, the checks name the mistakes,
``forbid`` refuses names of coursekit's functions taken before the check, and the threshold of
the stroke-painting check holds with other seeds. (The time one notebook takes to autograde
is measured by benchmarks/autograde.py.)
"""
from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch

from coursekit.grading import checks, course
from coursekit.grading import sdedit as grade
from coursekit.models import sdedit as sdedit_module
from coursekit.nn import diffusion
from coursekit.nn.diffusion import Schedule, p_sample, q_sample, reverse_step
from grading_contract import *  # noqa: F403  (the tests every assignment has; see there)

ASSIGNMENT = Assignment(
    "ps7_sdedit", "coursekit.grading.sdedit",
    # The points of each part, as announced in the notebook's introduction.
    part_points={"make_schedule": 4, "q_sample": 4, "reverse_step": 4, "sdedit": 5,
                 "masked_sdedit": 4},
    visible_line="grade.check_sdedit_calls(sdedit, t0=0.05, repeats=2)",
    stub_raises=5,  # one function per part
    endless_loop_part="sdedit",
    flood_also_in=("try_schedule",),  # the ungraded cell that tries the part
)
# Guarantee (h), one notebook autogrades in under 60 s here, is measured by
# benchmarks/autograde.py (a speed target, so not a wall-clock assert in a test).


def _function(source: str, name: str):
    namespace: dict = {}
    exec("import torch", namespace)
    exec(source, namespace)
    return namespace[name]


def _solution(part: str):
    """The source notebook's solution of ``part``."""
    return _function(course.solution_sources(ASSIGNMENT.source)[part], part)


def _mutant(name: str):
    """The source notebook's solution with the mutant ``name`` applied."""
    m = next(m for m in ASSIGNMENT.mutants.MUTANTS if m.name == name)
    return _function(m.apply(course.solution_sources(ASSIGNMENT.source)[m.cell]), m.cell)


def _product(betas: list[Fraction]) -> list[Fraction]:
    out, running = [], Fraction(1)
    for beta in betas:
        running *= 1 - beta
        out.append(running)
    return out


def test_notebook_hand_values_agree_with_exact_fractions_and_coursekit():
    """The hand-computed expectations of the notebook's test cells: the schedules' alphabar by
    exact rational arithmetic, the two-step schedule's noising and steps by coursekit's
    q_sample and p_sample (so a correct solution cannot be caught between two contradicting
    tests)."""
    F = Fraction
    schedules = [  # (betas, alphabar as the notebook's cells give it)
        ([F(1, 10), F(2, 10), F(5, 10)], [0.9, 0.72, 0.36]),
        ([F(19, 100), F(36, 100), F(50, 100), F(75, 100)], [0.81, 0.5184, 0.2592, 0.0648]),
    ]
    for betas, alphabar in schedules:
        assert [float(a) for a in _product(betas)] == pytest.approx(alphabar, abs=1e-15)
    # The two-step schedule of parts 2 and 3: alphabar (0.64, 0.36), exactly, and coursekit's.
    assert [float(a) for a in _product([F(36, 100), F(4375, 10000)])] == pytest.approx([0.64, 0.36])
    two = Schedule(2, 0.36, 0.4375)
    assert two.alphas_cumprod.tolist() == pytest.approx([0.64, 0.36], abs=1e-7)
    t = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    cases = [  # q_sample: (x0, t, noise, expected)
        ([[[[1, -0.5]]], [[[1, -0.5]]]], [0, 1], [[[[0.5, 1]]], [[[0.5, 1]]]],
         [[[[1.1, 0.2]]], [[[1.0, 0.5]]]]),
        ([[[[2, 0]]], [[[2, 0]]], [[[0, 0]]]], [1, 0, 1], [[[[-1, 0.5]]], [[[-1, 0.5]]], [[[1, -1]]]],
         [[[[0.4, 0.4]]], [[[1.0, 0.3]]], [[[0.8, -0.8]]]]),
    ]
    for x0, steps, noise, expected in cases:
        got = q_sample(two, t(x0), torch.tensor(steps), t(noise))
        assert torch.allclose(got, t(expected), atol=1e-6)
    sigma = math.sqrt(63) / 16
    steps = [  # reverse_step: (x, eps, t, noise, expected)
        ([[[[1.0, 0.5]]]], [[[[0.5, 1]]]], 1, [[[[1, -1]]]], [[[[0.96875 + sigma, -0.0625 - sigma]]]]),
        ([[[[1.1, 0.2]]]], [[[[0.5, 1]]]], 0, [[[[1, -1]]]], [[[[1.0, -0.5]]]]),
        ([[[[0.0, 0.8]]]], [[[[1, 0]]]], 1, [[[[0, 2]]]],
         [[[[-0.546875 * 4 / 3, 0.546875 * 4 / 3 + 0.421875 * 0.8 + 2 * sigma]]]]),
    ]
    for x, eps, step, noise, expected in steps:
        got = p_sample(two, t(eps), t(x), torch.tensor([step]), t(noise))
        assert torch.allclose(got, t(expected), atol=1e-6), (step, got)
    # The numbers part 3's text quotes: the posterior's coefficients and variance at step 1.
    assert two.posterior_coef_x0[1].item() == pytest.approx(0.546875)
    assert two.posterior_coef_xt[1].item() == pytest.approx(0.421875)
    assert two.posterior_variance[1].item() == pytest.approx(63 / 256)


def test_the_checks_stand_ins_are_what_they_claim():
    """``reference_step`` is coursekit's ancestral step; ``GaussianEps`` (on a constant image,
    where its neighbourhood average changes nothing) is the posterior mean of the noise for
    Gaussian data, as a regression of the noise on x_t over many draws finds; ``EpsModel`` is
    coursekit's ideal denoiser with an int step."""
    schedule = grade.course_schedule()
    x, eps, noise = torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4)
    for t in (0, 1, 500):
        assert torch.equal(grade.reference_step(schedule, x, eps, t, noise),
                           reverse_step(schedule, eps, x, t, t - 1, 1.0, noise))
    mean, std, t = 0.4, 0.3, 200
    abar = schedule.alphas_cumprod[t].double()
    gen = torch.Generator().manual_seed(0)
    x0 = mean + std * torch.randn(200_000, generator=gen, dtype=torch.float64)
    z = torch.randn(200_000, generator=gen, dtype=torch.float64)
    xt = abar.sqrt() * x0 + (1 - abar).sqrt() * z
    centred = xt - abar.sqrt() * mean
    slope = float((centred * z).sum() / (centred * centred).sum())  # least squares E[z | x_t]
    model = grade.GaussianEps(torch.full((1, 4, 4), mean), schedule, std=std)
    probe = torch.full((1, 1, 4, 4), 1.0)
    predicted = float(model(probe, t)[0, 0, 0, 0]) / float(1.0 - abar.sqrt() * mean)
    # 200000 draws: the slope's standard error is ~0.3 %; 2 % allows for it.
    assert predicted == pytest.approx(slope, rel=0.02)
    train = torch.rand(3, 1, 4, 4) * 2 - 1
    ideal = grade.EpsModel(train, schedule)
    assert torch.equal(ideal(x[:, :1], 7), ideal.net(x[:, :1], torch.full((3,), 7)))


def test_the_checks_name_the_mistakes():
    with pytest.raises(AssertionError, match="that is 1 - alphabar_t, the variance"):
        grade.check_q_sample_statistics(_mutant("q_variance_for_std"))
    with pytest.raises(AssertionError, match="that is the variance beta~_t itself"):
        grade.check_reverse_step_noise(_mutant("step_variance_for_std"))
    with pytest.raises(AssertionError, match=r"that is sqrt\(beta_t\)"):
        grade.check_reverse_step_noise(_mutant("step_sigma_beta"))
    with pytest.raises(AssertionError, match="alphabar_1 is 1: the product stops one step early"):
        grade.check_schedule_properties(_mutant("schedule_alphabar_off_by_one"))
    with pytest.raises(AssertionError, match="keep the betas' float64"):
        grade.check_schedule_hand_value(_mutant("schedule_float32"), betas=[0.1],
                                        expected={k: [0.0] for k in grade.SCHEDULE_KEYS})
    with pytest.raises(AssertionError, match="yours equals one cycle"):
        grade.check_sdedit_matches_coursekit(_mutant("sdedit_repeats_ignored"))
    with pytest.raises(AssertionError, match="each cycle re-noises the previous output"):
        grade.check_sdedit_repeats_renoise_the_output(_mutant("sdedit_renoises_the_guide"))
    with pytest.raises(AssertionError, match="the denoiser's first input, against the guide"):
        grade.check_sdedit_calls(_mutant("sdedit_from_pure_noise"))
    with pytest.raises(AssertionError, match="when the guide is ignored"):
        grade.check_sdedit_photos(_mutant("sdedit_from_pure_noise"), seeds=(0,))
    with pytest.raises(AssertionError, match="the mask is inverted"):
        grade.check_masked_keeps_the_known_pixels(_mutant("masked_inverted"))
    with pytest.raises(AssertionError, match="paste the guide itself"):
        grade.check_masked_keeps_the_known_pixels(_mutant("masked_noise_at_last_step"))
    with pytest.raises(AssertionError, match="at that step's level"):
        grade.check_masked_levels(_mutant("masked_level_before_step"))


def test_forbid_refuses_names_taken_before_the_block_and_restores_them():
    """guarantee (f): a name of coursekit's implementation taken at the top of a cell is refused
    during the check; coursekit's sdedit (wrapped by torch.no_grad) through the timesteps it
    calls."""
    schedule = grade.course_schedule()
    noised, step, edit = diffusion.q_sample, diffusion.p_sample, sdedit_module.sdedit
    x, t = torch.zeros(1, 1, 2, 2), torch.tensor([3])
    model = grade._as_model(grade.EpsModel(torch.zeros(1, 1, 2, 2), schedule), schedule, 1)
    refused = (grade.SCHEDULE_REFERENCE + grade.Q_SAMPLE_REFERENCE + grade.STEP_REFERENCE
               + grade.SDEDIT_REFERENCE)
    with checks.forbid(refused, "part Y"):
        with pytest.raises(checks.ReferenceUsed, match=r"Schedule\.__init__ .*part Y"):
            Schedule(10)
        with pytest.raises(checks.ReferenceUsed, match="q_sample"):
            noised(schedule, x, t, x)
        with pytest.raises(checks.ReferenceUsed, match="p_sample"):
            step(schedule, x, x, t, x)
        with pytest.raises(checks.ReferenceUsed, match="timesteps"):
            edit(model, x, 0.01)
    assert noised(schedule, x, t, x).shape == x.shape
    assert edit(model, x, 0.002).shape == x.shape
    assert diffusion.q_sample is noised and sdedit_module.sdedit is edit


def test_the_photo_threshold_holds_for_other_seeds():
    """The solution passes the stroke-painting check with seeds other than the graded ones
    (PHOTOS: every edit is the painting's own photo over seeds 0..19)."""
    rate = grade.check_sdedit_photos(_solution("sdedit"), seeds=(20, 21, 22))
    assert rate >= grade.PHOTOS.limit
