"""Capture absl / TensorFlow v1 flags into a run's config.

``run.config.update(flags.FLAGS)`` works in the core already (it keeps only the user's own
flags, parsed or not). This module is what the framework plugins call so that a script's flags
land in the config without a line of glue: explicit config wins on a clash, and provenance
says the values came from flags.
"""

from __future__ import annotations

import sys
from typing import Any

import trackkit

__all__ = ["capture_flags", "user_flags"]


def _flag_values() -> Any:
    absl_flags = sys.modules.get("absl.flags")  # never import absl: no absl, no flags
    return getattr(absl_flags, "FLAGS", None) if absl_flags is not None else None


def user_flags() -> dict[str, Any]:
    """The user's own absl/TF flags and their current values (defaults before parsing)."""
    flag_values = _flag_values()
    if flag_values is None:
        return {}
    scratch = trackkit.Config()
    scratch.update(flag_values)
    return scratch.as_dict()


def capture_flags(run: trackkit.Run, source: str = "flags") -> dict[str, Any]:
    """Add the user's flags to ``run.config`` without overriding keys already set; returns them."""
    flags = user_flags()
    if flags:
        run.config.setdefaults(flags, source=source)
    return flags
