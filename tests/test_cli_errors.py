"""The command line under bad input and faults, as a user meets them: the real ``coursekit``
entry point in a subprocess. For a user's mistake: the exit status, no traceback, and the words
of the message that tell what was wrong and what to do (in the command line's own terms:
``--out``, ``--resume``, not ``out_dir`` or ``TrainConfig``). For faults (kill -9, Ctrl-C, a
full disk): nothing is lost, nothing is left behind, nothing is counted twice. docs/cli.md
lists every case with its message.

Subprocesses: slow. The training runs use the CPU presets with a few steps; the runs that
must save often use CycleGAN's fast preset (a 9 MB checkpoint).
"""
from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.slow

COURSEKIT = str(Path(sys.executable).parent / "coursekit")


def coursekit(*args: str, cwd: Path, env: dict | None = None, timeout: float = 300,
              **kwargs) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([COURSEKIT, *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([COURSEKIT, *args], cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, seconds: float = 120, every: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the run did not get there in time")
        time.sleep(every)


def saved_step(run: Path) -> int:
    """The step of run/latest.pt (-1 if there is none yet)."""
    path = run / "latest.pt"
    return torch.load(path, weights_only=True)["progress"]["step"] if path.exists() else -1


def user_error(proc: subprocess.CompletedProcess, *words: str, code: int = 1) -> str:
    """The run failed as a user's mistake should: ``code``, one ``coursekit: error:`` line
    with ``words`` in it, no traceback. Returns the message."""
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("coursekit: error:")]
    assert len(errors) == 1, proc.stderr[-2000:]
    for word in words:
        assert word in errors[0], (word, errors[0])
    return errors[0]


def images(folder: Path, count: int, width: int, height: int, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        pixels = (rng.random((height, width, 3)) * 255).astype("uint8")
        Image.fromarray(pixels).save(folder / f"{i}.png")


def metric_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
            if "losses" in line]


def temporaries(run: Path) -> list[Path]:
    return sorted(run.rglob("*.tmp"))


# ------------------------------------------------------------------- silent wrong answers
def test_eval_scores_the_data_the_run_was_trained_on(tmp_path):
    images(tmp_path / "mine" / "train", 4, 64, 32)
    images(tmp_path / "mine" / "test", 3, 64, 32, seed=1)
    train = coursekit("train", "pix2pix", "--data", "mine", "--steps", "2", "--out", "run",
                      cwd=tmp_path)
    assert train.returncode == 0, train.stderr[-2000:]
    command = train.stdout.strip().splitlines()[-1].split("score it: ")[1]
    proc = coursekit(*command.split()[1:], "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # Scored on the folder (3 test items; a folder of real photos has no ground-truth labels,
    # so only the L1 score), not on synthetic-facades, and it says so.
    where = f"on {(tmp_path / 'mine').resolve()}, split test (3 items; the data it was trained on)"
    assert where in proc.stderr
    assert set(json.loads(proc.stdout)) == {"l1"}
    synthetic = coursekit("eval", "pix2pix", "--checkpoint", "run/latest.pt", "--data",
                          "synthetic-facades", cwd=tmp_path)
    assert "on synthetic-facades, split test (100 items; --data)" in synthetic.stdout


def test_square_images_are_not_taken_for_aligned_pairs(tmp_path):
    images(tmp_path / "square" / "train", 2, 64, 64)
    proc = coursekit("train", "pix2pix", "--data", "square", "--steps", "2", "--out", "run",
                     cwd=tmp_path)
    user_error(proc, "64x64 px", "halves would be 32x64", "A/train/", "trainA/")
    assert not (tmp_path / "run").exists()


def test_a_paired_method_refuses_unpaired_data(tmp_path):
    proc = coursekit("train", "pix2pix", "--data", "synthetic-zebras", "--steps", "2",
                     "--out", "run", cwd=tmp_path)
    user_error(proc, "pix2pix learns from pairs", "synthetic-zebras is unpaired",
               "synthetic-facades", "cyclegan")


def test_kill_9_leaves_no_temporary_files_after_a_restart(tmp_path):
    """A run saving at every step is killed (SIGKILL) twice at moments that vary with the
    machine's speed; a temporary file such as an interrupted save leaves is planted as well,
    so that the clean-up is exercised whatever the kills hit. The restart removes them all,
    and the checkpoint it resumes from is whole."""
    run = tmp_path / "run"
    for kill in range(2):
        args = ["train", "cyclegan", "--steps", "400", "--checkpoint-every", "1", "--out", "run"]
        proc = start(*args, *(["--resume"] if kill else []), cwd=tmp_path)
        wait_for(lambda: saved_step(run) >= 3 + 5 * kill, every=0.25)
        time.sleep(0.3 + 0.37 * kill)  # into the middle of some step or save
        proc.kill()
        proc.wait()
    (run / ".latest.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")
    (run / "samples" / ".step_000000.png.k1ll3d.tmp").write_bytes(b"half a picture")
    step = saved_step(run)
    resumed = start("train", "cyclegan", "--out", "run", "--resume", cwd=tmp_path)
    wait_for(lambda: saved_step(run) > step, every=0.25)
    resumed.send_signal(signal.SIGINT)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 130, err[-2000:]
    assert f"Resuming from run/latest.pt at step {step}/400" in out
    removed = re.search(r"Removed (\d+) unfinished temporary file", out)
    assert removed and int(removed.group(1)) >= 2, out[-2000:]  # the two planted, at least
    assert temporaries(run) == []


def test_a_run_killed_before_its_first_checkpoint_logs_each_step_once(tmp_path):
    """Killed after logging step 50 but before any checkpoint (CycleGAN's fast preset saves at
    step 200): the resumed run starts from step 0, and metrics.jsonl does not keep the old
    lines beside the new ones."""
    run = tmp_path / "run"
    proc = start("train", "cyclegan", "--steps", "120", "--out", "run", cwd=tmp_path)
    wait_for(lambda: (run / "metrics.jsonl").exists() and metric_steps(run))
    proc.kill()
    proc.wait()
    assert not (run / "latest.pt").exists() and metric_steps(run) == [50]
    again = coursekit("train", "cyclegan", "--steps", "120", "--out", "run", "--resume",
                      cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "No checkpoint in run; starting from step 0" in again.stdout
    assert metric_steps(run) == [50, 100, 120]


# ------------------------------------------------------------------- errors a user can act on
@pytest.mark.parametrize("device, words", [
    ("cuda", ("'cuda'", "CUDA is not available", "--device")),
    ("mps", ("'mps'", "MPS", "--device"))])
def test_a_missing_accelerator(tmp_path, device, words):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = coursekit("train", "pix2pix", "--device", device, "--steps", "2", "--out", "run",
                     cwd=tmp_path)
    user_error(proc, *words)
    assert not (tmp_path / "run").exists()


def test_out_that_cannot_be_a_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("a file")
    user_error(coursekit("train", "pix2pix", "--out", "notes.txt", cwd=tmp_path),
               "--out notes.txt", "is a file, not a folder", "Choose another --out")
    user_error(coursekit("train", "pix2pix", "--out", "notes.txt/run", cwd=tmp_path),
               "--out notes.txt/run", "notes.txt is a file, so no folder can be made inside it")
    user_error(coursekit("train", "pix2pix", "--out", "/proc/coursekit-run", cwd=tmp_path),
               "--out /proc/coursekit-run", "cannot write into")
    assert (tmp_path / "notes.txt").read_text() == "a file"


def test_an_unwritable_data_folder(tmp_path):
    (tmp_path / "afile").write_text("")
    proc = coursekit("data", "download", "facades", cwd=tmp_path,
                     env={"COURSEKIT_DATA": str(tmp_path / "afile")})
    user_error(proc, "COURSEKIT_DATA", "is a file", "--root DIR")
    proc = coursekit("data", "download", "facades", "--root", "/proc/coursekit-data",
                     cwd=tmp_path)
    user_error(proc, "--root /proc/coursekit-data", "cannot write into")


def test_a_full_disk_during_a_save_keeps_the_previous_checkpoint(tmp_path):
    """The resumed run may write no file larger than 200 kB (RLIMIT_FSIZE: the write fails
    with EFBIG, as it would with ENOSPC on a full disk), so its first checkpoint cannot be
    written: it stops with a message that says the previous one is intact, and it is."""
    run = tmp_path / "run"
    first = start("train", "cyclegan", "--steps", "400", "--checkpoint-every", "2", "--out",
                  "run", cwd=tmp_path)
    wait_for(lambda: (run / "latest.pt").exists())
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=120)
    assert first.returncode == 130
    step = saved_step(run)

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = coursekit("train", "cyclegan", "--out", "run", "--resume", cwd=tmp_path,
                     preexec_fn=small_files)
    user_error(proc, "Could not write the checkpoint", "File too large",
               f"The previous checkpoint, run/latest.pt (step {step}), is intact",
               "coursekit train cyclegan --out run --resume")
    assert saved_step(run) == step
    assert temporaries(run) == []


def test_preview_of_no_items(tmp_path):
    user_error(coursekit("data", "preview", "synthetic-facades", "--n", "0", "--out", "p.png",
                         cwd=tmp_path), "--n 0", "at least one", code=2)


def test_one_folder_of_images_is_not_training_data(tmp_path):
    images(tmp_path / "photos", 3, 40, 30)
    proc = coursekit("train", "cyclegan", "--data", "photos", "--steps", "2", "--out", "run",
                     cwd=tmp_path)
    user_error(proc, "photos is one folder of images", "trainA", "A/train")
    assert not (tmp_path / "run").exists()  # no empty run folder left behind


def test_ctrl_c_saves_exits_130_and_a_resume_takes_the_runs_length(tmp_path):
    run = tmp_path / "run"
    proc = start("train", "cyclegan", "--steps", "100", "--checkpoint-every", "5", "--out", "run",
                 cwd=tmp_path)
    wait_for(lambda: (run / "latest.pt").exists())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    assert "To continue: coursekit train cyclegan --out run --resume" in out
    assert "TrainConfig" not in out + err and "out_dir" not in out + err
    step = saved_step(run)
    assert 5 <= step < 100
    # The same command without --resume refuses to overwrite the run, in the CLI's words.
    again = coursekit("train", "cyclegan", "--steps", "100", "--out", "run", cwd=tmp_path)
    message = user_error(again, f"run already holds a training run (latest.pt at step {step})",
                         "coursekit train cyclegan --out run --resume", "another --out")
    assert "TrainConfig" not in message and "out_dir" not in message
    # The printed command, as it is: no --steps, and the run ends at its own 100 steps.
    resumed = coursekit("train", "cyclegan", "--out", "run", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"Resuming from run/latest.pt at step {step}/100" in resumed.stdout
    assert "trained 100 steps" in resumed.stdout
    assert "checkpoint: run/latest.pt" in resumed.stdout
    # A finished run: said so, with its checkpoint, and nothing is trained.
    finished = coursekit("train", "cyclegan", "--out", "run", "--resume", cwd=tmp_path)
    assert finished.returncode == 0 and "Traceback" not in finished.stderr
    assert "The run in run is finished: 100 of 100 steps" in finished.stdout
    assert "coursekit eval cyclegan --checkpoint run/latest.pt" in finished.stdout
    assert "None" not in finished.stdout
    assert metric_steps(run) == [50, 100]


def test_checkpoints_of_another_method_and_damaged_ones(tmp_path):
    assert coursekit("train", "cyclegan", "--steps", "2", "--out", "cg", "--keep-every", "2",
                     cwd=tmp_path).returncode == 0
    user_error(coursekit("eval", "pix2pix", "--checkpoint", "cg/latest.pt", cwd=tmp_path),
               "holds a CycleGAN model", "trained by cyclegan", "not by pix2pix")
    user_error(coursekit("train", "pix2pix", "--out", "cg", "--resume", cwd=tmp_path),
               "cg/latest.pt is a run of cyclegan, not of pix2pix",
               "coursekit train cyclegan --out cg --resume")
    data = (tmp_path / "cg" / "latest.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[:len(data) // 2])
    user_error(coursekit("eval", "cyclegan", "--checkpoint", "cut.pt", cwd=tmp_path),
               "Could not read the checkpoint cut.pt", "damaged",
               "no periodic snapshot", "--keep-every")
    (tmp_path / "cg" / "latest.pt").write_bytes(data[:len(data) // 2])
    user_error(coursekit("eval", "cyclegan", "--checkpoint", "cg/latest.pt", cwd=tmp_path),
               "cg/step_000002.pt, can replace it: copy it to cg/latest.pt")


def test_a_split_the_data_does_not_have(tmp_path):
    images(tmp_path / "facades" / "train", 3, 64, 32)
    images(tmp_path / "facades" / "val", 3, 64, 32, seed=1)
    assert coursekit("train", "pix2pix", "--data", "facades", "--steps", "2", "--out", "run",
                     cwd=tmp_path).returncode == 0
    message = user_error(coursekit("eval", "pix2pix", "--checkpoint", "run/latest.pt",
                                   cwd=tmp_path), "has no split 'test'", "train, val", "--split")
    assert "Pass split=" not in message
    val = coursekit("eval", "pix2pix", "--checkpoint", "run/latest.pt", "--split", "val",
                    cwd=tmp_path)
    assert val.returncode == 0 and "split val (3 items" in val.stdout


def test_fp16_on_a_cpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("fp16 is accepted where the run goes to a GPU")
    user_error(coursekit("train", "pix2pix", "--precision", "fp16", "--device", "cpu",
                         "--steps", "2", "--out", "run", cwd=tmp_path),
               "fp16 is for GPUs", "fp32")
    assert not (tmp_path / "run").exists()


def test_a_folder_that_does_not_exist(tmp_path):
    message = user_error(coursekit("train", "pix2pix", "--data", "./nosuchdir", "--steps", "2",
                                   cwd=tmp_path),
                         "No dataset folder ./nosuchdir", "coursekit data list")
    assert message.count("synthetic-facades") <= 1  # the list of names once at most
    message = user_error(coursekit("train", "pix2pix", "--data", "nosuchname", cwd=tmp_path),
                         "Unknown dataset 'nosuchname'", "synthetic-facades")
    assert message.count("synthetic-facades") == 1


def test_usage_errors_exit_2(tmp_path):
    user_error(coursekit("train", "no-such-method", cwd=tmp_path), "Available methods", code=2)
    bad = coursekit("train", "pix2pix", "--steps", "0", cwd=tmp_path)
    assert bad.returncode == 2 and "--steps" in bad.stderr and "Traceback" not in bad.stderr
