"""reactorc: compile a research inference pipeline into a real-time streaming model."""

__version__ = "0.1.0"
