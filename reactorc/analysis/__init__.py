"""Analysis: find the pipeline, its frame loop, its state and dependencies (visitors never edit)."""
