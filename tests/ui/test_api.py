"""The HTTP API the UI reads, against the same real ``trackkit ui`` process: JSON errors with the
right status, non-finite floats as strings, security headers, limits, health and OpenAPI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ui_support import UiServer


def test_runs_query_takes_the_filter_language_and_json(server: Any) -> None:
    """`q=` is the CLI's filter text, `filters=` the JSON form; both give the same runs, sorted and paged."""
    status, _, text_page = server.request("GET", "/api/v1/projects/demo/runs?q=config.lr%3C0.05&order=-config.lr&limit=2")
    assert status == 200
    assert text_page["total"] == 3
    assert [r["config"]["lr"] for r in text_page["runs"]] == [0.03, 0.01]
    _, _, json_page = server.request(
        "GET", "/api/v1/projects/demo/runs?filters=%7B%22config.lr%22%3A%7B%22%24lt%22%3A0.05%7D%7D&order=-config.lr&limit=2")
    assert json_page == text_page
    _, _, parsed = server.request("GET", "/api/v1/filter?q=config.lr%3C0.05")
    assert parsed == {"filters": {"config.lr": {"$lt": 0.05}}}


def test_non_finite_floats_travel_as_strings(server: Any, store: Any) -> None:
    """A NaN summary is the string "NaN" on the wire (JSON has no NaN)."""
    _, runs = store
    _, _, record = server.request("GET", f"/api/v1/projects/demo/runs/{runs['diverged']['id']}")
    assert record["summary"]["values"]["loss"] == "NaN"


def test_sample_many_runs_in_one_request(server: Any, store: Any) -> None:
    """POST /sample answers a series per run; one missing run does not fail the others."""
    _, runs = store
    status, _, body = server.request("POST", "/api/v1/sample", {
        "runs": [["demo", runs["lr-0.1"]["id"]], ["demo", "missing"]], "keys": ["loss"], "samples": 10})
    assert status == 200
    first, missing = body["runs"]
    assert len(first["series"]["loss"]["x"]) == 10
    assert max(first["series"]["loss"]["max"]) >= 1000.0
    assert missing["series"] == {} and "missing" in missing["error"]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("GET", "/api/v1/projects/demo/runs/nope", None, 404, "not_found"),
    ("GET", "/api/v1/projects/demo/runs?limit=abc", None, 400, "bad_request"),
    ("GET", "/api/v1/projects/demo/runs?filters=%7Bbad", None, 400, "bad_request"),
    ("GET", "/api/v1/projects/demo/runs?filters=%7B%22config.lr%22%3A%7B%22%24where%22%3A1%7D%7D", None, 400, "bad_request"),
    ("POST", "/api/v1/sample", {"runs": "x", "keys": ["loss"]}, 400, "bad_request"),
    ("PATCH", "/api/v1/projects/demo/runs/nope", {"tags": "notalist"}, 400, "bad_request"),
    ("GET", "/api/v1/nowhere", None, 404, "not_found"),
])
def test_errors_are_json_with_the_right_status(server: Any, method: str, path: str, body: Any, status: int, code: str) -> None:
    got, headers, answer = server.request(method, path, body)
    assert (got, answer["error"]["code"]) == (status, code)
    assert answer["error"]["message"]
    assert headers["content-type"].startswith("application/json")


def test_oversized_bodies_get_413_before_they_are_read(server: Any) -> None:
    """A body announced over the limit (1 MiB) is refused from its Content-Length alone."""
    import http.client
    import json

    host, port = server.url.split("//")[1].strip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/api/v1/sample")
    connection.putheader("content-type", "application/json")
    connection.putheader("content-length", str(50 * 1024 * 1024))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"]["code"] == "too_large"
    connection.close()


def test_every_response_forbids_inline_scripts(server: Any) -> None:
    """The page and the API carry a CSP without 'unsafe-inline', and never get sniffed."""
    for path in ("/", "/api/v1/projects", "/ui/js/main.js"):
        status, headers, _ = server.request("GET", path) if path.startswith("/api") else _raw(server, path)
        assert status == 200
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


def _raw(server: Any, path: str) -> tuple[int, dict[str, str], None]:
    import urllib.request

    with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=10) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}, None


def test_health_readiness_and_openapi(server: Any) -> None:
    assert server.request("GET", "/healthz")[2] == {"status": "ok"}
    assert server.request("GET", "/readyz")[2] == {"status": "ready"}
    _, _, document = server.request("GET", "/api/v1/openapi.json")
    assert document["openapi"].startswith("3.")
    assert "/api/v1/projects/{project}/runs" in document["paths"]
    assert "patch" in document["paths"]["/api/v1/projects/{project}/runs/{run}"]


def test_read_only_ui_refuses_edits(store: Any) -> None:
    """`trackkit ui --read-only` answers 403 to a tag edit and the run keeps its tags."""
    root, runs = store
    run_id = runs["lr-0.1"]["id"]
    server = UiServer(Path(root), "--read-only")
    try:
        status, _, answer = server.request("PATCH", f"/api/v1/projects/demo/runs/{run_id}", {"tags": ["hacked"]})
        assert (status, answer["error"]["code"]) == (403, "forbidden")
        assert server.request("GET", f"/api/v1/projects/demo/runs/{run_id}")[2]["meta"]["tags"] == ["sweep"]
    finally:
        server.stop()


def test_the_port_moves_on_when_taken(store: Any, server: Any) -> None:
    """A second `trackkit ui` asked for a busy port takes the next free one and prints it."""
    root, _ = store
    busy = server.url.rsplit(":", 1)[1].strip("/")
    second = UiServer(Path(root), "--port", busy)  # the later --port wins in argparse
    try:
        assert second.url != server.url
        assert second.request("GET", "/healthz")[0] == 200
    finally:
        second.stop()


def test_polling_gets_304_until_something_changes(server: Any) -> None:
    """JSON answers carry an ETag; asking again with it gets 304 and no body (what a live view's
    polling costs while nothing changed)."""
    import urllib.error
    import urllib.request

    url = server.url.rstrip("/") + "/api/v1/projects/demo/runs?limit=3"
    with urllib.request.urlopen(url, timeout=10) as response:
        etag = response.headers["etag"]
        assert etag and response.headers["cache-control"] == "no-cache"
    request = urllib.request.Request(url, headers={"if-none-match": etag})
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("expected 304")
    except urllib.error.HTTPError as error:
        assert error.code == 304
        assert error.read() == b""
    other = urllib.request.Request(url.replace("limit=3", "limit=2"), headers={"if-none-match": etag})
    with urllib.request.urlopen(other, timeout=10) as response:
        assert response.status == 200


def test_run_files_download_as_attachments_and_names_cannot_escape(server: Any, store: Any) -> None:
    """A run file comes back byte for byte as a download (never rendered); `..` in a name is refused."""
    import http.client

    run_id = store[1]["lr-0.1"]["id"]
    base = f"/api/v1/projects/demo/runs/{run_id}/files"
    _, _, listing = server.request("GET", base)
    names = [f["name"] for f in listing["files"]]
    assert names, "the run should own files (its console log at least)"
    host, port = server.url.split("//")[1].strip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", f"{base}/{names[0]}")
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200
    assert response.getheader("content-disposition").startswith("attachment")
    assert response.getheader("content-type") == "application/octet-stream"
    assert len(body) == next(f["size"] for f in listing["files"] if f["name"] == names[0])
    connection.request("GET", f"{base}/../../../../etc/passwd")
    response = connection.getresponse()
    response.read()
    assert response.status in (400, 404)
    connection.close()


def test_keys_of_many_runs_in_one_request(server: Any, store: Any) -> None:
    """POST /keys answers each run's history keys (a chart of 100 runs asks once, not 100 times)."""
    _, runs = store
    status, _, body = server.request("POST", "/api/v1/keys", {"runs": [["demo", runs["lr-0.1"]["id"]], ["demo", "missing"]]})
    assert status == 200
    first, missing = body["runs"]
    assert first["keys"]["loss"]["count"] == 3000 and first["keys"]["loss"]["type"] == "number"
    assert missing["keys"] == {} and "missing" in missing["error"]


@pytest.mark.parametrize("document", [
    {"a": [1.0, float("nan"), {"b": float("inf")}], "c": None},
    {"x": [None, 1.0, float("-inf")]},
    {"x": [float("inf"), float("-inf")]},
    {"t": (1.0, float("nan"))},
    [float("nan")],
    {"big": [1e308, 1e308], "n": 2**70, "s": "NaN-looking text"},
    {"runs": [{"series": {"x": [0.0, 1.0], "min": [None, 2.0]}}] * 3},
])
def test_encoding_keeps_every_non_finite_float(document: Any) -> None:
    """The fast encoder is used only when it cannot lose a value: NaN and ±inf always come out as
    strings, None as null, everything else exactly as the standard library writes it."""
    import json
    import math

    from trackkit.server.app import dumps

    def expected(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
        if isinstance(value, dict):
            return {k: expected(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [expected(v) for v in value]
        return value

    assert json.loads(dumps(document)) == expected(document)
