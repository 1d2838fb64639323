"""Config files found without being asked for: ``config-defaults.yaml`` beside the script and in
the working directory, ``--configs a.yaml,b.yaml`` on the command line and ``TRACKKIT_CONFIG_PATHS``."""

from __future__ import annotations

import os
import sys
from typing import Any

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
    """Files named by ``TRACKKIT_CONFIG_PATHS`` and then by ``--configs`` (later files win).

    ``--configs`` is left alone when the script defines a ``configs`` option of its own.
    """
    paths = _split_paths(os.environ.get("TRACKKIT_CONFIG_PATHS", ""))
    args = sys.argv[1:] if argv is None else argv
    if any(arg == "--configs" or arg.startswith("--configs=") for arg in args) and script_owns_configs_option():
        return paths
    for index, arg in enumerate(args):
        if arg == "--configs" and index + 1 < len(args):
            paths.extend(_split_paths(args[index + 1]))
        elif arg.startswith("--configs="):
            paths.extend(_split_paths(arg.split("=", 1)[1]))
    return paths


_told_configs_owner = False


def script_owns_configs_option() -> bool:
    """Whether the running script defines ``--configs`` itself: an absl flag named ``configs``, or
    an argparse parser (or parsed Namespace) with that option in a frame of the call stack.

    Then ``--configs`` is the script's, and trackkit says once how to name its config files instead.
    """
    global _told_configs_owner
    owner = _absl_configs_flag() or _argparse_configs_option()
    if owner and not _told_configs_owner:
        _told_configs_owner = True
        import warnings

        warnings.warn(
            f"trackkit: --configs belongs to your script ({owner}), so trackkit does not read it; name trackkit's "
            f"config files with TRACKKIT_CONFIG_PATHS=a.yaml,b.yaml instead.",
            UserWarning,
            stacklevel=4,
        )
    return bool(owner)


def _absl_configs_flag() -> str:
    flags = sys.modules.get("absl.flags")  # never import absl: without it, no absl flag exists
    flag_values = getattr(flags, "FLAGS", None)
    try:
        return "absl flag 'configs'" if flag_values is not None and "configs" in flag_values else ""
    except Exception:
        return ""


def _argparse_configs_option() -> str:
    argparse = sys.modules.get("argparse")
    if argparse is None:
        return ""
    seen: set[int] = set()
    frame: Any = sys._getframe(1)
    while frame is not None:
        for namespace in (frame.f_locals, frame.f_globals):
            if id(namespace) in seen:
                continue
            seen.add(id(namespace))
            for value in list(namespace.values()):
                if isinstance(value, argparse.ArgumentParser) and "--configs" in getattr(
                    value, "_option_string_actions", {}
                ):
                    return "argparse option '--configs'"
                if isinstance(value, argparse.Namespace) and hasattr(value, "configs"):
                    return "argparse option '--configs'"
        frame = frame.f_back
    return ""
