"""Validation: run a converted wrapper for real and check it (`reactorc validate`).

The stage's face: what the CLI and `check` import. One module per job —
`checks` (the values: Check, Report, ValidateOptions), `output` (reading a converted folder),
`session` (one headless session through the runtime's Runner), `reference` (the original
pipeline's own clip), `cuda` (GPU placement and memory), `stream` (the same model over WebRTC),
`run` (the checks in order) and `console` (printing a report, the command's exit status)."""

from reactorc.validate.checks import DEVICES, Check, Report, ValidateOptions
from reactorc.validate.console import print_report, run_validate
from reactorc.validate.output import UsageError
from reactorc.validate.run import validate

__all__ = [
    "DEVICES",
    "Check",
    "Report",
    "UsageError",
    "ValidateOptions",
    "print_report",
    "run_validate",
    "validate",
]
