"""Helpers for testing code that uses trackkit: an in-memory store.

    store = MemoryStore()
    with trackkit.init(project="p", store=store) as run:
        run.log({"loss": 1.0})
    assert trackkit.Api(store=store).runs("p")[0].summary["loss"] == 1.0
"""

from __future__ import annotations

from ._memory_store import MemoryStore

__all__ = ["MemoryStore"]
