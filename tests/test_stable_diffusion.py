"""Stable Diffusion's img2img path (coursekit.models.stable_diffusion), wired offline: a tiny
randomly initialised pipeline built from configs (a 16 px VAE, U-Net and CLIP text encoder, a
byte-level tokenizer written here), saved and loaded as a user's cached weights would be. What
is tested is the wiring: strength as t0, the steps the pipeline runs, the errors."""
from __future__ import annotations

import json

import pytest
import torch

from coursekit.models.stable_diffusion import (MODEL_ID, MissingWeightsError, img2img,
                                               img2img_steps, load_img2img)


@pytest.fixture(scope="module")
def tiny_pipeline_folder(tmp_path_factory):
    from diffusers import (AutoencoderKL, DDIMScheduler, StableDiffusionImg2ImgPipeline,
                           UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = tmp_path_factory.mktemp("tiny-sd")
    torch.manual_seed(0)
    # A byte-level vocabulary with no merges: every character is a token (as a word's last
    # character too, with CLIP's "</w>"), so any prompt tokenizes.
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars = [chr(b) for b in printable] + [chr(256 + k) for k in range(256 - len(printable))]
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                              model_max_length=16)
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, block_out_channels=(8, 16),
        layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
        norm_num_groups=4, attention_head_dim=2)
    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(8,),
                        down_block_types=("DownEncoderBlock2D",),
                        up_block_types=("UpDecoderBlock2D",), latent_channels=4,
                        norm_num_groups=4, sample_size=16)
    text = CLIPTextModel(CLIPTextConfig(hidden_size=16, intermediate_size=32,
                                        num_attention_heads=2, num_hidden_layers=1,
                                        vocab_size=len(tokens), max_position_embeddings=16))
    # Stable Diffusion 1.5's schedule.
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    StableDiffusionImg2ImgPipeline(
        vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).save_pretrained(folder / "pipeline")
    return folder / "pipeline"


@pytest.mark.parametrize("steps,strength,runs", [(10, 0.5, 5), (50, 0.3, 15), (7, 0.99, 6),
                                                 (3, 0.34, 1), (20, 1.0, 20)])
def test_strength_is_t0_and_sets_the_steps_run(tiny_pipeline_folder, steps, strength, runs):
    """The U-Net runs int(steps x strength) times: the pipeline's rule, truncating (7 x 0.99
    runs 6), which img2img_steps restates."""
    pipe = load_img2img(tiny_pipeline_folder)
    calls = []
    pipe.unet.register_forward_hook(lambda *args: calls.append(1))
    guide = torch.rand(2, 3, 16, 16) * 2 - 1
    out = img2img(pipe, guide, "a red house", strength=strength, num_inference_steps=steps,
                  generator=torch.Generator().manual_seed(0))
    assert img2img_steps(steps, strength) == runs == len(calls)
    assert out.shape == guide.shape and out.min() >= -1 and out.max() <= 1


def test_no_denoising_step_is_refused(tiny_pipeline_folder):
    pipe = load_img2img(tiny_pipeline_folder)
    guide = torch.zeros(1, 3, 16, 16)
    with pytest.raises(ValueError, match=r"int\(10 x 0.05\) = 0 denoising steps.*at least 21"):
        img2img(pipe, guide, "x", strength=0.05, num_inference_steps=10)
    with pytest.raises(ValueError, match="strength 0 runs no denoising step"):
        img2img(pipe, guide, "x", strength=0.0)
    with pytest.raises(ValueError, match=r"strength \(SDEdit's t0\) must be in \[0, 1\]"):
        img2img_steps(50, 1.5)


def test_missing_weights_name_the_model_and_the_cache(tmp_path, no_network):
    with pytest.raises(MissingWeightsError) as missing:
        load_img2img(MODEL_ID, cache_dir=tmp_path / "hub")
    message = str(missing.value)
    assert MODEL_ID in message and str(tmp_path / "hub") in message
    assert f"huggingface-cli download {MODEL_ID}" in message
