"""Run ids and friendly run names."""

from __future__ import annotations

import os

__all__ = ["generate_id", "generate_name"]

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_ADJECTIVES = (
    "amber", "brave", "bright", "calm", "clever", "cosmic", "crisp", "dark", "eager", "fancy", "gentle", "golden",
    "happy", "icy", "jolly", "keen", "lively", "lucky", "misty", "noble", "polar", "proud", "quiet", "rapid",
    "royal", "silent", "smooth", "solar", "sunny", "swift", "vivid", "wild",
)
_NOUNS = (
    "breeze", "brook", "cloud", "comet", "dawn", "dune", "ember", "field", "forest", "frost", "galaxy", "glade",
    "harbor", "hill", "lake", "leaf", "meadow", "moon", "ocean", "pine", "planet", "rain", "river", "sky",
    "snow", "star", "stone", "storm", "sun", "thunder", "wave", "wind",
)


def generate_id() -> str:
    """Eight random base-36 characters, like W&B's run ids."""
    return "".join(_ALPHABET[byte % 36] for byte in os.urandom(8))


def generate_name(number: int) -> str:
    """``adjective-noun-number``: readable, and ordered within a project."""
    first, second = os.urandom(2)
    return f"{_ADJECTIVES[first % len(_ADJECTIVES)]}-{_NOUNS[second % len(_NOUNS)]}-{number}"
