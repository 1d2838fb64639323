"""Framework integrations: ``trackkit.integrations.lightning``, ``.keras``, ``.transformers``, ``.flags``.

Importing this package imports no framework; each integration module imports its own.
"""

from __future__ import annotations

__all__: list[str] = []
