"""DDPM (coursekit.models.ddpm) and SDEdit (coursekit.models.sdedit).

The schedule, the noising, the ancestral step and the DDIM step are checked against diffusers'
DDPMScheduler and DDIMScheduler (a well-kept independent implementation, with
``clip_sample=False`` as SDEdit's code), the network against the parameter counts the DDPM
paper publishes, and SDEdit's loop (indices, step counts, repeats, mask) by spying on it.
"""
from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from coursekit.models import sdedit
from coursekit.models.ddpm import DDPM, Config, UNet
from coursekit.nn.diffusion import (Schedule, ddim_step, p_sample, predict_x0, q_sample,
                                    timesteps)

T = 1000
# diffusers builds the betas with a float32 linspace and multiplies 1000 float32 factors; ours
# are float64, rounded once. The running float32 product drifts by up to ~1e-5 relative (1000
# roundings of 6e-8), so schedule values agree to 5e-5 relative, images (|x| <= ~4) to 1e-4.
RTOL, ATOL = 5e-5, 1e-4


def _diffusers_ddpm(clip: bool = False):
    return DDPMScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02,
                         beta_schedule="linear", variance_type="fixed_small", clip_sample=clip)


def _tiny(**overrides) -> DDPM:
    config = Config.fast(image_size=8, ch=8, ch_mult=(1, 2), attn_resolutions=(4,), groups=4,
                         **overrides)
    return DDPM(config)


# ----------------------------------------------------------------------------- schedule
def test_schedule_matches_diffusers():
    ours, theirs = Schedule(), _diffusers_ddpm()
    torch.testing.assert_close(ours.betas, theirs.betas, rtol=RTOL, atol=0)
    torch.testing.assert_close(ours.alphas_cumprod, theirs.alphas_cumprod, rtol=RTOL, atol=0)
    # The published endpoints (Ho et al. §4): beta_1 = 1e-4, beta_T = 0.02; alphabar_T ~ 4e-5,
    # so x_T is noise with a trace of the image (sqrt(alphabar_T) = 0.0064).
    assert ours.betas[0].item() == pytest.approx(1e-4) and ours.betas[-1].item() == pytest.approx(0.02)
    assert ours.alphas_cumprod[-1].item() == pytest.approx(4.04e-5, rel=0.01)


def test_q_sample_matches_diffusers_add_noise():
    x0, noise = torch.rand(6, 3, 8, 8) * 2 - 1, torch.randn(6, 3, 8, 8)
    t = torch.tensor([0, 1, 250, 499, 998, 999])
    torch.testing.assert_close(q_sample(Schedule(), x0, t, noise),
                               _diffusers_ddpm().add_noise(x0, noise, t), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("t", [999, 500, 37, 1, 0])
def test_ancestral_step_matches_diffusers(t, clip):
    """One step x_t -> x_{t-1} with the same prediction and the same noise draw, including the
    last step (t = 0), where neither adds noise; x0_hat clipped to [-1, 1] or not (diffusers'
    ``clip_sample``)."""
    scheduler, schedule = _diffusers_ddpm(clip), Schedule()
    xt, eps = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    theirs = scheduler.step(eps, t, xt, generator=torch.Generator().manual_seed(5)).prev_sample
    noise = torch.randn(xt.shape, generator=torch.Generator().manual_seed(5))
    ours = p_sample(schedule, eps, xt, torch.full((2,), t), noise, clip_x0=clip)
    torch.testing.assert_close(ours, theirs, rtol=RTOL, atol=ATOL)
    # Random x_t and eps put x0_hat outside [-1, 1]: the clip changes the step (the test can
    # tell the two apart).
    other = p_sample(schedule, eps, xt, torch.full((2,), t), noise, clip_x0=not clip)
    assert (other - ours).abs().max() > 100 * ATOL
    if t == 0:
        torch.testing.assert_close(ours, p_sample(schedule, eps, xt, torch.zeros(2, dtype=torch.long),
                                                  noise * 100, clip_x0=clip), rtol=0, atol=0)


def test_ancestral_mean_is_eq_11():
    """mu~_t(x_t, x0_hat) equals Eq. 11's 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alphabar_t) eps),
    written here from the betas alone."""
    schedule = Schedule()
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    xt, eps = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    t = torch.tensor([3, 400, 999])
    b, a = betas[t].float()[:, None, None, None], abar[t].float()[:, None, None, None]
    eq11 = (xt - b / (1 - a).sqrt() * eps) / (1 - b).sqrt()
    mean = p_sample(schedule, eps, xt, t, noise=torch.zeros_like(xt))
    torch.testing.assert_close(mean, eq11, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("n_steps,t", [(50, 980), (50, 20), (10, 900), (10, 0)])
def test_ddim_step_matches_diffusers(eta, n_steps, t, clip):
    scheduler = DDIMScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02,
                              beta_schedule="linear", clip_sample=clip, set_alpha_to_one=True,
                              steps_offset=0)
    scheduler.set_timesteps(n_steps)
    xt, eps = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    theirs = scheduler.step(eps, t, xt, eta=eta,
                            generator=torch.Generator().manual_seed(3)).prev_sample
    s = t - T // n_steps  # diffusers' previous step; below 0 is the clean image
    noise = torch.randn(xt.shape, generator=torch.Generator().manual_seed(3))
    ours = ddim_step(Schedule(), eps, xt, torch.full((2,), t), torch.full((2,), max(s, -1)),
                     eta, noise, clip_x0=clip)
    torch.testing.assert_close(ours, theirs, rtol=RTOL, atol=ATOL)


def test_ddim_with_eta_1_between_neighbours_is_the_ancestral_step():
    schedule, xt, eps = Schedule(), torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    noise = torch.randn(2, 3, 8, 8)
    for t in (999, 300, 1):
        tt = torch.full((2,), t)
        torch.testing.assert_close(ddim_step(schedule, eps, xt, tt, tt - 1, 1.0, noise),
                                   p_sample(schedule, eps, xt, tt, noise), rtol=RTOL, atol=ATOL)


def test_x0_prediction_inverts_the_noising():
    schedule, x0, noise = Schedule(), torch.rand(4, 3, 8, 8) * 2 - 1, torch.randn(4, 3, 8, 8)
    t = torch.tensor([0, 10, 500, 900])
    # Dividing by sqrt(alphabar_t) (0.021 at t = 900) amplifies float32 rounding ~50x.
    torch.testing.assert_close(predict_x0(schedule, q_sample(schedule, x0, t, noise), t, noise), x0,
                               rtol=0, atol=5e-5 * 50)


def test_noise_level_and_the_steps_visited():
    schedule = Schedule()
    assert schedule.index(0.5) == 500 and schedule.index(1.0) == 1000
    assert schedule.index(1e-6) == 1  # never zero steps
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"t0 must be in \(0, 1\]"):
            schedule.index(bad)
    assert timesteps(T, 500) == list(range(499, -1, -1))
    strided = timesteps(T, 500, 50)
    assert strided[0] == 499 and strided[-1] == 0 and len(strided) == 50
    assert all(a > b for a, b in zip(strided, strided[1:]))
    assert timesteps(T, 1, 50) == [0] and timesteps(T, 3, 50) == [2, 1, 0]
    with pytest.raises(ValueError, match="start must be between 1 and 1000"):
        timesteps(T, 0)


# ----------------------------------------------------------------------------- network
@pytest.mark.parametrize("config,millions", [
    # Ho et al. §4: "Our CIFAR10 model has 35.7 million parameters" (ch 128, mult 1,2,2,2,
    # 2 blocks, attention at 16 px), "our LSUN and CelebA-HQ models have 114 million".
    (dict(image_size=32, ch_mult=(1, 2, 2, 2)), 35.7),
    (dict(image_size=256, ch_mult=(1, 1, 2, 2, 4, 4)), 114),
])
def test_unet_has_the_papers_parameter_count(config, millions):
    net = UNet(**config)
    count = sum(p.numel() for p in net.parameters()) / 1e6
    assert count == pytest.approx(millions, abs=0.05 if millions < 100 else 0.5)


def test_unet_shapes_and_the_step_matters():
    net = UNet(image_size=16, ch=16, ch_mult=(1, 2), attn_resolutions=(8,), groups=4).eval()
    x = torch.randn(2, 3, 16, 16)
    out0, out1 = net(x, torch.tensor([0, 0])), net(x, torch.tensor([999, 999]))
    assert out0.shape == x.shape
    assert (out0 - out1).abs().max() > 1e-3  # the time embedding reaches the output
    with pytest.raises(ValueError, match="multiple of 2"):
        UNet(image_size=15, ch_mult=(1, 2))


# ----------------------------------------------------------------------------- training
def test_training_step_is_eq_14_and_the_average_follows():
    model = _tiny(ema_rate=0.9)
    x0 = torch.rand(4, 3, 8, 8) * 2 - 1
    before = [p.clone() for p in model.net_ema.parameters()]
    torch.manual_seed(7)
    t = torch.randint(0, T, (4,))
    noise = torch.randn_like(x0)
    with torch.no_grad():
        expected = ((model.net(q_sample(model.schedule, x0, t, noise), t) - noise) ** 2).mean()
    torch.manual_seed(7)
    losses = model.training_step({"A": x0, "B": x0})
    assert losses["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    for old, average, new in zip(before, model.net_ema.parameters(), model.net.parameters()):
        # lerp rounds differently from this formula: up to two float32 ulps of weights below 2.
        torch.testing.assert_close(average, 0.9 * old + 0.1 * new, rtol=0, atol=5e-7)
    assert not any(p.requires_grad for p in model.net_ema.parameters())


def test_backward_and_step_clips_the_gradient_norm():
    model = _tiny()
    sgd = torch.optim.SGD(model.net.parameters(), lr=1.0)
    model._bind({"net": sgd}, torch.amp.GradScaler("cpu", enabled=False))
    before = torch.cat([p.detach().flatten().clone() for p in model.net.parameters()])
    loss = 1e4 * model.net(torch.randn(2, 3, 8, 8), torch.tensor([1, 2])).square().mean()
    model.backward_and_step(loss, "net", clip_grad_norm=0.5)
    after = torch.cat([p.detach().flatten() for p in model.net.parameters()])
    # SGD with lr 1 moves the weights by exactly the clipped gradient.
    assert (after - before).norm().item() == pytest.approx(0.5, rel=1e-4)


def test_sample_is_reproducible_and_in_shape():
    model = _tiny().eval()
    a = model.sample(2, steps=5, generator=torch.Generator().manual_seed(1))
    b = model.sample(2, steps=5, generator=torch.Generator().manual_seed(1))
    assert a.shape == (2, 3, 8, 8) and torch.equal(a, b)


def test_sampling_clips_x0_hat_as_ddpm_does_and_sdedit_does_not():
    """DDPM's sampler clips x0_hat to [-1, 1] (its code's clip_denoised); SDEdit's code does
    not. A network that predicts no noise makes x0_hat = x_t / sqrt(alphabar_t), 157 times x_t
    at the first step from pure noise, so the two differ by far."""
    model = _tiny().eval()
    model.net_ema = _CountingNet()
    seeded = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    # The last jump lands on x0_hat itself (alphabar = 1, no noise), so a clipped sampler ends
    # inside the images' range.
    assert model.sample(2, steps=5, generator=seeded()).abs().max() <= 1
    assert model.sample(2, steps=5, generator=seeded(), clip_x0=False).abs().max() > 10
    edited = sdedit.sdedit(model, torch.zeros(2, 3, 8, 8), t0=1.0, steps=5, generator=seeded())
    assert edited.abs().max() > 10


# ----------------------------------------------------------------------------- SDEdit
class _CountingNet(torch.nn.Module):
    """A stand-in denoiser that records the steps it is called at and predicts zero noise."""

    def __init__(self):
        super().__init__()
        self.calls: list[int] = []
        self.inputs: list[torch.Tensor] = []

    def forward(self, x, t):
        self.calls.append(int(t[0]))
        self.inputs.append(x.clone())
        return torch.zeros_like(x)


def _spied(monkeypatch):
    model = _tiny()
    model.net_ema = _CountingNet()
    noised = []
    real_q_sample = sdedit.q_sample

    def spy(schedule, x, t, noise):
        noised.append((x.clone(), int(t[0])))
        return real_q_sample(schedule, x, t, noise)

    monkeypatch.setattr(sdedit, "q_sample", spy)
    return model, noised


def test_sdedit_noises_to_t0_and_takes_t0_T_steps(monkeypatch):
    model, noised = _spied(monkeypatch)
    guide = torch.rand(2, 3, 8, 8) * 2 - 1
    sdedit.sdedit(model, guide, t0=0.3)
    assert noised[0][1] == 299  # alphabar_{t0}: 0-based index 299 for 300 steps
    assert model.net_ema.calls == list(range(299, -1, -1))
    model.net_ema.calls.clear()
    sdedit.sdedit(model, guide, t0=1e-4)  # the smallest level is one step, never zero
    assert model.net_ema.calls == [0]
    assert sdedit.network_calls(0.3, repeats=3) == 900
    assert sdedit.network_calls(0.3, repeats=3, steps=20) == 60


def test_each_repeat_renoises_the_previous_output(monkeypatch):
    model, noised = _spied(monkeypatch)
    guide = torch.rand(1, 3, 8, 8) * 2 - 1
    outputs = [sdedit.sdedit(model, guide, t0=0.05, repeats=k, generator=torch.Generator().manual_seed(0))
               for k in (1, 2)]
    assert torch.equal(noised[0][0], guide)  # the first cycle starts from the guide
    assert len(noised) == 3 and torch.equal(noised[1][0], guide)  # in both calls
    # The second cycle re-noises the first cycle's output (equal to the one-cycle call's: the
    # same generator), not the guide.
    torch.testing.assert_close(noised[2][0], outputs[0], rtol=0, atol=0)
    assert not torch.equal(outputs[0], guide)


def test_masked_sdedit_keeps_the_known_pixels_exactly():
    model = _tiny().eval()
    guide = torch.rand(2, 3, 8, 8) * 2 - 1
    mask = torch.zeros(2, 1, 8, 8)
    mask[..., :4] = 1  # keep the left half
    out = sdedit.sdedit(model, guide, t0=0.2, repeats=2, mask=mask,
                        generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out[..., :4], guide[..., :4], rtol=0, atol=0)
    assert (out[..., 4:] - guide[..., 4:]).abs().mean() > 0.05  # the rest was regenerated


def test_masked_sdedit_renoises_the_known_pixels_to_each_steps_level(monkeypatch):
    """The denoiser sees the kept pixels at the level of the step it is called at: with
    x = sqrt(alphabar_t) guide + sqrt(1 - alphabar_t) z, z is standard normal there. Pasting
    the clean guide, or noise of the level before the step (SDEdit's code), fails this."""
    model, _ = _spied(monkeypatch)
    guide = torch.rand(64, 3, 8, 8) * 2 - 1
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1
    sdedit.sdedit(model, guide, t0=0.02, mask=mask, generator=torch.Generator().manual_seed(0))
    abar = model.schedule.alphas_cumprod
    for t, x in zip(model.net_ema.calls, model.net_ema.inputs):
        z = (x[..., :4] - abar[t].sqrt() * guide[..., :4]) / (1 - abar[t]).sqrt()
        # 6144 draws: the std of a standard normal sample is within 0.05 of 1 (5 sigma: 0.045).
        # One step off in the level changes it by > 0.1 at these small t (6% at t = 19).
        assert z.std().item() == pytest.approx(1.0, abs=0.05), t
        assert abs(z.mean().item()) < 0.07


def test_sdedit_rejects_bad_input():
    model = _tiny()
    with pytest.raises(ValueError, match=r"the guide must be a batch \(N, 3, H, W\)"):
        sdedit.sdedit(model, torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="t0 must be in"):
        sdedit.sdedit(model, torch.zeros(1, 3, 8, 8), t0=0)
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        sdedit.sdedit(model, torch.zeros(1, 3, 8, 8), repeats=0)


# ----------------------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny DDPM trained 2 steps by ``fit``: a checkpoint the commands can read."""
    from dataclasses import replace

    from coursekit.data import get_dataset
    from coursekit.train import fit

    out = tmp_path_factory.mktemp("ddpm-run")
    config = Config.fast(image_size=32, ch=8, ch_mult=(1, 2), attn_resolutions=(16,), groups=4)
    config = replace(config, train=replace(config.train, steps=2, batch_size=2, out_dir=str(out),
                                           progress=False, sample_every=0, data="synthetic-strokes"))
    fit(DDPM(config), get_dataset("synthetic-strokes", size=32, length=4), config.train)
    return out / "latest.pt"


def _png(path, array):
    from PIL import Image

    Image.fromarray(array).save(path)
    return path


@pytest.mark.slow
def test_sdedit_command_edits_a_users_painting(tiny_run, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from coursekit.cli import main

    painting = np.zeros((48, 64, 3), np.uint8)
    painting[:20] = (90, 150, 230)  # sky over grass, painted at another size
    painting[20:] = (60, 160, 60)
    guide = _png(tmp_path / "strokes.png", painting)
    out = tmp_path / "edits" / "photo.png"
    args = ["sdedit", "--checkpoint", str(tiny_run), "--guide", str(guide), "--t0", "0.2",
            "--repeats", "1", "--steps", "2", "--out", str(out)]
    assert main(args + ["--samples", "2"]) == 0
    printed = capsys.readouterr().out
    assert "t0 0.2, 1 repeat(s), 2 network calls per image" in printed
    for k in (1, 2):
        assert Image.open(tmp_path / "edits" / f"photo_{k}.png").size == (32, 32)
    mask = np.zeros((48, 64, 3), np.uint8)
    mask[:, 32:] = 255  # repaint the right half only
    assert main(args + ["--mask", str(_png(tmp_path / "mask.png", mask))]) == 0
    edited = np.asarray(Image.open(out), dtype=np.int16)
    assert edited.shape == (32, 32, 3)
    # The left half is the guide's, centre-cropped and scaled to the model's 32 px (the sky
    # ends at row 13.3); a pixel may differ by 1 from rounding through [-1, 1].
    assert (np.abs(edited[:10, :12] - (90, 150, 230)) <= 1).all()
    assert (np.abs(edited[16:, :12] - (60, 160, 60)) <= 1).all()


@pytest.mark.slow
@pytest.mark.parametrize("extra,message", [
    (["--t0", "1.5"], "--t0 must be in (0, 1]"),
    (["--t0", "0"], "--t0 must be in (0, 1]"),
    (["--out", "photo.jpg"], "--out must name a .png file"),
    (["--mask", "BLACK"], "has no white pixels"),
    (["--guide", "missing.png"], "no image file"),
])
def test_sdedit_command_errors_say_what_to_do(tiny_run, tmp_path, capsys, extra, message):
    import numpy as np

    from coursekit.cli import main

    guide = _png(tmp_path / "g.png", np.full((32, 32, 3), 128, np.uint8))
    black = _png(tmp_path / "black.png", np.zeros((32, 32, 3), np.uint8))
    args = {"--guide": str(guide), "--out": str(tmp_path / "o.png"), "--t0": "0.3"}
    for key, value in zip(extra[::2], extra[1::2]):
        args[key] = str(black) if value == "BLACK" else (
            str(tmp_path / value) if key in ("--guide", "--out") else value)
    flat = [x for kv in args.items() for x in kv]
    assert main(["sdedit", "--checkpoint", str(tiny_run), "--steps", "1", *flat]) != 0
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_eval_sdedit_prints_the_tradeoff_table(tiny_run, capsys):
    import json

    from coursekit.cli import main

    assert main(["eval", "sdedit", "--checkpoint", str(tiny_run), "--t0", "0.2,0.6",
                 "--repeats", "1,2", "--steps", "2", "--items", "4", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["t0"], r["repeats"]) for r in rows] == [(0.2, 1), (0.6, 1), (0.2, 2), (0.6, 2)]
    assert [r["network_calls"] for r in rows] == [2, 2, 4, 4]
    for r in rows:
        assert {"faithfulness", "realism", "realism_distance", "l1"} <= set(r)
    with pytest.raises(SystemExit) as refused:  # argparse's usage error
        main(["eval", "sdedit", "--checkpoint", str(tiny_run), "--t0", "0.2,2"])
    assert refused.value.code == 2
    assert "give noise levels in (0, 1]" in capsys.readouterr().err


def test_eval_sdedit_adds_the_papers_kid_to_each_row(tiny_run, capsys, monkeypatch):
    """``--metrics kid,fid``: each row's edits against the real photos, the same edits the
    row's own scores saw (the default Inception network is replaced by a small fixed one, as
    in tests/test_standard_metrics.py, which checks the metrics themselves)."""
    import json

    import coursekit.data.standard_metrics as module
    from coursekit.cli import main
    from test_standard_metrics import FeatureNet

    monkeypatch.setattr(module, "_check_weights", lambda files: None)
    monkeypatch.setattr(module, "_inception", lambda device: FeatureNet())
    seen = []
    real_standard_metrics = module.standard_metrics

    def spy(translate, dataset, names, **kwargs):
        seen.append(translate(torch.stack([dataset[i]["A"] for i in range(2)])))
        return real_standard_metrics(translate, dataset, names, **kwargs)

    monkeypatch.setattr(module, "standard_metrics", spy)
    assert main(["eval", "sdedit", "--checkpoint", str(tiny_run), "--t0", "0.3,1.0",
                 "--repeats", "1", "--steps", "2", "--items", "4", "--metrics", "kid,fid",
                 "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert "4 translated A images against 4 real B" in captured.err.split(
        "standard metrics of each row: ")[1], captured.err
    for r in rows:
        assert {"faithfulness", "realism", "fid", "kid_mean", "kid_std"} <= set(r)
    # The rows' edits differ (t0 0.3 keeps more of the guide than 1.0), and so do their FIDs.
    assert not torch.equal(seen[0], seen[1]) and rows[0]["fid"] != rows[1]["fid"]
    from coursekit.models.sdedit import format_tradeoff

    table = format_tradeoff(rows).splitlines()
    assert table[0].split()[-2:] == ["FID", "KID"] and len(table) == 3


# ----------------------------------------------------------------------------- memorisation
def test_the_ideal_denoiser_only_gives_back_training_images():
    """The exact minimiser of L_simple for a finite training set: its samples and its SDEdit
    outputs are training images (the lecture's memorisation experiment)."""
    from coursekit.models.ddpm import IdealDenoiser

    model = _tiny()
    train = torch.rand(5, 3, 8, 8) * 2 - 1
    model.net_ema = IdealDenoiser(train, model.schedule)
    samples = model.sample(6, steps=50, generator=torch.Generator().manual_seed(0))
    guides = torch.rand(4, 3, 8, 8) * 2 - 1  # not training images
    edits = sdedit.sdedit(model, guides, t0=0.5, steps=50, generator=torch.Generator().manual_seed(1))
    for images in (samples, edits):
        nearest = torch.cdist(images.flatten(1), train.flatten(1)).min(1).values / 8
        # RMS per pixel to the nearest training image: zero up to float32 rounding.
        assert nearest.max() < 1e-3, nearest
    # With one training image, x0* is that image at every step.
    single = IdealDenoiser(train[:1], model.schedule)
    xt = torch.randn(2, 3, 8, 8)
    t = torch.tensor([400, 400])
    x0 = predict_x0(model.schedule, xt, t, single(xt, t))
    torch.testing.assert_close(x0, train[:1].expand(2, -1, -1, -1), rtol=0, atol=1e-4)
