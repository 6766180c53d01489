"""Rewrite: the stage that turns the plan and the original source into the wrapper's
`inference()` body (what `render` imports).

One module per job — `inference` (the libcst transformer over the pipeline's own body),
`chunk` (the per-iteration chunk and the per-chunk epilogue, per sink kind), `step` (step()
APIs) and `names` (names bound and read, renaming, module bindings)."""

from reactorc.rewrite.inference import (
    GlobalName,
    Inference,
    RewriteError,
    WriterFate,
    rewrite,
)

__all__ = ["GlobalName", "Inference", "RewriteError", "WriterFate", "rewrite"]
