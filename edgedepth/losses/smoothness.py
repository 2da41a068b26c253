"""Edge-aware smoothness of disparity (monodepth2): gradients are cheap where the image has edges."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def smoothness_loss(disp: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """disp [B,1,h,w], image [B,3,H,W] in [0,1] (area-resized to h x w if larger) -> scalar.

    The disparity is divided by its per-image mean so that the loss cannot be lowered by
    shrinking the disparity overall.
    """
    if image.shape[-2:] != disp.shape[-2:]:
        image = F.adaptive_avg_pool2d(image, disp.shape[-2:])
    disp = disp / (disp.mean(dim=(2, 3), keepdim=True) + 1e-7)
    grad_disp_x = (disp[:, :, :, :-1] - disp[:, :, :, 1:]).abs()
    grad_disp_y = (disp[:, :, :-1, :] - disp[:, :, 1:, :]).abs()
    grad_img_x = (image[:, :, :, :-1] - image[:, :, :, 1:]).abs().mean(1, keepdim=True)
    grad_img_y = (image[:, :, :-1, :] - image[:, :, 1:, :]).abs().mean(1, keepdim=True)
    return (grad_disp_x * torch.exp(-grad_img_x)).mean() + (grad_disp_y * torch.exp(-grad_img_y)).mean()
