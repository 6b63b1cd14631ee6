"""nc-gan: generative image compression (HiFiC-style, with a realism knob) and perceptual
metrics that run offline."""

__version__ = "0.1.0"
