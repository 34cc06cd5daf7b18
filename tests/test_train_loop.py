"""Tests of coursekit.train in one process on the CPU: schedule, device, data order, checkpoints,
exact resume, Ctrl-C, NaN handling, outputs, and the Method contract."""
from __future__ import annotations

import json
import os
import random
import signal

import numpy as np
import pytest
import torch
from PIL import Image

import coursekit.train.loop as loop_module
from coursekit.train import (
    CheckpointError,
    LinearDecay,
    Method,
    NonFiniteLossError,
    ShardedEpochSampler,
    TrainConfig,
    autocast_context,
    capture_rng_state,
    fit,
    load_checkpoint,
    load_weights,
    make_grad_scaler,
    preserve_rng,
    restore_rng_state,
    save_checkpoint,
    save_sample_grid,
    seed_everything,
    select_device,
    steps_from_epochs,
)
from coursekit.train.checkpoint import FORMAT
from toy_method import PairedToyDataset, ToyGAN, plain_state

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_thread():
    # Bitwise comparisons between runs need the same reduction splits; one thread is also what
    # the shared CI machine can afford.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def new_toy(**kwargs) -> ToyGAN:
    seed_everything(0)  # identical initial weights for every run of a test
    return ToyGAN(**kwargs)


def config(tmp_path, name="run", **overrides) -> TrainConfig:
    # 12 items, batch 5: batches of 5, 5 and 2 (3 per epoch); 10 steps span 4 epochs. Sample grids
    # every 3 steps: ToyGAN draws noise for them, which must not disturb the training streams.
    values = dict(steps=10, decay_steps=4, batch_size=5, out_dir=tmp_path / name, device="cpu", progress=False,
                  log_every=1, sample_every=3, checkpoint_every=0)
    values.update(overrides)
    return TrainConfig(**values)


def raise_at(call_number: int, phase: str = "start", error: type[BaseException] = KeyboardInterrupt):
    """A ToyGAN.on_step hook raising ``error`` at the given training_step call and phase."""
    def hook(call: int, current_phase: str) -> None:
        if (call, current_phase) == (call_number, phase):
            raise error("raised by the test")
    return hook


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def metric_lines(path) -> list[dict]:
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def uninterrupted(tmp_path):
    """Final state and checkpoint of the reference run (never interrupted)."""
    method = new_toy()
    fit(method, PairedToyDataset(), config(tmp_path, "reference"))
    return plain_state(method), load_checkpoint(tmp_path / "reference" / "latest.pt")


# --------------------------------------------------------------------------- schedule
def test_linear_decay_at_its_boundaries():
    rule = LinearDecay(steps=10, decay_steps=4)  # 6 constant steps, then 4 decaying
    assert [rule(t) for t in range(6)] == [1.0] * 6
    # approx: 1 - k/5 in float64 is within an ulp of the decimal value
    assert rule(6) == pytest.approx(0.8, rel=1e-12)  # first decaying step: 1 - 1/(4+1)
    assert rule(9) == pytest.approx(0.2, rel=1e-12)  # last step: 1/(4+1), not wasted at 0
    assert rule(10) == 0.0  # reached once training is over


def test_one_batch_per_epoch_reproduces_the_reference_rule():
    # Reference (lr_policy='linear', n_epochs=3, n_epochs_decay=2, scheduler stepped after each
    # epoch): 1 - max(0, epoch + 1 - 3) / 3 for epoch = 0..4, i.e. 1, 1, 1, 2/3, 1/3.
    steps, decay = steps_from_epochs(3, 2, batches_per_epoch=1)
    rule = LinearDecay(steps, decay)
    assert [rule(t) for t in range(5)] == pytest.approx([1, 1, 1, 2 / 3, 1 / 3], rel=1e-12)  # float rounding only


def test_per_step_rate_sweeps_through_the_reference_value_of_each_epoch():
    batches = 4
    rule = LinearDecay(*steps_from_epochs(3, 2, batches))
    for k, reference in enumerate([2 / 3, 1 / 3]):  # the two decaying epochs
        first, last = 3 * batches + k * batches, 3 * batches + (k + 1) * batches - 1
        assert rule(first) >= reference >= rule(last)


def test_steps_from_epochs_uses_the_loader_length():
    assert steps_from_epochs(100, 100, batches_per_epoch=3) == (600, 300)


def test_fit_applies_the_schedule_per_step(tmp_path):
    # epochs=1 + epochs_decay=1 with 3 batches per epoch -> 6 steps, the last 3 decaying.
    result = fit(new_toy(), PairedToyDataset(), config(tmp_path, steps=None, decay_steps=0, epochs=1, epochs_decay=1))
    assert result.total_steps == 6
    lrs = [line["lr"]["G"] for line in metric_lines(tmp_path / "run")]
    # 2e-4 times 1, 1, 1, 3/4, 2/4, 1/4 (rel: float rounding of the products)
    assert lrs == pytest.approx([2e-4, 2e-4, 2e-4, 1.5e-4, 1e-4, 5e-5], rel=1e-9)


# --------------------------------------------------------------------------- config and device
@pytest.mark.parametrize("kwargs, message", [
    (dict(), "either as steps"),
    (dict(steps=10, epochs=2), "not both"),
    (dict(steps=10, decay_steps=11), "decay_steps must be between"),
    (dict(steps=10, precision="fp8"), "Unknown precision"),
    (dict(steps=10, batch_size=0), "batch_size"),
    (dict(epochs=1, decay_steps=3), "epochs_decay"),
])
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_select_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device("auto") == CPU
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert select_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert select_device("auto") == torch.device("cuda", 0)
    assert select_device("cpu") == CPU  # explicit choice wins


def test_select_device_explains_what_is_wrong(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        select_device("cuda")
    with pytest.raises(ValueError, match="Unknown device"):
        select_device("gpu")
    with pytest.raises(ValueError, match="non-negative integer"):
        select_device("cuda:x")


def test_autocast_context_sets_the_compute_dtype():
    a, b = torch.ones(4, 4), torch.ones(4, 4)
    with autocast_context(CPU, "fp32"):
        assert (a @ b).dtype == torch.float32
    with autocast_context(CPU, "bf16"):
        assert (a @ b).dtype == torch.bfloat16
    assert [make_grad_scaler(CPU, p).is_enabled() for p in ("fp32", "bf16", "fp16")] == [False, False, True]


# --------------------------------------------------------------------------- data order and RNG
def test_epoch_order_depends_only_on_seed_and_epoch():
    def order(seed, epoch, start_batch=0):
        sampler = ShardedEpochSampler(12, batch_size=5, seed=seed)
        sampler.set_epoch(epoch, start_batch)
        return list(sampler)

    assert sorted(order(0, 0)) == list(range(12))
    assert order(0, 1) == order(0, 1)
    assert order(0, 1) != order(0, 2)
    assert order(0, 1) != order(1, 1)
    assert order(0, 1, start_batch=2) == order(0, 1)[10:]  # skips the first two batches of 5
    with pytest.raises(ValueError, match="start_batch"):
        ShardedEpochSampler(12, batch_size=5, seed=0).set_epoch(0, start_batch=3)


def test_rng_state_round_trip_covers_python_numpy_and_torch():
    state = capture_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(3))
    restore_rng_state(state)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])
    with preserve_rng():
        torch.rand(5), random.random(), np.random.rand()
    third = (random.random(), np.random.rand(), torch.rand(3))
    assert third[:2] != second[:2]  # the streams moved on from `second` ...
    restore_rng_state(state)
    random.random(), np.random.rand(), torch.rand(3)
    assert (random.random(), np.random.rand()) == third[:2]  # ... exactly as if preserve_rng never ran


# --------------------------------------------------------------------------- checkpoint files
def test_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    save_checkpoint({"format": FORMAT, "value": 1}, path)

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"format": FORMAT, "value": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["value"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]  # no temporary file left behind


def test_load_weights_restores_a_trained_method(tmp_path, uninterrupted):
    final, _ = uninterrupted
    method = ToyGAN()
    checkpoint = load_weights(method, tmp_path / "reference" / "latest.pt")
    assert checkpoint["progress"]["step"] == 10
    assert_same_state(plain_state(method), final)
    with pytest.raises(CheckpointError, match="holds a .*ToyGAN"):
        load_weights(OtherGAN(), tmp_path / "reference" / "latest.pt")


def test_damaged_checkpoint_gives_a_clear_error(tmp_path):
    (tmp_path / "latest.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(tmp_path / "latest.pt")


# --------------------------------------------------------------------------- outputs of fit
def test_fit_writes_metrics_samples_and_checkpoints(tmp_path):
    result = fit(new_toy(), PairedToyDataset(),
                 config(tmp_path, steps=6, decay_steps=0, log_every=2, sample_every=3, keep_every=3))
    out = tmp_path / "run"
    assert result.finished and not result.interrupted and result.checkpoint == out / "latest.pt"
    lines = metric_lines(out)
    assert [line["step"] for line in lines] == [2, 4, 6]
    assert [line["epoch"] for line in lines] == [0, 1, 1]  # 3 batches per epoch
    assert set(lines[0]) == {"step", "epoch", "lr", "losses", "seconds"}
    assert set(lines[0]["losses"]) == {"D", "G_GAN", "G_L1"} and set(lines[0]["lr"]) == {"G", "D"}
    assert sorted(p.name for p in (out / "samples").iterdir()) == \
        ["step_000000.png", "step_000003.png", "step_000006.png"]
    # 4 samples x 4 visuals of 16x16 with 2-pixel padding: 4*16 + 5*2 wide and high
    assert Image.open(out / "samples" / "step_000006.png").size == (74, 74)
    assert sorted(p.name for p in out.glob("*.pt")) == ["latest.pt", "step_000003.pt", "step_000006.pt"]
    checkpoint = load_checkpoint(out / "latest.pt")
    assert checkpoint["progress"]["step"] == 6
    assert (checkpoint["progress"]["epoch"], checkpoint["progress"]["batch_in_epoch"]) == (2, 0)
    assert set(checkpoint["optimizers"]) == set(checkpoint["schedulers"]) == {"G", "D"}
    assert checkpoint["scaler"] == {}  # fp32: the no-op scaler has no state
    assert "G.1.running_mean" in checkpoint["method"]  # BatchNorm statistics are saved too


def test_fp16_saves_the_grad_scaler_and_bf16_trains(tmp_path):
    # fp16 on a CPU trains (here: the only place its GradScaler can be tested without a GPU),
    # with a warning that it is for GPUs; the command line refuses it (tests/test_cli_errors.py).
    with pytest.warns(UserWarning, match="fp16 is for GPUs"):
        fit(new_toy(), PairedToyDataset(), config(tmp_path, "fp16", steps=3, decay_steps=0,
                                                  precision="fp16"))
    scaler = load_checkpoint(tmp_path / "fp16" / "latest.pt")["scaler"]
    assert scaler["scale"] > 0 and scaler["_growth_tracker"] == 6  # 3 steps x (D + G) updates
    method = new_toy()
    fit(method, PairedToyDataset(), config(tmp_path, "bf16", steps=3, decay_steps=0, precision="bf16"))
    assert all(torch.isfinite(v).all() for v in plain_state(method).values() if v.is_floating_point())


def test_eval_dataset_is_evaluated_at_the_end(tmp_path):
    result = fit(new_toy(), PairedToyDataset(), config(tmp_path, steps=3, decay_steps=0),
                 eval_dataset=PairedToyDataset(size=4))
    assert set(result.eval_metrics) == {"L1"} and result.eval_metrics["L1"] > 0
    assert metric_lines(tmp_path / "run")[-1]["eval"] == result.eval_metrics


# --------------------------------------------------------------------------- exact resume
def test_keyboard_interrupt_then_resume_is_bitwise_exact(tmp_path, uninterrupted, capsys):
    final, reference_checkpoint = uninterrupted
    method = new_toy()
    method.on_step = raise_at(5)  # step 5 = epoch 1, second batch: mid-epoch
    first = fit(method, PairedToyDataset(), config(tmp_path))
    assert first.interrupted and first.step == 4
    assert "resume=True" in capsys.readouterr().out
    checkpoint = load_checkpoint(tmp_path / "run" / "latest.pt")
    assert (checkpoint["progress"]["epoch"], checkpoint["progress"]["batch_in_epoch"]) == (1, 1)
    assert checkpoint["partial_step"] is False

    resumed = ToyGAN(width=8)  # fresh weights: everything must come from the checkpoint
    second = fit(resumed, PairedToyDataset(), config(tmp_path, resume=True))
    assert second.finished and not second.interrupted
    assert_same_state(plain_state(resumed), final)
    for name in ("G", "D"):  # Adam moments and step counts too
        for a, b in zip(load_checkpoint(tmp_path / "run" / "latest.pt")["optimizers"][name]["state"].values(),
                        reference_checkpoint["optimizers"][name]["state"].values()):
            assert_same_state(a, b)
    assert [line["step"] for line in metric_lines(tmp_path / "run")] == list(range(1, 11))


def test_resume_without_the_random_state_would_differ(tmp_path, uninterrupted, monkeypatch):
    # Control for the test above: dropout and random flips make the trajectory depend on the
    # saved random state, so equality there is not an accident.
    final, _ = uninterrupted
    method = new_toy()
    method.on_step = raise_at(5)
    fit(method, PairedToyDataset(), config(tmp_path))
    monkeypatch.setattr(loop_module, "restore_rng_state", lambda state: None)
    resumed = new_toy()
    fit(resumed, PairedToyDataset(), config(tmp_path, resume=True))
    state = plain_state(resumed)
    assert not all(torch.equal(state[key], final[key]) for key in final)


def test_sample_grids_and_evaluation_do_not_change_the_trajectory(tmp_path, uninterrupted):
    # ToyGAN's visuals draw noise; sample_every may change between sessions (it is not part of
    # the run's identity), so drawing grids more or less often must not matter.
    final, _ = uninterrupted  # sample_every=3
    method = new_toy()
    fit(method, PairedToyDataset(), config(tmp_path, sample_every=1, eval_every=2), eval_dataset=PairedToyDataset(4))
    assert_same_state(plain_state(method), final)


def test_sigint_finishes_the_step_saves_and_resume_is_exact(tmp_path, uninterrupted):
    final, _ = uninterrupted
    handler_before = signal.getsignal(signal.SIGINT)
    method = new_toy()
    method.on_step = lambda call, phase: os.kill(os.getpid(), signal.SIGINT) if (call, phase) == (5, "start") else None
    first = fit(method, PairedToyDataset(), config(tmp_path))
    assert first.interrupted and first.step == 5  # the interrupted step was completed
    assert signal.getsignal(signal.SIGINT) is handler_before
    resumed = new_toy()
    fit(resumed, PairedToyDataset(), config(tmp_path, resume=True))
    assert_same_state(plain_state(resumed), final)


def test_interrupt_in_the_middle_of_a_step_still_saves(tmp_path):
    method = new_toy()
    method.on_step = raise_at(5, "after_D")
    first = fit(method, PairedToyDataset(), config(tmp_path))
    assert first.interrupted and first.step == 5  # D was already updated: the step counts as done
    assert load_checkpoint(tmp_path / "run" / "latest.pt")["partial_step"] is True
    second = fit(new_toy(), PairedToyDataset(), config(tmp_path, resume=True))
    assert second.finished and second.step == 10


def test_crash_recovery_drops_metric_lines_of_lost_steps(tmp_path, uninterrupted):
    final, _ = uninterrupted
    method = new_toy()
    method.on_step = raise_at(7, error=RuntimeError)
    with pytest.raises(RuntimeError, match="raised by the test"):
        fit(method, PairedToyDataset(), config(tmp_path, checkpoint_every=4))
    assert [line["step"] for line in metric_lines(tmp_path / "run")] == [1, 2, 3, 4, 5, 6]
    resumed = new_toy()
    fit(resumed, PairedToyDataset(), config(tmp_path, checkpoint_every=4, resume=True))
    assert [line["step"] for line in metric_lines(tmp_path / "run")] == list(range(1, 11))
    assert_same_state(plain_state(resumed), final)  # a checkpoint at a step boundary resumes exactly


def test_worker_processes_give_a_repeatable_run_and_exact_resume_at_epoch_ends(tmp_path):
    # With num_workers > 0 the flips are drawn in the workers, seeded from (seed, epoch, rank):
    # runs repeat, and a resume at an epoch boundary is exact (mid-epoch it is not, see loop.py).
    runs = []
    for name in ("a", "b"):
        method = new_toy()
        fit(method, PairedToyDataset(), config(tmp_path, name, num_workers=2))
        runs.append(plain_state(method))
    assert_same_state(runs[0], runs[1])
    method = new_toy()
    method.on_step = raise_at(4)  # steps 1-3 are epoch 0
    fit(method, PairedToyDataset(), config(tmp_path, "c", num_workers=2))
    resumed = new_toy()
    fit(resumed, PairedToyDataset(), config(tmp_path, "c", num_workers=2, resume=True))
    assert_same_state(plain_state(resumed), runs[0])


# --------------------------------------------------------------------------- failures
def test_nan_loss_stops_with_a_clear_error_and_keeps_the_checkpoint(tmp_path):
    method = new_toy()
    method.nan_at_call = 5
    with pytest.raises(NonFiniteLossError, match=r"step 5 .*'G_GAN' = nan.*learning rate.*fp32"):
        fit(method, PairedToyDataset(), config(tmp_path, checkpoint_every=3))
    checkpoint = load_checkpoint(tmp_path / "run" / "latest.pt")
    assert checkpoint["progress"]["step"] == 3
    assert all(torch.isfinite(v).all() for v in checkpoint["method"].values() if v.is_floating_point())


def test_existing_run_is_not_overwritten_without_resume(tmp_path):
    fit(new_toy(), PairedToyDataset(), config(tmp_path, steps=2, decay_steps=0))
    with pytest.raises(FileExistsError, match="resume=True"):
        fit(new_toy(), PairedToyDataset(), config(tmp_path, steps=2, decay_steps=0))


def test_a_finished_run_with_a_constant_rate_trains_longer_exactly(tmp_path):
    """With no decay the length only says when to stop: 6 steps resumed to 10 are the 10-step
    run, bit for bit (weights and Adam moments)."""
    reference = new_toy()
    fit(reference, PairedToyDataset(), config(tmp_path, "reference", decay_steps=0))
    first = fit(new_toy(), PairedToyDataset(), config(tmp_path, steps=6, decay_steps=0))
    assert first.finished and first.step == 6
    longer = ToyGAN(width=8)  # fresh weights: everything must come from the checkpoint
    second = fit(longer, PairedToyDataset(), config(tmp_path, steps=10, decay_steps=0, resume=True))
    assert second.finished and second.step == 10
    assert_same_state(plain_state(longer), plain_state(reference))
    assert [line["step"] for line in metric_lines(tmp_path / "run")] == list(range(1, 11))


def test_a_decaying_run_cannot_change_its_length(tmp_path):
    """With a decay, the rate at every step depends on the length: a longer run is another run."""
    fit(new_toy(), PairedToyDataset(), config(tmp_path, steps=6, decay_steps=2))
    with pytest.raises(CheckpointError, match=r"steps: checkpoint 6, now 10"):
        fit(new_toy(), PairedToyDataset(), config(tmp_path, steps=10, decay_steps=2, resume=True))
    fit(new_toy(), PairedToyDataset(), config(tmp_path, "short", steps=6, decay_steps=0))
    with pytest.raises(CheckpointError, match=r"steps: checkpoint 6, now 4"):  # never shorter
        fit(new_toy(), PairedToyDataset(), config(tmp_path, "short", steps=4, decay_steps=0,
                                                  resume=True))


class OtherGAN(ToyGAN):
    pass


@pytest.mark.parametrize("method_factory, overrides, message", [
    (lambda: OtherGAN(), {}, "written by the method .*ToyGAN"),
    (lambda: ToyGAN(), {"batch_size": 4}, r"batch_size: checkpoint 5, now 4"),
    (lambda: ToyGAN(width=4), {}, "do not fit ToyGAN"),
])
def test_resume_refuses_an_incompatible_checkpoint(tmp_path, method_factory, overrides, message):
    method = new_toy()
    method.on_step = raise_at(3)
    fit(method, PairedToyDataset(), config(tmp_path))
    with pytest.raises(CheckpointError, match=message):
        fit(method_factory(), PairedToyDataset(), config(tmp_path, resume=True, **overrides))


# --------------------------------------------------------------------------- Method contract
def test_default_networks_are_the_children_with_parameters():
    assert set(ToyGAN().networks()) == {"G", "D"}  # the BCE loss module has no parameters


def test_backward_and_step_updates_only_the_named_network():
    method = new_toy()
    before = plain_state(method)
    batch = PairedToyDataset()[0]
    fake = method.G(batch["A"][None])
    loss = method._gan(method.D(torch.cat([batch["A"][None], fake.detach()], 1)), False)
    method.backward_and_step(loss, "D")  # outside fit: optimizers created on first use
    after = plain_state(method)
    assert not torch.equal(after["D.0.weight"], before["D.0.weight"])
    assert torch.equal(after["G.0.weight"], before["G.0.weight"])


def test_backward_and_step_explains_mistakes():
    method = new_toy()
    x = torch.zeros(1, 3, 16, 16)
    with pytest.raises(KeyError, match=r"configure_optimizers\(\) returned \['D', 'G'\]"):
        method.backward_and_step(method.G(x).mean(), "generator")
    with torch.no_grad():
        frozen = method.G(x).mean()
    with pytest.raises(RuntimeError, match="does not require gradients"):
        method.backward_and_step(frozen, "G")


def test_training_step_must_return_a_dict_of_losses(tmp_path):
    class NoDict(ToyGAN):
        def training_step(self, batch):
            super().training_step(batch)
            return 1.0

    with pytest.raises(TypeError, match="must return a dict"):
        fit(NoDict(), PairedToyDataset(), config(tmp_path, steps=1, decay_steps=0))


def test_eval_dataset_needs_an_evaluate_method(tmp_path):
    class NoEval(Method):
        pass

    with pytest.raises(ValueError, match="does not implement evaluate"):
        fit(NoEval(), PairedToyDataset(), config(tmp_path), eval_dataset=PairedToyDataset())


def test_sample_grid_rejects_mismatched_images(tmp_path):
    with pytest.raises(ValueError, match="share N, H and W"):
        save_sample_grid({"a": torch.zeros(2, 3, 16, 16), "b": torch.zeros(2, 3, 8, 8)}, tmp_path / "x.png")


def test_a_restart_removes_what_killed_saves_left_and_logs_each_step_once(tmp_path):
    """A process killed mid-save leaves ``.latest.pt.XXXX.tmp`` (and sample) temporaries; one
    killed before its first checkpoint leaves metric lines that a restart from step 0 logs
    again. The next fit in that folder removes the temporaries and starts metrics.jsonl anew."""
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / ".latest.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    (run / "samples" / ".step_000003.png.xyz.tmp").write_bytes(b"half a picture")
    (run / "notes.tmp").write_text("not ours")  # not a temporary of atomic_write_bytes: kept
    (run / "metrics.jsonl").write_text('{"step": 1, "losses": {}}\n{"step": 2, "losses": {}}\n')
    fit(new_toy(), PairedToyDataset(), config(tmp_path, steps=4, decay_steps=0, resume=True))
    assert sorted(p.name for p in run.rglob("*.tmp")) == ["notes.tmp"]
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_cli_wording_of_resume_messages(tmp_path, capsys):
    """With ``resume_command`` (the command line passes it), the messages about continuing a run
    quote the command, not the Python call."""
    command = "coursekit train toy --out run --resume"
    fit(new_toy(), PairedToyDataset(), config(tmp_path, steps=2, decay_steps=0))
    with pytest.raises(FileExistsError) as error:
        fit(new_toy(), PairedToyDataset(), config(tmp_path, steps=2, decay_steps=0),
            resume_command=command)
    assert command in str(error.value) and "--out" in str(error.value)
    assert "TrainConfig" not in str(error.value) and "out_dir" not in str(error.value)
