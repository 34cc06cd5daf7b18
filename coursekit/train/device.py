"""Choosing the device and the numeric precision of a training run.

``select_device("auto")`` prefers CUDA, then Apple's MPS, then the CPU; an explicit request
("cuda", "cuda:1", "mps", "cpu") is honoured or refused with an error that says why.

``autocast_context(device, precision)`` returns the context manager that runs the forward
passes in the requested precision:

- ``"fp32"``: no autocast (the default, and the reference behaviour).
- ``"bf16"``: ``torch.autocast`` with bfloat16. The documented option on CUDA (Ampere or newer):
  same exponent range as fp32, so no loss scaling is needed.
- ``"fp16"``: ``torch.autocast`` with float16. Its small exponent range makes small gradients
  underflow, so the loop pairs it with a ``torch.amp.GradScaler`` (see ``make_grad_scaler``).
"""
from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

PRECISIONS = ("fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


class DeviceUnavailableError(RuntimeError):
    """The requested accelerator does not exist on this machine or in this PyTorch build."""


def select_device(spec: str | torch.device = "auto") -> torch.device:
    """Return the ``torch.device`` to train on.

    Args:
        spec: ``"auto"`` (CUDA if available, else MPS, else CPU), ``"cuda"`` (the current CUDA
            device), ``"cuda:N"``, ``"mps"``, ``"cpu"``, or a ``torch.device``.

    Raises:
        ValueError: ``spec`` is not one of the forms above.
        DeviceUnavailableError: the requested accelerator is not available in this PyTorch
            installation or machine, or the CUDA index does not exist.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    if not isinstance(spec, str):
        raise ValueError(f"device must be a string such as 'auto', 'cuda', 'cuda:1', 'mps' or 'cpu', got {spec!r}")
    text = spec.strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not _mps_available():
            raise DeviceUnavailableError(
                "The device 'mps' was requested but Apple's MPS backend is not available on this "
                "machine (it needs an Apple-silicon Mac and a PyTorch build with MPS). Use the device "
                "'auto' or 'cpu' (device= in Python, --device on the command line)."
            )
        return torch.device("mps")
    if text == "cuda" or text.startswith("cuda:"):
        index_text = text[len("cuda:"):] if ":" in text else None
        if index_text is not None and not index_text.isdigit():
            raise ValueError(f"device={spec!r}: the CUDA index must be a non-negative integer, as in 'cuda:0'")
        if not torch.cuda.is_available():
            build = torch.version.cuda or "none (CPU-only build)"
            raise DeviceUnavailableError(
                f"The device {spec!r} was requested but CUDA is not available (torch "
                f"{torch.__version__}, CUDA in this build: {build}). Check `nvidia-smi` and that you "
                "installed a CUDA build of PyTorch, or use the device 'auto' (falls back to MPS/CPU) or "
                "'cpu' (device= in Python, --device on the command line)."
            )
        index = torch.cuda.current_device() if index_text is None else int(index_text)
        count = torch.cuda.device_count()
        if index >= count:
            raise DeviceUnavailableError(
                f"The device {spec!r} was requested but this machine has {count} CUDA device(s) "
                f"(valid indices 0..{count - 1})."
            )
        return torch.device("cuda", index)
    raise ValueError(f"Unknown device {spec!r}. Use 'auto', 'cuda', 'cuda:N', 'mps' or 'cpu'.")


#: Why fp16 on a CPU is refused by the command line and warned about by ``fit``.
FP16_ON_CPU = ("precision fp16 is for GPUs: on a CPU it trains about ten times slower than fp32 "
               "(autocast to float16 has no fast CPU kernels, and GradScaler skips steps for "
               "nothing). Use fp32 on a CPU (or bf16, which CPUs run natively), and fp16 or bf16 "
               "on a CUDA GPU.")


def check_precision(precision: str) -> str:
    """Return ``precision`` if it is one of ``PRECISIONS``, otherwise raise a ``ValueError``."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"Unknown precision {precision!r}. Use 'fp32' (default, safest), 'bf16' (autocast with "
            "bfloat16, recommended on recent NVIDIA GPUs) or 'fp16' (autocast with float16 plus a GradScaler)."
        )
    return precision


def autocast_context(device: torch.device, precision: str) -> ContextManager:
    """Context manager that runs the enclosed forward passes in ``precision`` on ``device``.

    Returns a no-op context for ``"fp32"``. Raises ``RuntimeError`` for bf16 on a CUDA GPU that
    does not support it (pre-Ampere), suggesting fp16 or fp32 instead.
    """
    check_precision(precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise RuntimeError(
            f"precision='bf16' was requested but {torch.cuda.get_device_name(device)} does not support "
            "bfloat16. Use precision='fp16' (with loss scaling) or 'fp32'."
        )
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[precision])


def make_grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """The GradScaler for a run: active for ``"fp16"``, a transparent no-op otherwise.

    A disabled scaler's ``scale(loss)`` returns ``loss`` unchanged and ``step(opt)`` just calls
    ``opt.step()``, so methods call it the same way whatever the precision.
    """
    check_precision(precision)
    return torch.amp.GradScaler(device.type, enabled=(precision == "fp16"))
