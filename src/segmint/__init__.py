"""Segmint: a self-hostable lead-segmentation engine."""

__version__ = "0.1.0"
