"""SDEdit with a pretrained latent diffusion model: Stable Diffusion's image-to-image pipeline.

diffusers' ``StableDiffusionImg2ImgPipeline`` is SDEdit in the latent space of an autoencoder,
guided by a text prompt: the guide is encoded, noised to level ``strength`` (SDEdit's t0) and
denoised by the text-conditioned U-Net, then decoded. Its scheduler takes
``num_inference_steps`` steps over the whole range, so a run at strength s takes
``int(num_inference_steps * s)`` of them (:func:`img2img_steps`, the pipeline's own rule) and
starts at the level of the first one it keeps.

This needs a GPU in practice, ``pip install 'coursekit[diffusion]'`` and the weights in the
Hugging Face cache (about 5 GB, fetched once on a machine with internet:
``huggingface-cli download MODEL_ID``); coursekit never downloads them.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

#: The Stable Diffusion 1.5 weights' repository (the original one's successor on the Hub).
MODEL_ID = "stable-diffusion-v1-5/stable-diffusion-v1-5"


class MissingWeightsError(FileNotFoundError):
    """The pipeline's weights are not on this machine."""


def img2img_steps(num_inference_steps: int, strength: float) -> int:
    """How many denoising steps the img2img pipeline runs: ``int(num_inference_steps *
    strength)``, at most ``num_inference_steps`` (diffusers' ``get_timesteps``). It is 0 when
    the product is below 1: the pipeline would return the guide barely changed or fail, so
    :func:`img2img` refuses that."""
    if not 0 <= strength <= 1:
        raise ValueError(f"strength (SDEdit's t0) must be in [0, 1], got {strength}")
    return min(int(num_inference_steps * strength), num_inference_steps)


def _cache_folder(cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    from huggingface_hub.constants import HF_HUB_CACHE

    return Path(HF_HUB_CACHE)


def load_img2img(model: str | os.PathLike = MODEL_ID, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, cache_dir: str | os.PathLike | None = None):
    """The img2img pipeline of ``model`` (a Hub id found in the cache, or a folder written by
    ``save_pretrained``) on ``device``, without its safety checker, never downloading.

    Raises ``ImportError`` naming the extra when diffusers or transformers is missing, and
    :class:`MissingWeightsError` naming the model and the cache folder when the weights are
    not on this machine."""
    try:
        from diffusers import StableDiffusionImg2ImgPipeline
    except ImportError as error:
        raise ImportError("Stable Diffusion img2img needs diffusers and transformers: pip install "
                          f"'coursekit[diffusion]' ({error})") from None
    local = Path(model).is_dir()
    try:
        pipe = StableDiffusionImg2ImgPipeline.from_pretrained(
            model, dtype=dtype, local_files_only=True, safety_checker=None,
            requires_safety_checker=False, cache_dir=None if local else cache_dir)
    except OSError as error:  # what diffusers raises for files missing from the cache
        where = Path(model) if local else _cache_folder(cache_dir)
        raise MissingWeightsError(
            f"the weights of {model} are not in {where} ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:200]}). coursekit never downloads them: on a machine "
            f"with internet run `huggingface-cli download {model}` (about 5 GB) and copy the "
            f"cache folder to {where}, or pass the folder of a saved pipeline.") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


@torch.no_grad()
def img2img(pipe, guide: torch.Tensor, prompt: str | None = None, strength: float = 0.5,
            num_inference_steps: int = 50, guidance_scale: float = 7.5,
            prompt_embeds: torch.Tensor | None = None,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """SDEdit of ``guide`` (N, 3, H, W) in [-1, 1] with the pipeline: noise level ``strength``
    (t0), ``num_inference_steps`` over the full range (so ``img2img_steps`` of them run), the
    ``prompt`` (or its ``prompt_embeds``) with classifier-free guidance ``guidance_scale``.
    Returns (N, 3, H, W) in [-1, 1]."""
    runs = img2img_steps(num_inference_steps, strength)
    if runs < 1:
        need = int(1 / strength) + 1 if strength > 0 else None
        raise ValueError(f"strength {strength} with {num_inference_steps} steps runs "
                         f"int({num_inference_steps} x {strength}) = 0 denoising steps: raise "
                         f"the strength or use at least {need} steps" if need else
                         "strength 0 runs no denoising step: the output would be the guide")
    if guide.ndim != 4 or guide.shape[1] != 3:
        raise ValueError(f"the guide must be a batch (N, 3, H, W) in [-1, 1], got "
                         f"{tuple(guide.shape)}")
    if isinstance(prompt, str):
        prompt = [prompt] * len(guide)  # one prompt per guide
    images = pipe(prompt=prompt, image=(guide.float() + 1) / 2, strength=strength,
                  num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
                  prompt_embeds=prompt_embeds, generator=generator, output_type="pt").images
    return images * 2 - 1
