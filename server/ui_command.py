"""``trackkit ui``: the web UI over a store, on 127.0.0.1, in the browser.

Over the local store by default (no database, no account): one process serves the UI and the read
API. The port is 8787 or the next free one; the URL is printed, and opened unless ``--no-browser``.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any

__all__ = ["DEFAULT_PORT", "add_arguments", "free_port", "main_ui", "open_store", "warm_up"]

DEFAULT_PORT = 8787
HOST = "127.0.0.1"
_PORTS_TRIED = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``ui`` subcommand's options."""
    parser.add_argument("--store", help="a store directory (default: $TRACKKIT_DIR or the default folder)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT}, "
                                                                        "or the next free one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--read-only", action="store_true", help="refuse edits of tags and notes")


def free_port(start: int, host: str = HOST) -> int:
    """``start`` if nothing listens there, else the next free port above it."""
    for port in range(start, start + _PORTS_TRIED):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {start}..{start + _PORTS_TRIED - 1} on {host}")


def open_store(location: str | None, dir: str | None = None) -> Any:
    """The store ``trackkit ui`` serves: ``--store``, else ``--dir``, else the default store."""
    try:
        from trackkit._stores import open_store as open_any  # Store v2: stores by path or URL
    except ImportError:
        open_any = None
    if open_any is not None:
        return open_any(location or dir)
    import trackkit

    return trackkit.Api(location or dir).store  # the default folder, as every command finds it


def warm_up() -> None:
    """Import numpy (the charts' sampling, ~0.1-0.3 s) in a background thread while the server starts,
    so the first chart does not wait for it. Without numpy there is nothing to do."""
    import threading

    def load() -> None:
        try:
            from trackkit._sampling_numpy import numpy_or_none
        except ImportError:
            return
        numpy_or_none()

    threading.Thread(target=load, name="trackkit-warm-up", daemon=True).start()


def main_ui(args: argparse.Namespace) -> int:
    """Run the UI server until interrupted."""
    import uvicorn

    from .app import create_app

    warm_up()
    store = open_store(args.store, getattr(args, "dir", None))
    port = free_port(args.port)
    url = f"http://{HOST}:{port}/"
    app = create_app(store, read_only=args.read_only)
    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    print(f"trackkit ui: serving {getattr(store, 'location', store)} at {url}", flush=True)
    if not args.no_browser and not os.environ.get("CI"):
        import threading
        import webbrowser

        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m trackkit.server.ui_command``: the same as ``trackkit ui``."""
    parser = argparse.ArgumentParser(prog="trackkit ui", description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    return main_ui(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
