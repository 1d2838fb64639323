"""Small shims shared by the integrations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["override"]

_F = TypeVar("_F", bound=Callable[..., Any])

try:  # Python 3.12+
    from typing import override  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the Python version
    try:
        from typing_extensions import override
    except ImportError:

        def override(method: _F, /) -> _F:
            """Marks a method that overrides the framework's (no-op without typing_extensions)."""
            return method
