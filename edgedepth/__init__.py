"""edgedepth: domain-adaptive monocular depth, from training to edge GPU engines."""

__version__ = "0.1.0"
