"""Config files found without being asked for: ``config-defaults.yaml`` beside the script and in
the working directory, ``--configs a.yaml,b.yaml`` on the command line and ``TRACKKIT_CONFIG_PATHS``."""

from __future__ import annotations

import os
import sys

__all__ = ["command_line_config_paths", "defaults_paths"]

DEFAULTS_FILE = "config-defaults.yaml"


def _script_dir() -> str | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return os.path.dirname(os.path.abspath(path)) if path else None


def defaults_paths() -> list[str]:
    """Existing ``config-defaults.yaml`` files, the script's directory first, then the working directory."""
    found: list[str] = []
    for directory in (_script_dir(), os.getcwd()):
        if directory is None:
            continue
        path = os.path.join(directory, DEFAULTS_FILE)
        if os.path.isfile(path) and all(not os.path.samefile(path, seen) for seen in found):
            found.append(path)
    return found


def _split_paths(value: str) -> list[str]:
    return [part.strip() for part in value.replace(os.pathsep, ",").split(",") if part.strip()]


def command_line_config_paths(argv: list[str] | None = None) -> list[str]:
    """Files named by ``TRACKKIT_CONFIG_PATHS`` and then by ``--configs`` (later files win)."""
    paths = _split_paths(os.environ.get("TRACKKIT_CONFIG_PATHS", ""))
    args = sys.argv[1:] if argv is None else argv
    for index, arg in enumerate(args):
        if arg == "--configs" and index + 1 < len(args):
            paths.extend(_split_paths(args[index + 1]))
        elif arg.startswith("--configs="):
            paths.extend(_split_paths(arg.split("=", 1)[1]))
    return paths
