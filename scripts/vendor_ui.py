"""Refresh or check the UI's vendored front-end files from the npm registry (no Node needed).

    python scripts/vendor_ui.py            # check server/ui/vendor against SHA256SUMS (no network)
    python scripts/vendor_ui.py --fetch    # download the pinned packages, verify npm's integrity hash,
                                           # copy the files and rewrite SHA256SUMS

To move to a new version, change the pin in PACKAGES and run with --fetch; review the diff.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import pathlib
import sys
import tarfile
import urllib.request

REGISTRY = "https://registry.npmjs.org"
VENDOR = pathlib.Path(__file__).resolve().parent.parent / "server" / "ui" / "vendor"
#: package -> (pinned version, {file in the npm tarball: name in server/ui/vendor})
PACKAGES = {
    "uplot": ("1.6.32", {
        "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
        "package/dist/uPlot.min.css": "uPlot.min.css",
        "package/LICENSE": "uPlot.LICENSE",
    }),
}


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return bytes(response.read())


def fetch() -> None:
    """Download each pinned tarball, check npm's sha512 integrity, extract the listed files."""
    for name, (version, files) in PACKAGES.items():
        meta = json.loads(_get(f"{REGISTRY}/{name}/{version}"))
        tarball = _get(meta["dist"]["tarball"])
        algo, _, expected = meta["dist"]["integrity"].partition("-")
        if base64.b64encode(hashlib.new(algo, tarball).digest()).decode() != expected:
            sys.exit(f"{name}@{version}: the tarball does not match the registry's integrity hash")
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            for member, target in files.items():
                extracted = archive.extractfile(member)
                if extracted is None:
                    sys.exit(f"{name}@{version}: {member} is not a file")
                (VENDOR / target).write_bytes(extracted.read())
        print(f"{name}@{version}: {len(files)} files")
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in sorted(VENDOR.iterdir())
             if p.name != "SHA256SUMS"]
    versions = " ".join(f"{n}@{v}" for n, (v, _) in PACKAGES.items())
    (VENDOR / "SHA256SUMS").write_text(f"# {versions} from {REGISTRY}, by scripts/vendor_ui.py\n" + "\n".join(lines) + "\n")


def check() -> int:
    """Compare every vendored file with SHA256SUMS; the number of mismatches."""
    bad = 0
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        digest, name = line.split(maxsplit=1)
        path = VENDOR / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            print(f"MISMATCH {name}")
            bad += 1
    print("vendored files match SHA256SUMS" if not bad else f"{bad} vendored file(s) differ from SHA256SUMS")
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetch", action="store_true", help="download the pinned versions from the npm registry")
    args = parser.parse_args()
    if args.fetch:
        fetch()
    return 1 if check() else 0


if __name__ == "__main__":
    sys.exit(main())
