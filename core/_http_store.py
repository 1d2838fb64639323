"""The tracking server as a store: ``store="http://host:8080"`` (or ``TRACKKIT_STORE``).

Writing: every run goes to the local spool first (``dir=`` / ``TRACKKIT_DIR`` / the default folder,
a ``LocalStore`` written exactly as without a server), and a background ``Sender`` ships it to the
server (``trackkit._sender``); ``log()`` never waits for the network. ``mode="offline"`` keeps the
run in the spool only, for ``trackkit sync`` later.

Reading: the server's JSON API (``/api/v1``), so ``Api(store="http://...")`` and the CLI's
``--store http://...`` answer what they answer over a local store. Non-finite floats travel as the
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` and are decoded back to floats here.

``TRACKKIT_API_KEY`` is sent as ``Authorization: Bearer <key>``. Imported only when an http(s)
store is opened, so ``import trackkit`` never imports ``requests``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from typing import IO, Any, cast
from urllib.parse import quote

from ._errors import RunInUseError, RunNotFoundError, TrackkitError, UsageError
from ._local_store import LocalStore
from ._store import FileInfo, FileSource, KeyInfo, ProjectInfo, ResumeState, RunPage, RunRecord, SampledSeries
from ._stores import default_store_dir, local_store, register_scheme

__all__ = ["HttpClient", "HttpStore", "ServerError", "ServerUsageError", "decode_non_finite"]

#: (connect, read) seconds for one request.
TIMEOUT = (5.0, 30.0)
_PAGE = 10_000  # the server's largest page of runs
_HISTORY_PAGE = 100_000
_NON_FINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class ServerError(TrackkitError):
    """The server answered with an error (``status``, ``code``) or could not be reached (``status`` 0)."""

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.body = body or {}


class ServerUsageError(ServerError, UsageError):
    """The server found the request wrong (400): a bad filter, key or name."""


def decode_non_finite(value: Any) -> Any:
    """The JSON API's ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` strings back to floats, everywhere in a document."""
    if isinstance(value, str):
        return _NON_FINITE.get(value, value)
    if isinstance(value, dict):
        return {k: decode_non_finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_non_finite(v) for v in value]
    return value


class HttpClient:
    """A ``requests.Session`` per thread against one server: connection reuse, timeouts, the token."""

    def __init__(self, url: str, token: str | None = None, timeout: tuple[float, float] = TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.token = token if token is not None else (os.environ.get("TRACKKIT_API_KEY") or None)
        self.timeout = timeout
        self._local = threading.local()

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = self._local.session = requests.Session()
            session.headers["User-Agent"] = "trackkit"
            if self.token:
                session.headers["Authorization"] = f"Bearer {self.token}"
        return session

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, data: Any = None,
                stream: bool = False, timeout: tuple[float, float] | None = None,
                headers: dict[str, str] | None = None) -> Any:
        """One request to ``<url>/api/v1<path>``; a non-2xx answer raises ``ServerError`` (or
        ``RunNotFoundError`` for 404, ``RunInUseError`` for 409 ``run_in_use``); so does no answer (status 0)."""
        import requests

        if headers is None and data is not None:
            headers = {"Content-Type": "application/json"}
        try:
            response = self._session().request(method, self.url + "/api/v1" + path, params=params, data=data,
                                               headers=headers, stream=stream, timeout=timeout or self.timeout)
        except requests.RequestException as failure:
            raise ServerError(0, "unreachable", f"the trackkit server at {self.url} did not answer: {failure}") from None
        if response.status_code < 300:
            return response
        error: dict[str, Any] = {}
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                error = body["error"]
        except ValueError:
            pass
        code = str(error.get("code") or "http_error")
        message = str(error.get("message") or response.text[:200] or response.reason)
        if response.status_code == 404:
            raise RunNotFoundError(f"{message} (server {self.url})")
        if response.status_code == 409 and code == "run_in_use":
            raise RunInUseError(message)
        if response.status_code == 401:
            message += " (set TRACKKIT_API_KEY to a token from `trackkit server token create`)"
        kind = ServerUsageError if response.status_code == 400 else ServerError
        raise kind(response.status_code, code, f"server {self.url}: {response.status_code} {message}", error)

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return decode_non_finite(self.request("GET", path, params=params).json())


def _run_path(project: str, run_id: str) -> str:
    return f"/projects/{quote(project, safe='')}/runs/{quote(run_id, safe='')}"


class HttpStore:
    """A tracking server as a ``Store`` (see the module docstring).

    Args:
        url: ``http(s)://host:port``.
        spool_dir: the local store runs are written to first (default: ``TRACKKIT_DIR`` or the default folder).
        token: the API token (default: ``TRACKKIT_API_KEY``).
        offline: write to the spool only (``mode="offline"``); ``trackkit sync`` sends it later.
    """

    def __init__(self, url: str, spool_dir: str | None = None, *, token: str | None = None, offline: bool = False) -> None:
        self.location = url.rstrip("/")
        self.client = HttpClient(self.location, token)
        self._spool_dir = spool_dir
        self._spool: LocalStore | None = None
        self.offline = offline

    def __repr__(self) -> str:
        return f"HttpStore({self.location!r})"

    @property
    def spool(self) -> LocalStore:
        """The local store every run is written to first."""
        if self._spool is None:
            self._spool = local_store(self._spool_dir or os.environ.get("TRACKKIT_DIR") or default_store_dir())
        return self._spool

    def offline_store(self) -> HttpStore:
        """This store, spool only (``mode="offline"``)."""
        store = HttpStore(self.location, self._spool_dir, token=self.client.token, offline=True)
        store._spool = self._spool
        return store

    # -- writing: the spool, and a sender --------------------------------------------------------
    def open_run(self, project: str, run_id: str, *, resume: str | None) -> tuple[Any, ResumeState | None]:
        if resume in ("allow", "must") and not self.offline and not os.path.exists(
                os.path.join(self.spool.run_dir(project, run_id), "run.json")):
            self._fetch_into_spool(project, run_id)  # resuming on a machine without the run's spool
        sink, state = self.spool.open_run(project, run_id, resume=resume)
        if self.offline:
            return sink, state
        from ._sender import SendingSink

        return SendingSink(sink, self.client, project, run_id), state

    def _fetch_into_spool(self, project: str, run_id: str) -> None:
        """Copy a run the server holds into an empty spool, so that it resumes (its steps, summary and
        config continue) instead of starting over; waits up to ``TRACKKIT_INIT_TIMEOUT`` seconds (10)."""
        from ._local_store import _write_json_atomic
        from ._sender import BASE_FILE, SENT_FILE

        try:
            timeout = float(os.environ.get("TRACKKIT_INIT_TIMEOUT") or 10.0)
        except ValueError:
            timeout = 10.0
        client = HttpClient(self.location, self.client.token, timeout=(min(5.0, timeout), timeout))
        quick = HttpStore(self.location, self._spool_dir, token=self.client.token)
        quick.client = client
        path = f"/ingest/{quote(project, safe='')}/{quote(run_id, safe='')}"
        try:
            synced = client.get_json(path)
            try:
                record = quick.read_run(project, run_id)
            except RunNotFoundError:
                return  # a new run after all
            rows = list(quick.scan_history(project, run_id))
        except ServerError as error:
            raise UsageError(
                f"cannot resume run {project}/{run_id}: it is not in this machine's spool ({self.spool.location}) and "
                f"the server at {self.location} did not answer within {timeout:g} s ({error}). Resume it where its spool "
                f"is, or once the server answers (TRACKKIT_INIT_TIMEOUT sets the wait)."
            ) from None
        sink, _ = self.spool.open_run(project, run_id, resume=None)
        try:
            sink.write_config(record["config"])
            sink.write_summary(record["summary"])
            for start in range(0, len(rows), 10_000):
                sink.append_history(rows[start:start + 10_000])
            sink.write_meta(record["meta"])
        finally:
            sink.close()
        run_dir = self.spool.run_dir(project, run_id)
        # The server counted the lines of the first spool (checkpoints and markers included); this one
        # holds the rows as readers see them: its line n is the server's offset base + n.
        _write_json_atomic(os.path.join(run_dir, BASE_FILE), {
            "url": self.location, "offset": int(synced.get("offset") or 0) - len(rows),
            "system_offset": int(synced.get("system_offset") or 0)})
        _write_json_atomic(os.path.join(run_dir, SENT_FILE), {
            "url": self.location, "offset": int(synced.get("offset") or 0),
            "sent": {part: record[part] for part in ("meta", "config", "summary")}})

    def next_run_number(self, project: str) -> int:
        return self.spool.next_run_number(project)

    # -- reading: the JSON API -----------------------------------------------------------------------
    def project_infos(self) -> list[ProjectInfo]:
        return cast(list[ProjectInfo], self.client.get_json("/projects")["projects"])

    def projects(self) -> list[str]:
        return [info["name"] for info in self.project_infos()]

    def run_ids(self, project: str) -> list[str]:
        page = self.query_runs(project, fields=["id"])
        return sorted(run["id"] for run in page["runs"])

    def query_runs(
        self,
        project: str | None,
        filters: dict[str, Any] | None = None,
        order: str | Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        fields: Sequence[str] | None = None,
    ) -> RunPage:
        if isinstance(fields, str):
            raise UsageError(f"fields takes a list like ['config.lr', 'summary.loss']; got {fields!r}.")
        params: dict[str, Any] = {}
        if filters:
            params["filters"] = json.dumps(filters, allow_nan=False, default=str)
        if order:
            params["order"] = order if isinstance(order, str) else ",".join(order)
        if fields is not None:
            params["fields"] = ",".join(fields) or "id"
        path = "/runs" if project is None else f"/projects/{quote(project, safe='')}/runs"
        runs: list[Any] = []
        total = 0
        while True:
            want = _PAGE if limit is None else min(_PAGE, limit - len(runs))
            page = self.client.get_json(path, {**params, "limit": want, "offset": offset + len(runs)})
            runs += page["runs"]
            total = int(page["total"])
            if len(page["runs"]) < want or want == 0 or (limit is not None and len(runs) >= limit):
                break
        return {"runs": runs, "total": total}

    def read_run(self, project: str, run_id: str) -> RunRecord:
        found = self.client.get_json(_run_path(project, run_id))
        return {"meta": found["meta"], "config": found["config"], "summary": found["summary"]}

    def history_keys(self, project: str, run_id: str) -> dict[str, KeyInfo]:
        return cast(dict[str, KeyInfo], self.client.get_json(_run_path(project, run_id) + "/keys")["keys"])

    def scan_history(
        self,
        project: str,
        run_id: str,
        keys: Sequence[str] | None = None,
        min_step: int | None = None,
        max_step: int | None = None,
        include_superseded: bool = False,
    ) -> Iterator[dict[str, Any]]:
        if isinstance(keys, str):
            raise UsageError(f"keys takes a list of metric names; got {keys!r}.")
        params: dict[str, Any] = {"limit": _HISTORY_PAGE}
        if keys is not None:
            params["keys"] = ",".join(keys)
        if min_step is not None:
            params["min_step"] = min_step
        if max_step is not None:
            params["max_step"] = max_step
        if include_superseded:
            params["include_superseded"] = "true"
        path = _run_path(project, run_id) + "/history"
        first = self.client.get_json(path, {**params, "offset": 0})  # errors (404) at call time, as the others

        def pages(page: dict[str, Any]) -> Iterator[dict[str, Any]]:
            seen = 0
            while True:
                yield from page["rows"]
                seen += len(page["rows"])
                if not page.get("truncated") or not page["rows"]:
                    return
                page = self.client.get_json(path, {**params, "offset": seen})

        return pages(first)

    def iter_history(self, project: str, run_id: str, *, include_superseded: bool = False) -> Iterator[dict[str, Any]]:
        return self.scan_history(project, run_id, include_superseded=include_superseded)

    def sample_history(
        self,
        project: str,
        run_id: str,
        keys: Sequence[str],
        x: str = "_step",
        samples: int = 1000,
        start: float | None = None,
        stop: float | None = None,
        include_superseded: bool = False,
    ) -> dict[str, SampledSeries]:
        from ._sampling import check_sample_args

        check_sample_args(keys, x, samples, start, stop)
        params: dict[str, Any] = {"keys": ",".join(keys), "x": x, "samples": samples}
        if start is not None:
            params["start"] = repr(float(start))
        if stop is not None:
            params["stop"] = repr(float(stop))
        if include_superseded:
            params["include_superseded"] = "true"
        return cast(dict[str, SampledSeries], self.client.get_json(_run_path(project, run_id) + "/sample", params)["series"])

    def scan_system(self, project: str, run_id: str) -> Iterator[dict[str, Any]]:
        return iter(self.client.get_json(_run_path(project, run_id) + "/system")["rows"])

    def sample_system(
        self,
        project: str,
        run_id: str,
        keys: Sequence[str] | None = None,
        samples: int = 1000,
        start: float | None = None,
        stop: float | None = None,
    ) -> dict[str, SampledSeries]:
        params: dict[str, Any] = {"samples": samples}
        if keys is not None:
            params["keys"] = ",".join(keys)
        if start is not None:
            params["start"] = repr(float(start))
        if stop is not None:
            params["stop"] = repr(float(stop))
        path = _run_path(project, run_id) + "/system/sample"
        return cast(dict[str, SampledSeries], self.client.get_json(path, params)["series"])

    def list_files(self, project: str, run_id: str) -> list[FileInfo]:
        return cast(list[FileInfo], self.client.get_json(_run_path(project, run_id) + "/files")["files"])

    def open_file(self, project: str, run_id: str, name: str) -> IO[bytes]:
        response = self.client.request("GET", _run_path(project, run_id) + "/files/" + quote(name), stream=True)
        response.raw.decode_content = True
        return cast(IO[bytes], response.raw)

    # -- edits ---------------------------------------------------------------------------------------
    def edit_run(
        self,
        project: str,
        run_id: str,
        *,
        meta: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Merge an edit into a run on the server (``Store.edit_run`` there; a live writer keeps it)."""
        from ._edits import make_edit

        edit = make_edit(meta, config, summary)  # checks fields and keys here, as the local store does
        if edit is None:
            return
        body: dict[str, Any] = {part: edit[part] for part in ("config", "summary") if part in edit}
        if "meta" in edit:
            body["meta"] = {"set": edit["meta"]}
        self.client.request("POST", f"/edit/{quote(project, safe='')}/{quote(run_id, safe='')}",
                            data=json.dumps(body, allow_nan=True).encode())

    def update_run(
        self,
        project: str,
        run_id: str,
        *,
        meta: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """A repair through the server: the parts given become edits that make the run's values those
        of the documents (the server keeps its own provenance and bookkeeping)."""
        from ._changes import flatten as _flatten
        from ._edits import DELETE, EDITABLE_META

        current: dict[str, Any] = dict(self.read_run(project, run_id))
        changes: dict[str, Any] = {}
        if meta is not None:
            changes["meta"] = {k: v for k, v in meta.items() if k in EDITABLE_META and current["meta"].get(k) != v} or None
        for part, document, flat in (("config", config, True), ("summary", summary, False)):
            if document is None:
                continue
            new = dict(document.get("values") or {})
            old = dict(current[part].get("values") or {})
            if flat:
                new, old = _flatten(new), _flatten(old)
            change = {k: v for k, v in new.items() if k not in old or old[k] != v}
            change.update({k: DELETE for k in old if k not in new})
            changes[part] = change or None
        self.edit_run(project, run_id, **changes)

    def delete_run(self, project: str, run_id: str) -> None:
        self.client.request("DELETE", f"/edit/{quote(project, safe='')}/{quote(run_id, safe='')}")

    def put_file(self, project: str, run_id: str, name: str, source: FileSource) -> FileInfo:
        """Upload a file into a run on the server (streamed from a path or file object)."""
        import io

        from ._run_files import check_file_name

        name = check_file_name(name)
        path = f"/upload/{quote(project, safe='')}/{quote(run_id, safe='')}/{quote(name)}"
        headers = {"Content-Type": "application/octet-stream", "X-Trackkit-Writer": "api"}
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as handle:
                response = self.client.request("PUT", path, data=handle, headers=headers, timeout=(5.0, 300.0))
        else:
            data = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
            response = self.client.request("PUT", path, data=data, headers=headers, timeout=(5.0, 300.0))
        return cast(FileInfo, response.json())


def _open(url: str, spool_dir: str | None) -> HttpStore:
    return HttpStore(url, spool_dir)


register_scheme("http", _open)
register_scheme("https", _open)
