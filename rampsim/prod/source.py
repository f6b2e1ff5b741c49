"""The Prometheus source: raw samples of the plan's series over its HTTP API.

The engine is fed *raw samples on the scrape grid*, not PromQL results, because
the engine's metrics are PromQL's ``increase``/``histogram_quantile`` computed on
exactly those samples (closed windows on the grid; see
:mod:`rampsim.engine.metrics`). One instant query of a range vector per batch of
ticks fetches every series the engine reads::

    {__name__=~"rampsim_requests_total|...",job="api",arm=~"baseline|canary"}[15001ms]

evaluated at the end of the batch's last scrape slot ``high``, so it returns each series'
samples with their own timestamps. The range is one millisecond wider than the slots
``[low, high]``, and samples before ``low`` are dropped here: a 2.x server selects the
closed range ``[t-w, t]`` and a 3.x server the left-open ``(t-w, t]``, so a sample exactly
at ``low`` is returned by both, and the reads are exact on either line without asking the
server's version. (Timestamps are whole milliseconds on both.)

:meth:`PrometheusSource.instant` forwards any instant query to ``/api/v1/query`` (what
``rampsim query --prometheus`` prints) and :meth:`PrometheusSource.version` reads the
server's version from ``/api/v1/status/buildinfo``, with the same bounds and retries.

Failure handling: each request must be done, connection, headers and body, within
the policy's timeout (a server that drips its answer is cut off), and an answer
holds at most :data:`MAX_ANSWER` bytes. Connection errors, timeouts, HTTP 5xx/429
and malformed answers are retried a bounded number of times, with a backoff that
doubles up to a cap; then :class:`SourceUnavailable` says what went wrong. Other
HTTP 4xx answers (a bad query, missing authorisation) are not retried, and neither
are redirects: they are never followed, so the bearer token cannot reach another
server; the error names the URL to give instead.
"""
from __future__ import annotations

import http.client
import io
import json
import math
import re
import reprlib
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, cast

import numpy as np

from rampsim import __version__
from rampsim.errors import DataUnavailable, UsageError
from rampsim.prod.samples import RawSeries, sample_values
from rampsim.prod.instants import EARLIEST, LATEST, format_instant
from rampsim.prod.naming import Naming, quote
from rampsim.telemetry import Layout

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["RetryPolicy", "PrometheusSource", "SourceUnavailable", "AnswerTooLarge", "QueryRejected", "bearer_headers",
           "MAX_ANSWER", "MAX_ATTEMPTS"]

MAX_ANSWER = 64 * 2**20
"""Bytes an answer may hold; a larger one is refused, not retried."""
MAX_ATTEMPTS = 20
"""Attempts per request the command line allows."""
_CHUNK = 2**16
_T = TypeVar("_T")
_MAX_TOKEN = 2**16
_MAX_WARNINGS = 10


class SourceUnavailable(DataUnavailable):
    """Prometheus could not be read (after the retries the policy allows)."""


class AnswerTooLarge(SourceUnavailable):
    """Prometheus answered with more than :data:`MAX_ANSWER` bytes: a shorter time range per request may fit."""


class QueryRejected(UsageError):
    """Prometheus refused a query as invalid (HTTP 400 or 422: it does not parse, or cannot be evaluated)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Seconds per request (all of it), attempts, and the first backoff, doubled after each try up to a cap."""

    timeout: float = 5.0
    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise UsageError(f"the timeout must be a finite number of seconds above 0, got {self.timeout!r}")
        if self.attempts < 1:
            raise UsageError(f"at least one attempt is needed, got {self.attempts!r}")
        if not (0 <= self.backoff <= self.max_backoff and math.isfinite(self.max_backoff)):
            raise UsageError(f"the backoff must be finite and 0 <= backoff <= max_backoff, got "
                             f"{self.backoff!r} and {self.max_backoff!r}")

    def wait(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 before the second attempt)."""
        return min(self.backoff * 2.0 ** (retry - 1), self.max_backoff)


@dataclass(frozen=True)
class _Endpoint:
    """Where a Prometheus base URL points."""

    host: str
    port: int
    path: str
    tls: bool

    @classmethod
    def of(cls, url: str) -> "_Endpoint":
        """The endpoint of ``url``; raises :class:`UsageError` saying what is wrong with it."""
        shown = _printable(url)
        if not re.fullmatch(r"[\x21-\x7e]+", url):
            raise UsageError(f"the Prometheus URL {shown!r} holds spaces, control or non-ASCII characters")
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UsageError(f"cannot read the Prometheus URL {shown!r}: {exc}") from None
        if parts.scheme not in ("http", "https"):
            raise UsageError(f"the Prometheus URL must start with http:// or https://, got {shown!r}")
        if not parts.hostname:
            raise UsageError(f"the Prometheus URL {shown!r} names no host")
        if parts.username is not None or parts.password is not None:
            raise UsageError(f"the Prometheus URL {shown!r} holds credentials: use --bearer-token-file")
        if parts.query or parts.fragment:
            raise UsageError(f"the Prometheus URL {shown!r} has a query or fragment: give its base URL, "
                             f"e.g. http://prometheus:9090")
        tls = parts.scheme == "https"
        return cls(parts.hostname, port if port is not None else 443 if tls else 80, parts.path.rstrip("/"), tls)


@dataclass
class PrometheusSource:
    """Reads raw samples from the Prometheus at ``url`` (e.g. ``http://127.0.0.1:9090``)."""

    url: str
    layout: Layout
    naming: Naming = field(default_factory=Naming)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    headers: dict[str, str] = field(default_factory=dict)
    sleep: Callable[[float], None] = time.sleep
    warnings: list[str] = field(default_factory=list)
    _endpoint: _Endpoint = field(init=False, repr=False)
    _tls: Optional[ssl.SSLContext] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._endpoint = _Endpoint.of(self.url)
        self._tls = ssl.create_default_context() if self._endpoint.tls else None
        self.url = self.url.rstrip("/")

    @property
    def description(self) -> str:
        return f"Prometheus at {self.url}"

    def selector(self) -> str:
        """The series selector that matches every series the engine reads."""
        names = "|".join(sorted(self.naming.series_names().values()))
        arms = "|".join(_regex_literal(arm) for arm in self.layout.arms)
        labels = self.naming.selector()
        return ("{__name__=~" + quote(names) + ("," + labels if labels else "")
                + f",{self.naming.labels.arm}=~{quote(arms)}" + "}")

    def query(self, low_ms: int, high_ms: int, selector: Optional[str] = None) -> tuple[str, str]:
        """The PromQL and evaluation time that return every sample in ``[low_ms, high_ms]`` of the series
        ``selector`` (default :meth:`selector`) matches, on 2.x and 3.x.

        The range is ``high - low + 1`` ms: ``[low - 1, high]`` on 2.x, ``(low - 1, high]`` (that is
        ``[low, high]``) on 3.x; :meth:`samples` drops a sample at ``low - 1``.
        """
        return f"{selector or self.selector()}[{high_ms - low_ms + 1}ms]", format_instant(high_ms / 1000.0)

    def read(self, low_ms: int, high_ms: int) -> list[RawSeries]:
        """Samples with ``low_ms <= timestamp <= high_ms`` of every series; raises :class:`SourceUnavailable`."""
        return self.samples(self.selector(), low_ms, high_ms)

    def samples(self, selector: str, low_ms: int, high_ms: int) -> list[RawSeries]:
        """Samples with ``low_ms <= timestamp <= high_ms`` of the series ``selector`` matches, on 2.x and 3.x."""
        promql, at = self.query(low_ms, high_ms, selector)
        series, self.warnings = self._get("/api/v1/query", {"query": promql, "time": at}, _parse)
        return [s for s in (_within(s, low_ms, high_ms) for s in series) if len(s.timestamps_ms)]

    def instant(self, promql: str, at: float) -> dict[str, Any]:
        """The ``data`` of the instant query ``promql`` at unix time ``at`` (``{"resultType": ..., "result": ...}``).

        Raises :class:`QueryRejected` (a usage error) with the server's message when it refuses the
        query, :class:`SourceUnavailable` when it cannot be read.
        """
        data, self.warnings = self._get("/api/v1/query", {"query": promql, "time": format_instant(at)}, _parse_instant,
                                        rejected=True)
        return data

    def version(self) -> str:
        """The server's version, as ``/api/v1/status/buildinfo`` reports it (e.g. ``"2.42.0"``)."""
        version, _ = self._get("/api/v1/status/buildinfo", {}, _parse_buildinfo)
        return version

    def _get(self, path: str, params: dict[str, str], parse: Callable[[bytes], tuple[_T, list[str]]],
             rejected: bool = False) -> tuple[_T, list[str]]:
        """``parse`` of the answer to a GET of ``path``, retried as the policy allows; with ``rejected``, an HTTP
        400 or 422 answer (a query the server refuses) is :class:`QueryRejected`."""
        problem, tried = "", 0
        for attempt in range(self.policy.attempts):
            if attempt:
                self.sleep(self.policy.wait(attempt))
            tried += 1
            try:
                return self._parsed(self._exchange(path, urllib.parse.urlencode(params)), parse)
            except _TooLarge as exc:
                raise AnswerTooLarge(f"{self.description}: {exc}") from None
            except _Failure as exc:
                if rejected and exc.status in (400, 422):
                    raise QueryRejected(f"{self.description} refused the query: {self._redacted(str(exc))}") from None
                problem = self._redacted(str(exc))
                if not exc.retry:
                    break
        raise SourceUnavailable(f"{self.description}: {problem} (after {tried} attempt{'s' * (tried > 1)})")

    def _parsed(self, raw: bytes, parse: Callable[[bytes], tuple[_T, list[str]]]) -> tuple[_T, list[str]]:
        """``parse`` of the answer ``raw``, its data as sent; what it says in words (its warnings, or why it cannot
        be read) told from the answer with the bearer token taken out, when the server echoed it."""
        echoed = self._scrubbed(raw)
        try:
            data, warnings = parse(raw)
        except _Failure:
            if echoed != raw:
                parse(echoed)   # the same failure, told without the token (had it passed, the original is told)
            raise
        if echoed != raw:
            try:
                warnings = parse(echoed)[1]
            except _Failure:
                warnings = [self._redacted(warning) for warning in warnings]
        return data, warnings

    def _secrets(self) -> list[bytes]:
        """The bearer token as a server may echo it back: plain, JSON-escaped, with JSON's optional ``\\/``, and
        as Go's ``encoding/json`` writes it (Prometheus's own: ``&``, ``<`` and ``>`` as ``\\u0026``...)."""
        tokens = [value.split(" ", 1)[1] for name, value in self.headers.items()
                  if name.lower() == "authorization" and " " in value]
        forms = []
        for token in tokens:
            escaped = json.dumps(token)[1:-1]
            go = escaped.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            forms += [token, escaped, escaped.replace("/", "\\/"), go, go.replace("/", "\\/")]
        return [form.encode() for form in dict.fromkeys(forms)]

    def _scrubbed(self, raw: bytes) -> bytes:
        """``raw`` from the server with the bearer token taken out, for what is told of it in words (messages, logs,
        webhook answers): a server or proxy may echo the request's ``Authorization`` header in an error."""
        for secret in self._secrets():
            raw = raw.replace(secret, b"<token>")
        return raw

    def _redacted(self, text: str) -> str:
        return self._scrubbed(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")

    def _exchange(self, path: str, query: str) -> bytes:
        """One GET of ``path?query``, done within the timeout; the body of a 2xx answer, else :class:`_Failure`."""
        deadline = _Deadline(self.policy.timeout)
        late = f"no answer within {self.policy.timeout:g}s"
        try:
            sock = self._connect(deadline)
        except TimeoutError:
            raise _Failure(late) from None
        except OSError as exc:
            raise _Failure(f"unreachable: {exc}") from None
        host, port = self._endpoint.host, self._endpoint.port
        connection = (http.client.HTTPSConnection(host, port, context=self._tls) if self._tls
                      else http.client.HTTPConnection(host, port))
        connection.sock = cast(socket.socket, _DeadlineSocket(sock, deadline))
        try:
            connection.request("GET", f"{self._endpoint.path}{path}?{query}", headers={
                "Accept": "application/json", "User-Agent": f"rampsim/{__version__}", **self.headers})
            return self._body(connection.getresponse(), path)
        except TimeoutError:
            raise _Failure(late) from None
        except (http.client.HTTPException, OSError) as exc:  # a connection dropped mid-answer, and the like
            raise _Failure(f"broken answer: {type(exc).__name__}: {exc}") from None
        finally:
            connection.close()
            sock.close()

    def _connect(self, deadline: _Deadline) -> socket.socket:
        """A connection to the endpoint (TLS for https), made before ``deadline``."""
        sock = _open(self._endpoint.host, self._endpoint.port, deadline)
        if self._tls is None:
            return sock
        try:
            sock.settimeout(deadline.left())
            return self._tls.wrap_socket(sock, server_hostname=self._endpoint.host)
        except BaseException:
            sock.close()
            raise

    def _body(self, response: http.client.HTTPResponse, path: str) -> bytes:
        status, reason = response.status, _printable(self._redacted(response.reason or ""))
        if 300 <= status < 400:
            location = response.getheader("Location")
            location = self._redacted(location) if location else location
            if not location:
                raise _Failure(f"answered HTTP {status} {reason}, a redirect without a Location", retry=False)
            try:
                target = urllib.parse.urljoin(f"{self.url}{path}", location).split(path, 1)[0]
            except ValueError:
                target = location
            raise _Failure(f"answered HTTP {status} {reason}, a redirect to {_printable(target)}; rampsim does not "
                           f"follow redirects (the bearer token must not go to another server): give that URL "
                           f"with --prometheus", retry=False)
        if not 200 <= status < 300:
            raise _Failure(f"HTTP {status} {reason}{_error_detail(self._scrubbed(response.read(_CHUNK)))}",
                           retry=status == 429 or not 400 <= status < 500, status=status)
        too_large = _TooLarge(f"an answer larger than {MAX_ANSWER / 2**20:g} MiB: refused (ask for a shorter time "
                              f"range, or select fewer series)", retry=False)
        if response.length is not None and response.length > MAX_ANSWER:
            raise too_large
        body = bytearray()
        while chunk := response.read(_CHUNK):
            body += chunk
            if len(body) > MAX_ANSWER:
                raise too_large
        return bytes(body)


class _Failure(Exception):
    """One attempt that failed: what went wrong, whether another attempt may help, the HTTP status if any."""

    def __init__(self, problem: str, retry: bool = True, status: int = 0) -> None:
        super().__init__(problem)
        self.retry = retry
        self.status = status


class _TooLarge(_Failure):
    """An answer larger than :data:`MAX_ANSWER` (never retried as is: :class:`AnswerTooLarge`)."""


class _Deadline:
    """The monotonic instant by which a request must be done."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; raises :class:`TimeoutError` when none are."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request's deadline passed")
        return left


class _DeadlineSocket:
    """A connected socket as :mod:`http.client` uses it, every send and read bounded by one deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self.sock, self.deadline = sock, deadline

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(self.deadline.left())
        self.sock.sendall(data)

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self), _CHUNK)

    def close(self) -> None:
        """Nothing: :mod:`http.client` closes a connection before its answer is read; the request closes the socket."""


class _DeadlineReader(io.RawIOBase):
    """Reads from a :class:`_DeadlineSocket`, each read given only the time left."""

    def __init__(self, connection: _DeadlineSocket) -> None:
        super().__init__()
        self.connection = connection

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "WriteableBuffer") -> int:
        self.connection.sock.settimeout(self.connection.deadline.left())
        return self.connection.sock.recv_into(buffer)


def _open(host: str, port: int, deadline: _Deadline) -> socket.socket:
    """A TCP connection to ``host:port``, every address tried within one deadline."""
    problem: Optional[OSError] = None
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(deadline.left())
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as http.client's own connect does
            return sock
        except OSError as exc:
            sock.close()
            problem = exc
    raise problem or OSError(f"no address for {host}")


def _within(series: RawSeries, low_ms: int, high_ms: int) -> RawSeries:
    """``series`` with only the samples in ``[low_ms, high_ms]``."""
    keep = (series.timestamps_ms >= low_ms) & (series.timestamps_ms <= high_ms)
    if keep.all():
        return series
    return RawSeries(series.labels, series.timestamps_ms[keep], series.values[keep])


def _answer(raw: bytes) -> tuple[Any, list[str]]:
    """The ``data`` and the warnings of a successful API answer; :class:`_Failure` (retried) for anything else."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise _Failure(f"not a Prometheus API answer: {raw[:80]!r}") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        detail = body.get("error") if isinstance(body, dict) else None
        raise _Failure(f"query failed: {_printable(detail or body)}")
    return body.get("data"), _warnings(body)


def _parse(raw: bytes) -> tuple[list[RawSeries], list[str]]:
    """The series and warnings of a matrix answer; :class:`_Failure` (retried) for anything else."""
    data, warnings = _answer(raw)
    if not isinstance(data, dict) or data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        raise _Failure("expected a matrix of samples in the answer")
    series = [_series(entry) for entry in data["result"]]
    seen: set[frozenset[tuple[str, str]]] = set()
    for one in series:
        labels = frozenset(one.labels.items())
        if labels in seen:   # Prometheus never answers a label set twice: which copy holds the truth?
            raise _Failure(f"malformed answer: the series {_printable(one.labels)} comes twice")
        seen.add(labels)
    return series, warnings


def _parse_instant(raw: bytes) -> tuple[dict[str, Any], list[str]]:
    """The ``data`` of an instant query's answer, its shape checked; :class:`_Failure` otherwise."""
    data, warnings = _answer(raw)
    if not isinstance(data, dict) or data.get("resultType") not in ("vector", "scalar", "matrix", "string"):
        raise _Failure(f"malformed answer: expected a result type in {_printable(data)}")
    result = data.get("result")
    if data["resultType"] in ("scalar", "string"):
        if not (isinstance(result, list) and len(result) == 2 and isinstance(result[1], str)):
            raise _Failure(f"malformed {data['resultType']} in the answer: {_printable(result)}")
        if data["resultType"] == "scalar":
            try:
                sample_values([result[1]])
            except ValueError as exc:
                raise _Failure(f"malformed scalar in the answer ({exc}): {_printable(result)}") from None
    elif not (isinstance(result, list) and all(
            isinstance(e, dict) and isinstance(e.get("metric"), dict) for e in result)):
        raise _Failure(f"malformed {data['resultType']} in the answer: {_printable(result)}")
    if data["resultType"] == "vector":
        _check_vector(result)
    return {"resultType": data["resultType"], "result": result}, warnings


def _check_vector(result: list[dict[str, Any]]) -> None:
    """:class:`_Failure` unless every sample of an instant vector is ``[seconds, "value"]`` with a value Prometheus's
    client reads, and no label set comes twice (which copy would hold the truth?)."""
    values = [entry.get("value") for entry in result]
    pairs = [v for v in values if isinstance(v, list) and len(v) == 2]
    if len(pairs) < len(values):
        raise _Failure(f"malformed vector in the answer: {_printable(result)}")
    try:
        sample_values([v[1] for v in pairs])
    except ValueError as exc:
        raise _Failure(f"malformed vector in the answer ({exc}): {_printable(result)}") from None
    seen: set[frozenset] = set()
    for entry in result:
        labels = frozenset(entry["metric"].items()) if all(
            isinstance(v, str) for v in entry["metric"].values()) else None
        if labels is None:
            raise _Failure(f"malformed vector in the answer: {_printable(result)}")
        if labels in seen:
            raise _Failure(f"malformed answer: the series {_printable(entry['metric'])} comes twice")
        seen.add(labels)


def _parse_buildinfo(raw: bytes) -> tuple[str, list[str]]:
    """The version in a ``/api/v1/status/buildinfo`` answer; :class:`_Failure` otherwise."""
    data, warnings = _answer(raw)
    version = data.get("version") if isinstance(data, dict) else None
    if not (isinstance(version, str) and re.fullmatch(r"v?\d+\.\d+[0-9A-Za-z.+-]*", version.strip())):
        raise _Failure(f"malformed build information: no version in {_printable(data)}", retry=False)
    return version.strip(), warnings


def _warnings(body: dict[str, Any]) -> list[str]:
    """The answer's warnings, printable and at most :data:`_MAX_WARNINGS` of them."""
    warnings = body.get("warnings")
    if warnings is None:
        warnings = []
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise _Failure(f"malformed answer: warnings must be a list of strings, got {_printable(warnings)}")
    shown = [_printable(w) for w in warnings[:_MAX_WARNINGS]]
    if len(warnings) > _MAX_WARNINGS:
        shown.append(f"and {len(warnings) - _MAX_WARNINGS} more warnings")
    return shown


def _series(entry: Any) -> RawSeries:
    """One series of a matrix answer: ``{"metric": {label: value}, "values": [[seconds, "value"], ...]}``."""
    def malformed() -> _Failure:  # the message is built only when it is needed: answers hold many series
        return _Failure(f"malformed series in the answer: {_printable(entry)}")

    if not isinstance(entry, dict):
        raise malformed()
    metric, values = entry.get("metric"), entry.get("values") or []
    if not (isinstance(metric, dict) and all(isinstance(v, str) for v in metric.values())
            and isinstance(values, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[1], str)
                                                 and not isinstance(p[0], (bool, str)) for p in values)):
        raise malformed()   # a sample is [seconds, "value"]: a value that is not text (true, 1) is not one
    try:
        seconds = np.array([p[0] for p in values], dtype=float)
        samples = sample_values([p[1] for p in values])
    except (TypeError, ValueError, OverflowError):   # a timestamp of 400 digits overflows a float
        raise malformed() from None
    if not np.all((seconds >= EARLIEST) & (seconds <= LATEST)):
        raise malformed()
    return RawSeries(dict(metric), np.round(seconds * 1000).astype(np.int64), samples)


def _error_detail(raw: bytes) -> str:
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        return ""
    detail = body.get("error") if isinstance(body, dict) else None
    return f": {_printable(detail)}" if detail else ""


def _printable(value: object, limit: int = 200) -> str:
    """``value`` from a server, safe to print: a bounded repr unless text, control characters replaced, clipped."""
    text = value if isinstance(value, str) else reprlib.repr(value)
    text = re.sub(r"[\x00-\x1f\x7f-\x9f]", "?", text)
    return text if len(text) <= limit else text[:limit] + "..."


def _regex_literal(text: str) -> str:
    """``text`` matched literally in an RE2 regular expression."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def bearer_headers(token_file: Optional[str]) -> dict[str, str]:
    """An ``Authorization`` header from a bearer-token file (one line: the token), or none.

    Raises :class:`UsageError` naming the file when it cannot be read, is empty, or
    holds more than a token.
    """
    if not token_file:
        return {}
    try:
        with open(token_file, "rb") as handle:
            raw = handle.read(_MAX_TOKEN + 1)
    except OSError as exc:
        raise UsageError(f"--bearer-token-file {token_file}: cannot read it: {exc.strerror or exc}") from None
    token = raw.decode("utf-8", "replace").strip()
    problem = ("is empty" if not token
               else "spans several lines" if "\n" in token or "\r" in token
               else f"is longer than {_MAX_TOKEN} bytes" if len(raw) > _MAX_TOKEN
               else "holds a space or a character an HTTP header cannot carry"
               if not re.fullmatch(r"[\x21-\x7e]+", token) else "")
    if problem:
        raise UsageError(f"--bearer-token-file {token_file}: the file {problem} (expected one line: the token)")
    return {"Authorization": f"Bearer {token}"}
