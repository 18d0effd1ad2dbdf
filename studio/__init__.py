"""Diffusion Studio: paint on a canvas and generate images with diffusion models."""

__version__ = "0.1.0"
