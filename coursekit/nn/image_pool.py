"""A history of generated images for the discriminator (CycleGAN §4, after Shrivastava et al.).

"To reduce model oscillation, we follow Shrivastava et al.'s strategy and update the
discriminators using a history of generated images rather than the ones produced by the latest
generators. We keep an image buffer that stores the 50 previously created images" (CycleGAN §4;
SimGAN, Shrivastava et al. 2017). A discriminator that only sees the latest generator's output
can forget what earlier generators did, and the generator can then cycle back to them.

The rule, applied to each image of a batch: while the pool holds fewer than ``size`` images,
store the new image and pass it on. Once it is full, with probability 1/2 pass on a stored image
chosen uniformly at random and put the new one in its place; otherwise pass the new image on.
``size=0`` switches the pool off (CUT and pix2pix train without one).

Randomness comes from torch's global generator, which ``coursekit.train.fit`` checkpoints, and
the stored images are part of ``state_dict()`` (via ``get_extra_state``), so a resumed run draws
exactly what the uninterrupted run would have drawn.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class ImagePool(nn.Module):
    """``pool = ImagePool(50)``; ``images_for_D = pool.query(fake.detach())``.

    An ``nn.Module`` without parameters only so that its content travels with the method's
    ``state_dict()`` into checkpoints; the training loop does not treat it as a network.
    """

    def __init__(self, size: int = 50):
        super().__init__()
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"ImagePool size must be an int >= 0 (0 switches it off), got {size!r}")
        self.size = size
        self.images: list[Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: Tensor) -> Tensor:
        """Return a batch of the same shape as ``images``, mixing them with stored ones.

        With ``size=0`` it returns ``images`` itself. Otherwise the result is detached (the pool
        keeps copies without their graph; the discriminator's update must not reach G anyway).
        """
        if self.size == 0:
            return images
        if images.ndim != 4:
            raise ValueError(f"ImagePool.query expects a batch (N, C, H, W), got shape "
                             f"{tuple(images.shape)}")
        if self.images and (self.images[0].device, self.images[0].dtype) != (images.device, images.dtype):
            # Loaded from a checkpoint (stored on the CPU) or the precision changed.
            self.images = [t.to(images) for t in self.images]
        out = []
        for image in images.detach():
            image = image.clone()
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(()) < 0.5:
                index = int(torch.randint(0, self.size, ()))
                out.append(self.images[index])
                self.images[index] = image
            else:
                out.append(image)
        return torch.stack(out)

    # Part of state_dict(): the pool's content (the size is a setting, kept in the method's
    # config). Plain tensors in a list load under torch.load(weights_only=True).
    def get_extra_state(self) -> Any:
        return {"images": [image.cpu() for image in self.images]}

    def set_extra_state(self, state: Any) -> None:
        images = list(state["images"]) if isinstance(state, dict) else None
        if images is None or not all(isinstance(t, Tensor) for t in images):
            raise ValueError("ImagePool state must be {'images': [tensors]}, as get_extra_state "
                             "writes it")
        if len(images) > self.size:
            raise ValueError(f"the saved pool holds {len(images)} images, more than this pool's "
                             f"size {self.size}: the checkpoint was trained with a larger pool_size")
        self.images = [t.clone() for t in images]  # moved to the batch's device on first query

    def extra_repr(self) -> str:
        return f"size={self.size}, stored={len(self.images)}"
