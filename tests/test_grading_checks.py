"""The building blocks of every assignment's checks (``coursekit.grading.checks``), on hand-made
cases: refusing the reference, time limits, hidden tests, one thread, comparisons of values,
gradients and optimizer steps, weight copying, the stub discriminator, training runs."""
from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from coursekit.grading import checks


class _Owner:
    def method(self):
        return "original"


class _Child(_Owner):
    pass


def test_forbid_refuses_the_reference_and_restores_it():
    with checks.forbid([(_Owner, "method")], "part X"):
        with pytest.raises(checks.ReferenceUsed, match="part X"):
            _Owner().method()
    assert _Owner().method() == "original"
    # Restored after an error inside the block, and an inherited attribute is put back by
    # removing the patch from the subclass.
    with pytest.raises(ZeroDivisionError):
        with checks.forbid([(_Child, "method")]):
            assert "method" in vars(_Child)
            1 / 0
    assert "method" not in vars(_Child) and _Child().method() == "original"


def test_time_limit_stops_an_endless_loop_and_is_not_retried():
    def endless():
        while True:
            pass

    start = time.perf_counter()
    with pytest.raises(checks.StudentTimeout, match="endless"):
        checks.call_student(endless, seconds=0.2)
    assert time.perf_counter() - start < 5  # stopped at 0.2 s; 5 s allows a loaded machine
    start = time.perf_counter()
    with pytest.raises(checks.StudentTimeout, match="earlier test"):
        checks.call_student(endless, seconds=0.2)
    assert time.perf_counter() - start < 0.1  # not run again
    # A function that finishes is unaffected, and no alarm is left behind.
    assert checks.call_student(lambda a: a + 1, 1, seconds=0.2) == 2
    time.sleep(0.3)  # a timer left running would raise StudentTimeout here


def test_nested_time_limits_keep_the_earlier_deadline():
    def spin():
        while True:
            pass

    start = time.perf_counter()
    with pytest.raises(checks.StudentTimeout):
        with checks.time_limit(0.3, "outer"):
            with checks.time_limit(5, "inner"):
                spin()
    assert time.perf_counter() - start < 3  # the outer 0.3 s, not 5 s (slack for a busy machine)
    with pytest.raises(checks.StudentTimeout, match="outer"):  # resumes after an inner block
        with checks.time_limit(0.3, "outer"):
            with checks.time_limit(5, "inner"):
                pass
            spin()


def test_call_student_keeps_warnings_off_stderr(capfd):
    import warnings

    def noisy():
        warnings.warn("UserWarning from student code")
        return 3

    assert checks.call_student(noisy) == 3
    assert capfd.readouterr().err == ""


def test_hidden_tests_report_without_source():
    def student_code():
        raise ValueError("boom")

    with pytest.raises(checks.HiddenTestFailed) as info:
        with checks.hidden_tests():
            secret_case = 1234  # noqa: F841  (a "hidden" line)
            student_code()
    rendered = info.value._render_traceback_()
    assert rendered == [f"HiddenTestFailed: {info.value}"]
    assert "ValueError: boom" in str(info.value) and "secret_case" not in str(info.value)
    assert info.value.__suppress_context__  # the original traceback is not chained either
    with pytest.raises(checks.HiddenTestFailed, match="ran longer"):
        with checks.hidden_tests():
            raise KeyboardInterrupt
    with checks.hidden_tests():  # nothing happens when the tests pass
        pass


def test_measured_receptive_field_hand_values():
    # r <- (r - 1) s + k from the last layer back, r = 1 at the output.
    assert checks.measure_receptive_field(nn.Conv2d(1, 1, 3), 1) == 3
    assert checks.measure_receptive_field(
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.LeakyReLU(0.2), nn.Conv2d(2, 1, 3)), 1) == 5  # 1 -> 3 -> 5
    assert checks.measure_receptive_field(
        nn.Sequential(nn.Conv2d(2, 2, 4, 2, 1), nn.Conv2d(2, 1, 4, 1, 1)), 2) == 10  # 1 -> 4 -> 10


def test_assert_close_reports_shape_and_values():
    with pytest.raises(AssertionError, match="shape"):
        checks.assert_close(torch.zeros(2), torch.zeros(3), atol=0, rtol=0, what="x")
    with pytest.raises(AssertionError, match="expected 1, got 1.1"):
        checks.assert_close(1.1, 1.0, atol=1e-3, rtol=0, what="x")
    checks.assert_close(torch.tensor(1.0005), 1.0, atol=1e-3, rtol=0, what="x")


# ------------------------------------------------------------------------------ one thread
def test_checks_student_code_hidden_tests_and_training_runs_use_one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = []
        checks.call_student(lambda: seen.append(torch.get_num_threads()))
        with checks.hidden_tests():
            seen.append(torch.get_num_threads())
        checks.one_thread(lambda: seen.append(torch.get_num_threads()))()
        checks.training_run(lambda k: seen.append(torch.get_num_threads()), 2,
                            lambda history: {}, (), seconds=10)
        assert seen == [1, 1, 1, 1, 1]
        assert torch.get_num_threads() == 2  # and put back afterwards
        with pytest.raises(checks.HiddenTestFailed):
            with checks.hidden_tests():
                raise ValueError("a failing hidden test")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_one_thread_checks_wraps_every_check_once():
    namespace = {"check_a": lambda: torch.get_num_threads(), "helper": lambda: 0}
    checks.one_thread_checks(namespace)
    checks.one_thread_checks(namespace)  # a second call wraps nothing twice
    assert namespace["check_a"].one_thread and not hasattr(namespace["helper"], "one_thread")
    assert namespace["check_a"].__wrapped__.__name__ == "<lambda>"
    assert not hasattr(namespace["check_a"].__wrapped__, "__wrapped__")


# ------------------------------------------------------------------- optimizer steps
class _BiasBeforeNorm(nn.Module):
    """conv (with bias) -> instance norm -> conv: the first conv's bias has a true gradient of
    exactly 0 (instance norm removes any per-channel constant), as in CycleGAN's generators."""

    def __init__(self):
        super().__init__()
        self.conv1, self.norm = nn.Conv2d(3, 4, 3, padding=1), nn.InstanceNorm2d(4)
        self.conv2 = nn.Conv2d(4, 3, 1)

    def forward(self, x):
        return self.conv2(torch.relu(self.norm(self.conv1(x))))


def _losses(net, x):
    out = net(x)
    return (out - 0.3).abs().mean(), (out ** 2).mean()


def _one_backward(net, opt, x):
    opt.zero_grad()
    a, b = _losses(net, x)
    (a + 10 * b).backward()
    opt.step()


def _two_backwards(net, opt, x):  # the same gradient, summed in another order
    opt.zero_grad()
    a, b = _losses(net, x)
    (10 * b).backward(retain_graph=True)
    a.backward()
    opt.step()


def _no_zero_grad(net, opt, x):
    a, b = _losses(net, x)
    (a + 10 * b).backward()
    opt.step()


def _two_steps(net, opt, x):
    _one_backward(net, opt, x)
    opt.step()


def _no_step(net, opt, x):
    opt.zero_grad()
    sum(_losses(net, x)).backward()


def _run_steps(student, steps=3, lr=1e-3):
    torch.manual_seed(0)
    reference, net = _BiasBeforeNorm(), _BiasBeforeNorm()
    net.load_state_dict(reference.state_dict())
    ref_opt, opt = (checks.gan_adam(n.parameters(), lr) for n in (reference, net))
    names = [n for n, _ in net.named_parameters()]
    gen = torch.Generator().manual_seed(1)
    for k in range(1, steps + 1):
        x = torch.randn(2, 3, 6, 6, generator=gen)
        checks.sync([(reference, net), (ref_opt, opt)])
        checks.assert_same_update(lambda: student(net, opt, x),
                                  lambda: _one_backward(reference, ref_opt, x),
                                  {"opt": (opt, ref_opt, names)}, step=k)
    return net, reference


def test_same_update_accepts_another_order_of_the_same_sums():
    net, _ = _run_steps(_two_backwards)
    # The reason the weights are not compared: after three Adam steps the bias before the norm
    # has moved by up to 3 lr in directions that float32 noise chose, in the two runs alike.
    torch.manual_seed(0)
    one, two = _BiasBeforeNorm(), _BiasBeforeNorm()
    two.load_state_dict(one.state_dict())
    opt_one, opt_two = (checks.gan_adam(n.parameters(), 1e-3) for n in (one, two))
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        x = torch.randn(2, 3, 6, 6, generator=gen)
        _one_backward(one, opt_one, x)
        _two_backwards(two, opt_two, x)
    bias_gap = float((one.conv1.bias - two.conv1.bias).detach().abs().max())
    weight_gap = float((one.conv2.weight - two.conv2.weight).detach().abs().max())
    assert bias_gap > 1e-4 and weight_gap < 1e-6, (bias_gap, weight_gap)  # lr = 1e-3


@pytest.mark.parametrize("mistake, message", [
    (_no_zero_grad, "step 2: the gradient that opt.step"),  # shows from the second step on
    (_two_steps, "called 2 time"),
    (_no_step, "called 0 time"),
])
def test_same_update_rejects_mistakes(mistake, message):
    with pytest.raises(AssertionError, match=message):
        _run_steps(mistake)


def test_sync_copies_optimizer_state_without_sharing_it():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    opt_a, opt_b = checks.gan_adam(a.parameters(), 0.1), checks.gan_adam(b.parameters(), 0.1)
    a(torch.ones(1, 2)).sum().backward()
    opt_a.step()
    checks.sync([(b, a), (opt_b, opt_a)])
    assert torch.equal(b.weight, a.weight)
    state = opt_a.state_dict()["state"][0]["exp_avg"].clone()
    b(torch.ones(1, 2)).sum().backward()
    opt_b.step()  # the reference's step must not move the student's moments
    assert torch.equal(opt_a.state_dict()["state"][0]["exp_avg"], state)
    assert not torch.equal(opt_b.state_dict()["state"][0]["exp_avg"], state)


# ------------------------------------------------------------------- results and layers
def test_scalar_policy():
    assert checks.scalar(torch.tensor([2.5]), "x").shape == ()
    assert float(checks.scalar(2.5, "x", number_ok=True)) == 2.5
    with pytest.raises(AssertionError, match="backward"):
        checks.scalar(2.5, "the loss")  # a loss must be a tensor
    with pytest.raises(AssertionError, match="single number"):
        checks.scalar(torch.zeros(2), "the loss")
    with pytest.raises(AssertionError, match="tensor"):
        checks.scalar(True, "x", number_ok=True)


def test_copy_weights_matches_layers_in_order():
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Conv2d(3, 1, 1, bias=False))
    ref[1].running_mean.fill_(0.5)
    mine = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.BatchNorm2d(3), nn.Conv2d(3, 1, 1))
    checks.copy_weights(checks.parameter_modules(ref), checks.parameter_modules(mine))
    assert torch.equal(mine[0].weight, ref[0].weight) and torch.equal(mine[0].bias, ref[0].bias)
    assert torch.equal(mine[2].running_mean, ref[1].running_mean)
    assert torch.equal(mine[3].bias, torch.zeros(1))  # a bias the reference lacks is zeroed
    with pytest.raises(AssertionError, match="yours are: Conv2d"):
        checks.copy_weights([nn.Conv2d(2, 3, 3)], [nn.Conv2d(2, 3, 5)])
    with pytest.raises(AssertionError, match="needs a bias"):
        checks.copy_weights([nn.Linear(2, 3)], [nn.Linear(2, 3, bias=False)])


def test_stub_discriminator_hand_values_and_input_checks():
    image = torch.arange(16.0).view(1, 1, 4, 4).expand(1, 2, 4, 4)
    out = checks.StubDiscriminator(channels=2)(image)
    assert out.flatten().tolist() == [2.5, 4.5, 10.5, 12.5]  # means of the 2x2 patches
    x = torch.full((1, 2, 4, 4), 0.5)
    conditional = checks.StubDiscriminator(condition=x)
    assert torch.equal(conditional(torch.cat([x, image], 1)), out)
    pair = torch.cat([x, image], 1)
    assert conditional(torch.cat([pair, pair], 0)).shape[0] == 2  # real and fake stacked
    with pytest.raises(AssertionError, match="start with the input image x"):
        conditional(torch.cat([image, x], 1))
    with pytest.raises(AssertionError, match="torch.cat"):
        conditional(image)
    with pytest.raises(AssertionError, match="one image"):
        checks.StubDiscriminator(channels=2)(torch.cat([x, image], 1))


# ----------------------------------------------------------------------- training runs
_RATIO = checks.Threshold("ratio", "the loss, as a fraction of its start", 0.8,
                          higher_is_better=False, correct=(0.5, 0.6), measured="seeds 0..9",
                          untrained=(1.0, 1.0))


def test_training_run_checks_its_thresholds():
    scores = checks.training_run(lambda k: 1.0 / (k + 1), 4,
                                 lambda history: {"ratio": history[-1] / history[0]}, (_RATIO,),
                                 seconds=10)
    assert scores == {"ratio": 0.25}
    with pytest.raises(AssertionError, match=r"after 4 training steps the loss, as a fraction of "
                                             r"its start is 0.900; a correct solution reaches 0.8 "
                                             r"or less \(measured 0.50..0.60"):
        checks.training_run(lambda k: 1.0, 4, lambda h: {"ratio": 0.9}, (_RATIO,), seconds=10)
    with pytest.raises(AssertionError, match="is nan"):
        checks.training_run(lambda k: 1.0, 1, lambda h: {"ratio": float("nan")}, (_RATIO,),
                            seconds=10)


def test_training_run_has_one_time_limit():
    def slow_step(k):
        while True:
            pass

    start = time.perf_counter()
    with pytest.raises(checks.StudentTimeout, match="the training run"):
        checks.training_run(slow_step, 3, lambda h: {}, (), seconds=0.3)
    assert time.perf_counter() - start < 5  # stopped at 0.3 s; 5 s allows a loaded machine
