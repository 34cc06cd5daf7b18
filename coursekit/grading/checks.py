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

An assignment's checks module ends with ``one_thread_checks(globals())``: each of its
``check_*`` functions then runs with torch on one thread (:func:`one_thread`).

Hidden tests run inside ``with hidden_tests():``. A failure there is shown as one message
(what went wrong, and where in the student's own code) without the test's source, so neither
the graded notebook nor the feedback reveals the hidden cases (IPython would otherwise print
the lines around the failing one).
"""
from __future__ import annotations

import contextlib
import functools
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
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import Tensor, nn

__all__ = [
    "CALL_SECONDS",
    "HiddenTestFailed",
    "ReferenceUsed",
    "StudentTimeout",
    "assert_close",
    "assert_gradients_match",
    "assert_weights_match",
    "backward_discriminator_loss",
    "call_student",
    "count_parameters",
    "describe_layers",
    "explain_missing_gradient",
    "forbid",
    "gan_adam",
    "hidden_tests",
    "largest",
    "measure_receptive_field",
    "one_thread",
    "one_thread_checks",
    "parameter_modules",
    "quiet",
    "random_images",
    "require_keys",
    "seeded",
    "threads",
    "time_limit",
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
    worker threads made checks up to 100x slower (measured: 24 s instead of 0.3 s for
    three CycleGAN generator steps at load 14 on 2 cores). Results then do not depend on the
    machine's thread count either."""

    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        with threads(1):
            return check(*args, **kwargs)

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
    """``fn(*args, **kwargs)`` with coursekit's reference for ``part`` refused, a time limit and
    warnings silenced. A function that ran out of time before is not run again."""
    name = getattr(fn, "__name__", repr(fn))
    if not callable(fn):
        raise TypeError(f"{name} should be a function, got {type(fn).__name__}")
    if _timed_out_before(fn):
        raise StudentTimeout(f"{name} did not finish in an earlier test, so it is not run again "
                             f"(fix the endless loop and re-run the cell that defines it)")
    limit = CALL_SECONDS if seconds is None else seconds
    try:
        with forbid(forbidden, part), time_limit(limit, name), quiet():
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
    scale = max(largest(reference) for _, _, reference in grads)
    for name, grad, reference in grads:
        if grad is None:
            raise AssertionError(missing.format(name=name))
        assert_close(grad, reference, atol=1e-5 * scale, rtol=1e-4, what=what.format(name=name))


def assert_weights_match(nets: Iterable[tuple[str, nn.Module, nn.Module]], *, lr: float,
                         step: int) -> None:
    """After ``step`` optimizer steps with learning rate ``lr``, each ``(name, network,
    reference)`` has the weights of the reference trained by correct steps. Adam moves every
    weight by about lr per step, so a wrong step is off by ~lr in many weights; the same
    computation differs by float32 rounding of the weights (~1e-9). lr / 100 separates the
    two."""
    for name, net, reference in nets:
        for (pname, p), q in zip(net.named_parameters(), reference.parameters()):
            assert_close(p.detach(), q.detach(), atol=lr / 100, rtol=0,
                         what=f"after step {step}, {name}'s weight {pname} (compared with a "
                              f"correct step)")


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
    """Run hidden tests: any failure inside the block is re-raised as one
    :class:`HiddenTestFailed` whose message says what went wrong and where in the student's
    code, without the test's source (see the module docstring)."""

    def __enter__(self) -> "hidden_tests":
        self._test_file = sys._getframe(1).f_code.co_filename
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
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
