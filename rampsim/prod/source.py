"""The Prometheus source: raw samples of the plan's series over its HTTP API.

The engine is fed *raw samples on the scrape grid*, not PromQL results, because
the engine's metrics are PromQL's ``increase``/``histogram_quantile`` computed on
exactly those samples (closed windows on the grid; see
:mod:`rampsim.engine.metrics`). One instant query of a range vector per batch of
ticks fetches every series the engine reads::

    {__name__=~"rampsim_requests_total|...",job="api",arm=~"baseline|canary"}[15000ms]

evaluated at the end of the batch's last scrape slot, so it returns each series'
samples with their own timestamps over the closed range ``[low, high]``.

Failure handling: every request has a timeout; connection errors, timeouts, HTTP
5xx/429 and malformed answers are retried a bounded number of times with
exponential backoff, then :class:`SourceUnavailable` says what went wrong. Other
HTTP 4xx answers (a bad query, missing authorisation) are not retried.
"""
from __future__ import annotations

import http.client
import json
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from rampsim.errors import DataUnavailable, UsageError
from rampsim.prod.columns import RawSeries
from rampsim.prod.grid import format_instant
from rampsim.prod.naming import Naming, quote
from rampsim.telemetry import Layout

__all__ = ["RetryPolicy", "PrometheusSource", "SourceUnavailable", "bearer_headers"]


class SourceUnavailable(DataUnavailable):
    """Prometheus could not be read (after the retries the policy allows)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Per-request timeout (seconds), total attempts, and the first backoff (doubled each time)."""

    timeout: float = 5.0
    attempts: int = 3
    backoff: float = 0.5


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

    def __post_init__(self) -> None:
        if not re.match(r"^https?://", self.url):
            raise UsageError(f"the Prometheus URL must start with http:// or https://, got {self.url!r}")
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

    def query(self, low_ms: int, high_ms: int) -> tuple[str, str]:
        """The PromQL and evaluation time that return every sample in ``[low_ms, high_ms]``."""
        return f"{self.selector()}[{high_ms - low_ms}ms]", format_instant(high_ms / 1000.0)

    def read(self, low_ms: int, high_ms: int) -> list[RawSeries]:
        """Samples with ``low_ms <= timestamp <= high_ms`` of every series; raises :class:`SourceUnavailable`."""
        promql, at = self.query(low_ms, high_ms)
        body = self._get("/api/v1/query", {"query": promql, "time": at})
        return self._series(body)

    def _get(self, path: str, params: dict[str, str]) -> dict:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers={"Accept": "application/json", **self.headers})
        problem, tried = "", 0
        for attempt in range(max(1, self.policy.attempts)):
            if attempt:
                self.sleep(self.policy.backoff * 2 ** (attempt - 1))
            tried += 1
            try:
                with urllib.request.urlopen(request, timeout=self.policy.timeout) as response:
                    return self._decode(response.read())
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code} {exc.reason}{_error_detail(exc)}"
                if exc.code < 500 and exc.code != 429:
                    break
            except (urllib.error.URLError, ConnectionError) as exc:
                reason = getattr(exc, "reason", exc)
                timed_out = isinstance(reason, (socket.timeout, TimeoutError))
                problem = f"no answer within {self.policy.timeout:g}s" if timed_out else f"unreachable: {reason}"
            except (socket.timeout, TimeoutError):
                problem = f"no answer within {self.policy.timeout:g}s"
            except _BadAnswer as exc:
                problem = str(exc)
            except (http.client.HTTPException, OSError) as exc:  # a connection dropped mid-answer, and the like
                problem = f"broken answer: {type(exc).__name__}: {exc}"
        raise SourceUnavailable(f"{self.description}: {problem} (after {tried} attempt{'s' * (tried > 1)})")

    @staticmethod
    def _decode(raw: bytes) -> dict:
        try:
            body = json.loads(raw)
        except ValueError:
            raise _BadAnswer(f"not a Prometheus API answer: {raw[:80]!r}") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            detail = body.get("error", "") if isinstance(body, dict) else ""
            raise _BadAnswer(f"query failed: {detail or str(body)[:80]}")
        data = body.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
            raise _BadAnswer("expected a matrix of samples in the answer")
        return body

    def _series(self, body: dict) -> list[RawSeries]:
        self.warnings = [str(w) for w in body.get("warnings") or []]
        result = []
        for entry in body["data"]["result"]:
            try:
                labels = {str(k): str(v) for k, v in entry["metric"].items()}
                pairs = np.asarray(entry.get("values") or [], dtype=object).reshape(-1, 2)
                stamps = np.round(pairs[:, 0].astype(float) * 1000).astype(np.int64)
                samples = pairs[:, 1].astype(float)
            except (KeyError, TypeError, ValueError, AttributeError):
                raise SourceUnavailable(f"{self.description}: malformed series in the answer: "
                                        f"{str(entry)[:80]}") from None
            result.append(RawSeries(labels, stamps, samples))
        return result


class _BadAnswer(Exception):
    """An answer that is not what the Prometheus API promises (retried)."""


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return ""
    detail = body.get("error") if isinstance(body, dict) else None
    return f": {detail}" if detail else ""


def _regex_literal(text: str) -> str:
    """``text`` matched literally in an RE2 regular expression."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def bearer_headers(token_file: Optional[str]) -> dict[str, str]:
    """An ``Authorization`` header from a bearer-token file, or none."""
    if not token_file:
        return {}
    with open(token_file, encoding="utf-8") as handle:
        return {"Authorization": f"Bearer {handle.read().strip()}"}
