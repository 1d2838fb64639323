"""Print one pytest-style summary line for the JUnit reports of several tox environments.

A missing report counts as a failed environment (it never got to run its tests), so the
line and the exit code tell the truth about the whole suite.
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ElementTree


def main(root: str, envs: list[str]) -> int:
    totals = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    seconds = 0.0
    missing = []
    for env in envs:
        path = os.path.join(root, env, "results.xml")
        if not os.path.exists(path):
            missing.append(env)
            continue
        tree = ElementTree.parse(path)
        for suite in tree.iter("testsuite"):
            tests = int(suite.get("tests", 0))
            failures = int(suite.get("failures", 0))
            errors = int(suite.get("errors", 0))
            skipped = int(suite.get("skipped", 0))
            totals["failed"] += failures
            totals["errors"] += errors
            totals["skipped"] += skipped
            totals["passed"] += tests - failures - errors - skipped
            seconds += float(suite.get("time", 0.0))
    for env in missing:
        print(f"report: environment {env} produced no test report (it failed before its tests ran)")
    failed = totals["failed"] + len(missing)
    parts = [f"{failed} failed"] if failed else []
    parts.append(f"{totals['passed']} passed")
    if totals["skipped"]:
        parts.append(f"{totals['skipped']} skipped")
    if totals["errors"]:
        parts.append(f"{totals['errors']} errors")
    print(f"report: {len(envs) - len(missing)} of {len(envs)} environments ran their tests: {', '.join(envs)}")
    print(f"========== {', '.join(parts)} in {seconds:.2f}s ==========")
    return 1 if totals["failed"] or totals["errors"] or missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
