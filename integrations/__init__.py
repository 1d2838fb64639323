"""Framework integrations: ``trackkit.integrations.lightning``, ``.keras``, ``.transformers``, ``.flags``.

Importing this package imports no framework; each integration module imports its own.

The one side effect: ``TrainingArguments(report_to="trackkit")`` must work after ``import trackkit``,
so this package registers ``"trackkit"`` in transformers' ``INTEGRATION_TO_CALLBACK`` as soon as
``transformers.integrations.integration_utils`` is imported (at once if it already is; else through a
post-import hook, see ``_import_hooks``). Set ``TRACKKIT_NO_IMPORT_HOOKS=1`` to turn this off; then
``import trackkit.integrations.transformers`` registers it explicitly.
"""

from __future__ import annotations

import os
from types import ModuleType

from ._import_hooks import when_imported

__all__: list[str] = []


def _register_transformers(integration_utils: ModuleType) -> None:
    from .transformers import register

    register(integration_utils)


if os.environ.get("TRACKKIT_NO_IMPORT_HOOKS", "").lower() not in ("1", "true", "yes"):
    when_imported("transformers.integrations.integration_utils", _register_transformers)
