"""Building blocks for the autograder's test cells (any assignment).

A test cell calls a student's function on fixed inputs and compares the result with
coursekit's reference implementation or with a hand-computed value. Every call of student
code goes through :func:`call_student`, which

* refuses coursekit's own implementation of the part being graded (:func:`forbid`): a
  submission that simply calls ``UNetGenerator.forward`` or ``GANLoss.generator`` raises
  :class:`ReferenceUsed` and earns nothing for that part;
* stops an endless loop after a few seconds (:func:`time_limit`), so that one broken part
  costs that part's points and not the whole notebook's grading time; a function that ran
  out of time once is not run again by later checks of the same session;
* keeps warnings off stderr (nbgrader grades a test cell that writes to stderr as failed).

Torch runs on one thread inside every check (:func:`one_thread`): a student's code
(:func:`call_student`), a block of hidden tests (:class:`hidden_tests`) and a training run
(:func:`training_run`) switch to one thread themselves, and an assignment's checks module ends
with ``one_thread_checks(globals())`` so that the reference computations of its ``check_*``
functions do too (tests/grading_contract.py fails for a module that forgets it).

Comparing a student's optimizer step with the reference's (:func:`assert_same_update`) compares
the gradients each ``step()`` applies, from the same state, never the weights after the step:
Adam moves every weight by about lr whatever the size of its gradient, so a gradient that is
zero up to rounding (a bias before a norm layer) moves by +-lr in a direction set by float32
noise, and no weight tolerance can tell that from a mistake.

Hidden tests run inside ``with hidden_tests():``. A failure there is shown as one message
(what went wrong, and where in the student's own code) without the test's source, so neither
the graded notebook nor the feedback reveals the hidden cases (IPython would otherwise print
the lines around the failing one).
"""
from __future__ import annotations

import contextlib
import copy
import functools
import math
import os
import signal
import sys
import sysconfig
import threading
import time
import traceback
import types
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CALL_SECONDS",
    "Counted",
    "HiddenTestFailed",
    "ReferenceUsed",
    "StepRecorder",
    "StubDiscriminator",
    "StudentTimeout",
    "Threshold",
    "assert_close",
    "assert_detached",
    "assert_gradients_match",
    "assert_same_update",
    "backward_discriminator_loss",
    "call_student",
    "copy_weights",
    "count_parameters",
    "describe_layers",
    "explain_missing_gradient",
    "forbid",
    "gan_adam",
    "hidden_tests",
    "layers_in_call_order",
    "largest",
    "measure_receptive_field",
    "one_thread",
    "one_thread_checks",
    "parameter_modules",
    "quiet",
    "random_images",
    "random_patchgan",
    "require_keys",
    "scalar",
    "seeded",
    "sync",
    "threads",
    "time_limit",
    "training_run",
]

#: Seconds one call of a student's function may take in a check (a correct one takes
#: milliseconds to a second on a loaded CPU server). ``COURSEKIT_GRADING_CALL_SECONDS``
#: overrides it, e.g. for a very slow grading machine.
CALL_SECONDS = float(os.environ.get("COURSEKIT_GRADING_CALL_SECONDS", "10"))


class ReferenceUsed(RuntimeError):
    """A student's function called coursekit's implementation of the part being graded."""


class StudentTimeout(TimeoutError):
    """A student's function did not finish within the check's time limit."""


# --------------------------------------------------------------------------- forbidding
@contextlib.contextmanager
def forbid(targets: Iterable[tuple[Any, str]], part: str = "this part") -> Iterator[None]:
    """Within the block, make each ``(owner, attribute)`` in ``targets`` raise
    :class:`ReferenceUsed` when called; restored afterwards, even on errors or interrupts.

    Patching the class (or module) attribute catches an instance made before the block, an
    alias of the class or module, ``Class.method(fake_self, ...)``. The function itself could
    still be reached through a name taken before the block (``from coursekit.models.patchnce
    import patch_nce_loss as ref``, ``gather = PatchSampler.gather``), so the code of a plain
    function (module-level, a method, a static or class method) is swapped for the refusal as
    well. A function with a closure (e.g. a method that calls ``super()``) keeps its code: only
    its attribute is patched."""
    saved = []
    swapped_code = []
    try:
        for owner, name in targets:
            if not hasattr(owner, name):
                raise AttributeError(f"{owner!r} has no attribute {name!r} to forbid")
            had_own = name in vars(owner)
            original = vars(owner).get(name)
            qualname = f"{getattr(owner, '__qualname__', getattr(owner, '__name__', owner))}.{name}"

            def refuse(*args, _message=_refusal(qualname, part), **kwargs):
                raise ReferenceUsed(_message)

            saved.append((owner, name, original, had_own))
            setattr(owner, name, refuse)
            function = getattr(original, "__func__", original)  # staticmethod, classmethod
            if (isinstance(function, types.FunctionType) and function.__closure__ is None
                    and all(function is not done for done, _ in swapped_code)):  # one per function
                swapped_code.append((function, function.__code__))
                function.__code__ = _refusing_code(qualname, part)
        yield
    finally:
        for function, code in reversed(swapped_code):
            function.__code__ = code
        for owner, name, original, had_own in reversed(saved):
            if had_own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)


def _refusal(what: str, part: str) -> str:
    return (f"{what} is coursekit's own implementation of {part}: the point of the exercise "
            f"is to write it yourself, so a solution that calls it earns no points. Use torch "
            f"and torch.nn directly.")


@functools.lru_cache(maxsize=None)
def _refusing_code(what: str, part: str) -> types.CodeType:
    """The code object of a closure-free function that raises :class:`ReferenceUsed`. It runs
    with the *forbidden* function's globals, so it imports the exception itself, and takes any
    arguments (the forbidden function's defaults are ignored)."""
    namespace: dict = {}
    exec(f"def refuse(*args, **kwargs):\n"
         f"    from coursekit.grading.checks import ReferenceUsed\n"
         f"    raise ReferenceUsed({_refusal(what, part)!r})\n", namespace)
    return namespace["refuse"].__code__


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Inside the block torch's global generator starts from ``seed``; outside, the notebook's
    random stream is as if the block had never run (layer initialisation and
    ``torch.randperm`` draw from the global generator)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# --------------------------------------------------------------------------- threads
@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """torch runs on ``n`` threads inside the block, on as many as before afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def one_thread(check: Callable) -> Callable:
    """Run ``check`` with torch on one thread. Its tensors are tiny, so more threads gain
    nothing, and on a loaded grading server (more busy threads than cores) torch's spinning
    worker threads make checks up to 100x slower (``benchmarks/autograde.py`` has the
    measurement). Results then do not depend on the machine's thread count either."""

    if getattr(check, "one_thread", False):
        return check

    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        with threads(1):
            return check(*args, **kwargs)

    wrapper.one_thread = True  # what tests/grading_contract.py looks for
    return wrapper


def one_thread_checks(namespace: dict[str, Any]) -> None:
    """Wrap every ``check_*`` function of a checks module with :func:`one_thread`: call as
    ``one_thread_checks(globals())`` at the end of the module."""
    for name in [n for n, value in namespace.items() if n.startswith("check_") and callable(value)]:
        namespace[name] = one_thread(namespace[name])


# --------------------------------------------------------------------------- time limit
def _alarm_available() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "the code") -> Iterator[None]:
    """Raise :class:`StudentTimeout` inside the block after ``seconds`` of wall-clock time.

    Uses SIGALRM (POSIX, main thread: where a Jupyter kernel runs cells). Pure-Python loops
    are interrupted at once, a long torch operation when it returns. Elsewhere (Windows)
    this is a no-op and nbgrader's per-cell timeout is the only limit."""
    if not _alarm_available() or seconds <= 0:
        yield
        return

    def on_alarm(signum, frame):
        raise StudentTimeout(f"{what} did not finish within {seconds:g} s (an endless loop? "
                             f"or far too much work for these tiny inputs)")

    # Inside an enclosing limit, the earlier deadline wins, and the enclosing limit resumes
    # afterwards with the time that is left of it.
    previous_delay, _ = signal.getitimer(signal.ITIMER_REAL)
    start = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, previous_delay) if previous_delay else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            left = previous_delay - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3))


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Ignore warnings inside the block: a warning printed to stderr fails an nbgrader test
    cell, and a wrong result is reported by the check itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# Functions that ran out of time (weak references: a re-defined function is a new object).
_TIMED_OUT: "weakref.WeakSet[Callable]" = weakref.WeakSet()


def call_student(fn: Callable, *args, forbidden: Iterable[tuple[Any, str]] = (),
                 part: str = "this part", seconds: float | None = None, **kwargs):
    """``fn(*args, **kwargs)`` with coursekit's reference for ``part`` refused, a time limit,
    warnings silenced and torch on one thread. A function that ran out of time before is not
    run again."""
    name = getattr(fn, "__name__", repr(fn))
    if not callable(fn):
        raise TypeError(f"{name} should be a function, got {type(fn).__name__}")
    if _timed_out_before(fn):
        raise StudentTimeout(f"{name} did not finish in an earlier test, so it is not run again "
                             f"(fix the endless loop and re-run the cell that defines it)")
    limit = CALL_SECONDS if seconds is None else seconds
    try:
        with forbid(forbidden, part), time_limit(limit, name), quiet(), threads(1):
            return fn(*args, **kwargs)
    except StudentTimeout:
        with contextlib.suppress(TypeError):  # objects without weak references: not remembered
            _TIMED_OUT.add(fn)
        raise


def _timed_out_before(fn: Callable) -> bool:
    try:
        return fn in _TIMED_OUT
    except TypeError:
        return False


# --------------------------------------------------------------------------- comparisons
def assert_close(actual: Any, expected: Tensor | float, *, atol: float, rtol: float,
                 what: str) -> None:
    """``torch.testing.assert_close`` with a message that names ``what`` was compared.
    ``actual`` may be a tensor or a Python number; its shape must match."""
    if not isinstance(actual, Tensor):
        if isinstance(actual, (int, float)) and not isinstance(actual, bool):
            actual = torch.tensor(float(actual))
        else:
            raise AssertionError(f"{what}: expected a tensor, got {type(actual).__name__}")
    expected_t = expected if isinstance(expected, Tensor) else torch.tensor(float(expected))
    if tuple(actual.shape) != tuple(expected_t.shape):
        raise AssertionError(f"{what}: expected shape {tuple(expected_t.shape)}, "
                             f"got {tuple(actual.shape)}")
    actual = actual.detach().to("cpu", torch.float64)
    expected_t = expected_t.detach().to("cpu", torch.float64)
    if not torch.isfinite(actual).all():
        raise AssertionError(f"{what}: the result contains NaN or inf")
    diff = (actual - expected_t).abs()
    bad = diff > atol + rtol * expected_t.abs()
    if bad.any():
        if expected_t.numel() == 1:
            raise AssertionError(f"{what}: expected {float(expected_t):.6g}, got {float(actual):.6g}")
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.numel()} values differ from the expected ones "
            f"(largest difference {float(diff.max()):.3g}, allowed {atol:g} + {rtol:g} * |expected|)")


def assert_gradients_match(grads: Iterable[tuple[str, Tensor | None, Tensor]], *, what: str,
                           missing: str) -> None:
    """For each ``(name, gradient, reference gradient)`` of a network's weights: the gradient
    exists (else ``missing``, formatted with ``name``, is the error) and equals the reference's
    (``what``, formatted likewise, names it in the message). Gradients are sums over many
    pixels, patches and images, computed perhaps in another order, and some (a bias before a
    norm layer) are zero up to rounding: the tolerance is relative to the largest reference
    gradient of them all."""
    grads = list(grads)
    scale = max((largest(reference) for _, _, reference in grads), default=0.0)
    for name, grad, reference in grads:
        if grad is None:
            raise AssertionError(missing.format(name=name))
        assert_close(grad, reference, atol=1e-5 * scale, rtol=1e-4, what=what.format(name=name))


class StepRecorder:
    """Records what the optimizers' ``step()`` calls apply: at each call, the gradient of every
    parameter (a step pre-hook, so the optimizer a student gets stays a plain ``torch.optim``
    one). ``steps[name]`` holds one list per call, the gradients (None where a parameter has
    none) in the optimizer's parameter order. A context manager: the hooks go on exit."""

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer]):
        self.optimizers = dict(optimizers)
        self.steps: dict[str, list[list[Tensor | None]]] = {name: [] for name in self.optimizers}
        self._handles: list = []

    def __enter__(self) -> "StepRecorder":
        for name, optimizer in self.optimizers.items():
            self._handles.append(optimizer.register_step_pre_hook(
                functools.partial(self._record, name)))
        return self

    def __exit__(self, *exc) -> bool:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        return False

    def _record(self, name: str, optimizer: torch.optim.Optimizer, args, kwargs) -> None:
        self.steps[name].append([None if p.grad is None else p.grad.detach().clone()
                                 for group in optimizer.param_groups for p in group["params"]])


def sync(pairs: Iterable[tuple[Any, Any]]) -> None:
    """For each ``(reference, student)`` pair of networks or optimizers: give the reference the
    student's current state (weights and buffers; an optimizer's moments, step counts and
    hyperparameters, copied so that the reference's steps leave the student's alone)."""
    for reference, student in pairs:
        reference.load_state_dict(copy.deepcopy(student.state_dict()))


def assert_same_update(student_step: Callable[[], Any], reference_step: Callable[[], Any],
                       optimizers: dict[str, tuple[torch.optim.Optimizer, torch.optim.Optimizer,
                                                   list[str]]], *, step: int) -> tuple[Any, Any]:
    """Run ``reference_step()`` and then ``student_step()``, which start from the same state
    (:func:`sync` the reference first), and require each optimizer to be stepped as often as
    the reference's (once) with the same gradients. Returns (student's result, reference's).

    ``optimizers``: name (as the notebook calls it, e.g. ``"opt_G"``) -> (the student's
    optimizer, the reference's, the names of its parameters in order).

    What is compared, and why: the gradient each ``step()`` applies. The optimizer is ours, so
    the same gradients from the same state give the same update, and the gradients of a correct
    step differ from the reference's only by float32 rounding, however the student orders the
    sums (two ``backward()`` calls, a recomputed G(x)): measured up to 1.3e-6 of the
    optimizer's largest gradient, 5 % of what :func:`assert_gradients_match` allows (1e-5 of
    the largest gradient plus 1e-4 of each value), against 0.25 or more, 15000 times the
    allowance, for the mistakes it catches (a forgotten ``zero_grad``, the wrong
    discriminator; ``benchmarks/grading_tolerances.py``). The weights after the step are not
    compared: see the module docstring."""
    with StepRecorder({name: o[1] for name, o in optimizers.items()}) as reference:
        expected = reference_step()
    with StepRecorder({name: o[0] for name, o in optimizers.items()}) as student:
        out = student_step()
    for name, (_, _, names) in optimizers.items():
        got, want = student.steps[name], reference.steps[name]
        if len(got) != len(want):
            raise AssertionError(
                f"step {step}: {name}.step() was called {len(got)} time(s); it should be called "
                f"{len(want)} time(s) per training step" + (
                    " (is the optimizer's step missing?)" if not got else ""))
        for applied, correct in zip(got, want):
            pairs = [(pname, g, r if r is not None else torch.zeros_like(g))
                     for pname, g, r in zip(names, applied, correct)
                     if not (g is None and r is None)]
            assert_gradients_match(
                pairs, what=f"step {step}: the gradient that {name}.step() applied to {{name}} "
                            f"(compared with a correct step from the same weights)",
                missing=f"step {step}: {name}.step() was called while {{name}} had no gradient "
                        f"(was the loss backpropagated before the step, and not zeroed in "
                        f"between?)")
    return out, expected


def backward_discriminator_loss(loss: Tensor, fake: Tensor) -> None:
    """``loss.backward()`` for a student's discriminator loss that was given the generated
    images ``fake`` with ``requires_grad``: the loss must depend on D's weights (have a graph)
    and send no gradient into ``fake`` (D's update must not reach the generator)."""
    if not loss.requires_grad:
        raise AssertionError("the discriminator's loss does not depend on D's weights (was it "
                             "computed under torch.no_grad(), or turned into a Python number?)")
    loss.backward()
    if fake.grad is not None and fake.grad.abs().max() > 0:
        raise AssertionError("the discriminator's loss sends gradients into the generated "
                             "images G(x): use fake.detach() in D's loss, so that D's update "
                             "cannot change the generator")


@contextlib.contextmanager
def explain_missing_gradient(hint: str) -> Iterator[None]:
    """Inside the block, torch's ``RuntimeError: element 0 of tensors does not require grad``
    (a student's ``backward()`` on a loss without a graph) becomes an AssertionError that adds
    ``hint``: what usually causes it in the part being graded."""
    try:
        yield
    except RuntimeError as error:
        if "does not require grad" in str(error):
            raise AssertionError(f"{error}. {hint}") from error
        raise


def require_keys(out: Any, keys: tuple[str, ...], what: str, note: str = "") -> dict:
    """``out``, checked to be a dict with (at least) the ``keys``: what a student's ``what``
    returns (``note``, e.g. what the keys mean, follows the list of keys in the message)."""
    if not isinstance(out, dict) or any(key not in out for key in keys):
        got = sorted(out) if isinstance(out, dict) else type(out).__name__
        raise AssertionError(f"{what} should return a dict with the keys {keys}{note}; got {got}")
    return out


def scalar(value: Any, what: str, *, number_ok: bool = False) -> Tensor:
    """``value`` as a 0-dim tensor, checked. One policy for every assignment: a *loss* that is
    backpropagated must be a tensor with one element (a Python number has no gradient); a value
    that is only reported (the losses a training step returns, ``number_ok=True``) may also be
    a Python number (``loss.item()``)."""
    if not isinstance(value, Tensor):
        if number_ok and isinstance(value, (int, float)) and not isinstance(value, bool):
            return torch.tensor(float(value))
        raise AssertionError(f"{what} should be a torch tensor" + (
            "" if number_ok else " (so that .backward() can be called on it)")
            + f", got {type(value).__name__}")
    if value.numel() != 1:
        raise AssertionError(f"{what} should be a single number (a 0-dim tensor: the mean over "
                             f"pixels, patches and the batch), got shape {tuple(value.shape)}")
    return value.reshape(())


def tensor_output(out: Any, what: str, shape: tuple[int, ...] | None = None) -> Tensor:
    """``out`` if it is a tensor (of ``shape``, when given), else an AssertionError that says
    what the student's ``what`` returned instead."""
    if not isinstance(out, Tensor):
        raise AssertionError(f"{what} should return a tensor, got {type(out).__name__}")
    if shape is not None and tuple(out.shape) != tuple(shape):
        raise AssertionError(f"{what} returned shape {tuple(out.shape)}; expected "
                             f"{tuple(shape)}")
    return out


def assert_close_to_scale(got: Tensor, expected: Tensor, what: str, atol: float = 1e-5,
                          rtol: float = 1e-4) -> None:
    """:func:`assert_close` for activations and images of order 1 computed in another order:
    the absolute tolerance grows with the largest expected value."""
    assert_close(got, expected, atol=atol * max(1.0, largest(expected)), rtol=rtol, what=what)


def largest(t: Tensor | None) -> float:
    """The largest magnitude in ``t`` (0 for None or an empty tensor): the scale of
    tolerances relative to, e.g., a network's largest gradient."""
    return float(t.detach().abs().max()) if t is not None and t.numel() else 0.0


def describe_layers(modules: Iterable[nn.Module]) -> str:
    """``Conv2d(8, 8, 3, 3), InstanceNorm2d`` (each module's type and weight shape), for
    messages that compare a student's layers with the reference's."""
    return ", ".join(f"{type(m).__name__}"
                     f"{tuple(m.weight.shape) if getattr(m, 'weight', None) is not None else ''}"
                     for m in modules) or "none"


def random_images(batch: int, channels: int, size: int, seed: int, count: int) -> list[Tensor]:
    """``count`` batches of random images in (-1, 1) (tanh of N(0, 4)), from their own seeded
    generator."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.tanh(2 * torch.randn(batch, channels, size, size, generator=gen))
            for _ in range(count)]


def gan_adam(params, lr: float) -> torch.optim.Adam:
    """Adam with the betas (0.5, 0.999) that pix2pix, CycleGAN and CUT train with."""
    return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))


def count_parameters(modules: nn.Module | Iterable[nn.Module]) -> int:
    """Number of parameters (trainable or not) of a module or a list of modules."""
    if isinstance(modules, nn.Module):
        modules = [modules]
    seen: set[int] = set()
    total = 0
    for module in modules:
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
    return total


def parameter_modules(module: nn.Module) -> list[nn.Module]:
    """The leaf modules that own parameters or buffers, in forward-definition order."""
    return [m for m in module.modules()
            if not list(m.children()) and (list(m.parameters(recurse=False))
                                           or list(m.buffers(recurse=False)))]


def layers_in_call_order(module: nn.Module, run: Callable[[], Any]) -> list[nn.Module]:
    """The layers of ``module`` that own parameters or buffers (:func:`parameter_modules`) in the
    order a forward pass first calls them: ``run()`` makes the pass (e.g. a
    :func:`call_student` of the module). A student may register layers in any order; matching
    by registration would then pair the reference's first conv with the student's second.
    Layers the pass never calls come last, in registration order."""
    layers = parameter_modules(module)
    order: list[nn.Module] = []
    handles = [layer.register_forward_pre_hook(
        lambda m, args: order.append(m) if all(m is not o for o in order) else None)
        for layer in layers]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return order + [layer for layer in layers if all(layer is not o for o in order)]


def copy_weights(reference: Iterable[nn.Module], student: Iterable[nn.Module]) -> None:
    """Copy the weights (and running statistics) of the ``reference`` layers into the
    ``student``'s, matched in order: each student layer must be of the reference layer's type
    (or a subclass) with weights of the same shape, else the message lists both. A bias the
    reference lacks is set to zero in the student's layer; a bias the student's layer lacks
    where the reference has one is an error."""
    reference, student = list(reference), list(student)
    same = len(reference) == len(student) and all(
        isinstance(s, type(r)) and getattr(r, "weight", None) is not None
        and getattr(s, "weight", None) is not None and r.weight.shape == s.weight.shape
        for r, s in zip(reference, student))
    if not same:
        raise AssertionError(f"the layers with weights should be: {describe_layers(reference)}; "
                             f"yours are: {describe_layers(student)}")
    with torch.no_grad():
        for r, s in zip(reference, student):
            s.weight.copy_(r.weight)
            if getattr(s, "bias", None) is not None:
                if getattr(r, "bias", None) is None:
                    s.bias.zero_()
                else:
                    s.bias.copy_(r.bias)
            elif getattr(r, "bias", None) is not None:
                raise AssertionError(f"{type(s).__name__}{tuple(s.weight.shape)} needs a bias "
                                     f"(bias=True): the reference's layer has one")
            for name in ("running_mean", "running_var"):
                if getattr(r, name, None) is not None and getattr(s, name, None) is not None:
                    getattr(s, name).copy_(getattr(r, name))


# --------------------------------------------------------------------------- stand-ins
class StubDiscriminator(nn.Module):
    """A "discriminator" for hand-computed losses: its output for each 2x2 patch is the mean of
    the judged image's pixels in that patch (over all its channels).

    ``StubDiscriminator(channels=3)`` judges one image (CycleGAN's discriminators).
    ``StubDiscriminator(condition=x)`` is conditional (pix2pix's): it judges
    ``torch.cat([x, y], dim=1)``, checks that the input x comes first (real and generated pairs
    may be judged one batch each or stacked into one) and scores y."""

    def __init__(self, channels: int | None = None, condition: Tensor | None = None):
        super().__init__()
        if (channels is None) == (condition is None):
            raise ValueError("give either channels (unconditional) or condition (conditional)")
        self.condition = None if condition is None else condition.detach().clone()
        self.channels = channels if condition is None else condition.shape[1]

    def forward(self, image: Tensor) -> Tensor:
        c = self.channels
        if self.condition is None:
            if image.ndim != 4 or image.shape[1] != c:
                raise AssertionError(f"D received shape {tuple(image.shape)}; this "
                                     f"discriminator judges one image (N, {c}, H, W)")
            return F.avg_pool2d(image.mean(1, keepdim=True), 2)
        x = self.condition
        if image.ndim != 4 or image.shape[1] != 2 * c:
            raise AssertionError(
                f"D received shape {tuple(image.shape)}; a conditional discriminator judges the "
                f"input and an output image together: torch.cat([x, y], dim=1), {2 * c} "
                f"channels here")
        n = x.shape[0]
        if image.shape[0] % n or image.shape[2:] != x.shape[2:] or not torch.equal(
                image[:, :c].detach(), x.repeat(image.shape[0] // n, 1, 1, 1)):
            raise AssertionError("D's input must start with the input image x: "
                                 "torch.cat([x, y], dim=1), not torch.cat([y, x], dim=1)")
        return F.avg_pool2d(image[:, c:].mean(1, keepdim=True), 2)


class Counted:
    """A function handed to a student's code in place of ``fn``: it calls ``fn`` and counts the
    calls, so that a check can tell whether the student used the argument as the notebook asks
    ("call the arguments") rather than a function of their own."""

    def __init__(self, fn: Callable):
        self.fn, self.calls = fn, 0
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


def assert_detached(out: dict, keys: Iterable[str], what: str) -> None:
    """The values of ``out`` under ``keys`` that are tensors carry no graph (what a training
    step returns for logging and for the next update must not keep the step's graph alive)."""
    attached = [key for key in keys if isinstance(out.get(key), Tensor) and out[key].requires_grad]
    if attached:
        raise AssertionError(f"{what} returned {', '.join(repr(k) for k in attached)} still "
                             f"attached to the graph: return .detach() (or .item() for a loss), "
                             f"so that the step's graph can be freed")


def random_patchgan(in_channels: int, ndf: int, n_layers: int, seed: int,
                    norm: str = "instance") -> nn.Module:
    """coursekit's PatchGAN with seeded random weights of std 0.2 (training starts at 0.02):
    its outputs are then of order 1, so that every term of a loss on them matters. Instance
    norm (the default) judges each image on its own: one batch or two is then the same."""
    from coursekit.nn import PatchGANDiscriminator, init_weights

    with seeded(seed):
        return init_weights(PatchGANDiscriminator(in_channels, ndf=ndf, n_layers=n_layers,
                                                  norm=norm), std=0.2)


@torch.no_grad()
def measure_receptive_field(net: nn.Module, in_channels: int, depth_hint: int = 8) -> int:
    """Side of the input square that one output unit of a fully convolutional ``net`` depends
    on, *measured*: backpropagate from one central output unit and find the input pixels that
    receive a non-zero gradient. Independent of how the net is written.

    ``net`` is put in eval mode (batch norm then mixes no positions) and left that way. The
    input grows until the measured square no longer touches its border."""
    net.eval()
    size = 64
    while size <= 4096:
        with torch.enable_grad():
            x = torch.randn(1, in_channels, size, size, dtype=torch.float64, requires_grad=True)
            out = net.double()(x)
            if out.ndim != 4 or out.shape[-1] < 1:
                raise AssertionError(f"the network's output has shape {tuple(out.shape)}; "
                                     "expected a map (N, 1, H, W)")
            h, w = out.shape[-2] // 2, out.shape[-1] // 2
            out[0, :, h, w].sum().backward()
        touched = x.grad[0].abs().sum(0) > 0
        net.float()
        rows = torch.nonzero(touched.any(1)).flatten()
        cols = torch.nonzero(touched.any(0)).flatten()
        if len(rows) == 0:
            raise AssertionError("the central output unit does not depend on the input at all")
        inside = rows.min() > 0 and cols.min() > 0 and rows.max() < size - 1 and cols.max() < size - 1
        if inside:
            return int(max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1))
        size *= 2
    raise AssertionError("the receptive field is larger than 4096 px")


# --------------------------------------------------------------------------- training runs
@dataclass(frozen=True)
class Threshold:
    """The pass mark of one score of a short training run, with the measurements it was set
    from: kept as data, so that the check, its message and the tests quote the same numbers."""

    #: The name of the score in the run's results, e.g. ``"cycle_ratio"``.
    key: str
    #: What is measured, in the words of the failure message.
    score: str
    limit: float
    higher_is_better: bool
    #: The range that a correct solution reaches, and the settings it was measured with.
    correct: tuple[float, float]
    measured: str
    #: The range without training (the broken step a mistake amounts to).
    untrained: tuple[float, float]

    def check(self, value: float, steps: int) -> None:
        passed = value >= self.limit if self.higher_is_better else value <= self.limit
        if not (math.isfinite(value) and passed):
            raise AssertionError(
                f"after {steps} training steps {self.score} is {value:.3f}; a correct solution "
                f"reaches {self.limit:g} or {'more' if self.higher_is_better else 'less'} "
                f"(measured {self.correct[0]:.2f}..{self.correct[1]:.2f}, and "
                f"{self.untrained[0]:.2f}..{self.untrained[1]:.2f} without training)")


def training_run(step: Callable[[int], Any], steps: int,
                 scores: Callable[[list], dict[str, float]], thresholds: Iterable[Threshold], *,
                 seconds: float) -> dict[str, float]:
    """A short training run that a check grades: ``step(k)`` for k = 0 .. steps - 1 within one
    time limit of ``seconds`` for the whole run (torch on one thread), then
    ``scores(history)`` (``history``: what the steps returned) gives the named scores, and each
    of ``thresholds`` must hold. Returns the scores."""
    with threads(1):
        with time_limit(seconds, "the training run"):
            history = [step(k) for k in range(steps)]
        results = scores(history)
    for threshold in thresholds:
        threshold.check(results[threshold.key], steps)
    return results


# --------------------------------------------------------------------------- hidden tests
class HiddenTestFailed(AssertionError):
    """A hidden test failed. Rendered in Jupyter as its message only (IPython's
    ``_render_traceback_`` hook), never with the hidden test's source lines."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def _library_dirs() -> tuple[str, ...]:
    dirs = {str(Path(__file__).resolve().parents[1]), str(Path(torch.__file__).resolve().parent)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(str(Path(path).resolve()))
    return tuple(sorted(dirs))


def _student_frames(tb, test_file: str) -> list[str]:
    """Lines of the traceback that are in the student's own code: not in the test cell that
    runs the hidden tests, nor in coursekit, torch or the standard library."""
    libraries = _library_dirs()
    lines = []
    for frame in traceback.extract_tb(tb):
        filename = frame.filename
        if filename == test_file:
            continue
        try:
            resolved = str(Path(filename).resolve())
        except (OSError, ValueError):
            resolved = filename
        if resolved.startswith(libraries) or filename.startswith("<frozen"):
            continue
        source = (frame.line or "").strip()
        lines.append(f"  in {frame.name}, line {frame.lineno}: {source}")
    return lines


class hidden_tests:  # noqa: N801  (used as a context manager: ``with hidden_tests():``)
    """Run hidden tests, with torch on one thread: any failure inside the block is re-raised
    as one :class:`HiddenTestFailed` whose message says what went wrong and where in the
    student's code, without the test's source (see the module docstring)."""

    def __enter__(self) -> "hidden_tests":
        self._test_file = sys._getframe(1).f_code.co_filename
        self._one_thread = threads(1)  # see one_thread
        self._one_thread.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._one_thread.__exit__(None, None, None)
        if exc is None or isinstance(exc, (SystemExit, GeneratorExit)):
            return False
        if isinstance(exc, KeyboardInterrupt):
            reason = "interrupted (the cell ran longer than the grader allows)"
        else:
            reason = f"{exc_type.__name__}: {exc}"
        where = _student_frames(tb, self._test_file)
        message = reason
        if where:
            message += "\nwhere, in your code:\n" + "\n".join(where)
        raise HiddenTestFailed(message) from None
