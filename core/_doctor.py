"""``trackkit doctor``: ask a store to check itself.

Checking is a capability, not part of the read protocol: a store that can find and repair damage
of its own kind has ``check(repair=...)`` (the local store: torn history lines, unreadable JSON
files, runs left ``running`` by a dead process; ``trackkit._local_doctor``). A store without it
(memory, a tracking server whose database keeps itself consistent) is reported as having nothing
to check.
"""

from __future__ import annotations

from typing import Any, Protocol, TypedDict, runtime_checkable

__all__ = ["CheckReport", "CheckableStore", "check_store"]


class CheckReport(TypedDict):
    """What ``trackkit doctor`` prints (``--json``: this object)."""

    store: str
    runs_checked: int
    problems: list[dict[str, str]]  # {"run": "project/id", "problem": text}
    repaired: list[str]  # "project/id" of the runs repaired
    messages: list[str]


@runtime_checkable
class CheckableStore(Protocol):
    """A store that checks (and, with ``repair``, repairs) its own runs."""

    location: str

    def check(self, *, repair: bool = False) -> dict[str, Any]:
        """Check every run; a ``CheckReport``. Runs a live process writes are never rewritten."""


def check_store(store: Any, *, repair: bool = False) -> dict[str, Any]:
    """The store's own check (``store.check(repair=...)``), or a report saying it has none."""
    location = str(getattr(store, "location", store))
    if isinstance(store, CheckableStore):
        return store.check(repair=repair)
    report: CheckReport = {"store": location, "runs_checked": 0, "problems": [], "repaired": [],
                           "messages": [f"{location}: this store has no checks of its own (only local stores can be checked)."]}
    return dict(report)
