"""Training losses: supervised depth and segmentation, adversarial, cycle (photometric), smoothness."""
from edgedepth.losses.adversarial import adversarial_loss
from edgedepth.losses.cycle import cycle_loss, pyramid_cycle_loss
from edgedepth.losses.smoothness import smoothness_loss
from edgedepth.losses.supervised import depth_l1, segmentation_ce

__all__ = ["adversarial_loss", "cycle_loss", "pyramid_cycle_loss", "depth_l1", "segmentation_ce", "smoothness_loss"]
