"""``WebhookSink``: POST each supplier's payload as JSON to a URL."""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

from stockseries._time import iso_utc
from stockseries.sinks.base import (
    Payload,
    WebhookError,
    idempotency_key,
    redact_url,
    split_credentials,
    to_json,
    url_identity,
)
from stockseries.sinks.file import append_whole_lines

# A server asking for a longer pause than this is treated as asking for this long, so that one
# misconfigured receiver cannot stall a live pipeline for hours.
_MAX_RETRY_AFTER = 60.0


def _retry_after(headers: Message | None) -> float | None:
    """Seconds from a ``Retry-After: <seconds>`` header; the HTTP-date form is ignored."""
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Turn 3xx into errors: urllib would follow a 301/302/303 with a body-less GET and report
    success although the payload never arrived."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookSink:
    """POST each supplier's payload as JSON to a URL (stdlib :mod:`urllib`, no extra deps).

    Connection errors, timeouts, HTTP 5xx and HTTP 429 are retried up to ``retries`` times with
    exponential back-off (``backoff``, ``2·backoff``, ``4·backoff``, … seconds, no jitter; a
    ``Retry-After: <seconds>`` header lengthens the pause, capped at 60 s). Other 4xx and 3xx
    responses fail at once: repeating the same request cannot help (redirects are not followed,
    since urllib would replay a POST as a body-less GET). Any 2xx is success. When a
    payload fails for good it is appended to the ``dead_letter`` NDJSON file (if given) with the
    error, the last status and the number of attempts, and :class:`WebhookError` is raised; the
    notifier then leaves its ids unsent, so a later run retries them.

    Credentials in the URL (``https://user:token@host/...``) are sent as a Basic
    ``Authorization`` header (an explicit ``Authorization`` in ``headers`` wins); they never
    reach the resolver, the request line, messages, the dead-letter file or the state file.

    Every request carries ``Content-Type: application/json`` and an ``Idempotency-Key`` header
    derived from the supplier and the alert ids, identical across retries and reruns, so that a
    receiver can drop a repeat (for example when a response was lost after the server acted).

    Parameters
    ----------
    url : str
        ``http://`` or ``https://`` endpoint. Proxies from the environment apply, as in urllib.
    timeout : float, default 5.0
        Seconds for connecting and for each read of the response (urllib semantics: not a cap
        on the whole request).
    retries : int, default 3
        Extra attempts after the first, so at most ``retries + 1`` requests per payload.
    backoff : float, default 0.5
        Pause before the first retry; doubles for each further retry.
    dead_letter : str or os.PathLike, optional
        NDJSON file collecting payloads that could not be delivered. Request headers are not
        recorded (they may hold credentials).
    headers : mapping, optional
        Extra request headers (e.g. ``Authorization``); they override the defaults.
    name : str, optional
        Key in the state file; defaults to ``"webhook:" +`` :func:`~stockseries.sinks.base.url_identity`
        (scheme, host, port, path and a hash of the query: ``?tenant=1`` and ``?tenant=2`` are
        two sinks).
    sleep : callable, default time.sleep
        Used for the back-off pauses; tests inject a recorder.

    Examples
    --------
    >>> WebhookSink("https://user:token@example.com/hooks/stock?key=secret", retries=2)
    WebhookSink('https://example.com/hooks/stock', timeout=5.0, retries=2, backoff=0.5)
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        dead_letter: str | os.PathLike[str] | None = None,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be an http:// or https:// URL with a host, got {url!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
        if not backoff >= 0:
            raise ValueError(f"backoff must be >= 0 seconds, got {backoff!r}")
        self.url = url
        self._request_url, self._authorization = split_credentials(url)
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = float(backoff)
        self.dead_letter = Path(dead_letter) if dead_letter is not None else None
        self.headers = dict(headers or {})
        self.name = name or f"webhook:{url_identity(url)}"
        self._sleep = sleep
        # Built once: it reads proxy settings from the environment.
        self._opener = urllib.request.build_opener(_RefuseRedirects)

    def send(self, supplier_id: str | None, payload: Payload) -> None:
        """POST ``payload``; retry as documented; dead-letter and raise when it keeps failing."""
        body = to_json(payload).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json, */*;q=0.5",
            "User-Agent": "stockseries-webhook",
            "Idempotency-Key": idempotency_key(supplier_id, payload),
            **({"Authorization": self._authorization} if self._authorization else {}),
            **self.headers,
        }
        request = urllib.request.Request(
            self._request_url, data=body, headers=headers, method="POST"
        )
        status: int | None = None
        error = ""
        attempt = 0
        for attempt in range(1, self.retries + 2):
            retry_after: float | None = None
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    response.read()
                return
            except urllib.error.HTTPError as exc:
                status = exc.code
                error = f"HTTP {exc.code} {exc.reason}"
                retryable = exc.code >= 500 or exc.code == 429
                retry_after = _retry_after(exc.headers)
                exc.close()
            except TimeoutError:
                status, error, retryable = None, f"timed out after {self.timeout:g} s", True
            except urllib.error.URLError as exc:
                status, retryable = None, True
                reason = exc.reason
                error = (
                    f"timed out after {self.timeout:g} s"
                    if isinstance(reason, TimeoutError)
                    else f"connection failed: {reason}"
                )
            except (OSError, http.client.HTTPException) as exc:
                status, error, retryable = None, f"{type(exc).__name__}: {exc}", True
            if not retryable or attempt > self.retries:
                break
            delay = self.backoff * 2 ** (attempt - 1)
            self._sleep(max(delay, retry_after or 0.0))
        target = redact_url(self.url)
        if self.dead_letter is not None:
            self._write_dead_letter(supplier_id, payload, error, status, attempt)
        raise WebhookError(
            f"POST {target} for supplier {supplier_id!r} failed after {attempt} attempt(s): "
            f"{error}",
            url=target,
            supplier_id=supplier_id,
            attempts=attempt,
            status=status,
        )

    def _write_dead_letter(
        self,
        supplier_id: str | None,
        payload: Payload,
        error: str,
        status: int | None,
        attempts: int,
    ) -> None:
        assert self.dead_letter is not None
        record = {
            "failed_at": iso_utc(datetime.now(UTC)),
            "sink": self.name,
            "supplier_id": supplier_id,
            "attempts": attempts,
            "status": status,
            "error": error,
            "payload": payload,
        }
        self.dead_letter.parent.mkdir(parents=True, exist_ok=True)
        append_whole_lines(self.dead_letter, (to_json(record) + "\n").encode("utf-8"))

    def __repr__(self) -> str:
        dead_letter = f", dead_letter={str(self.dead_letter)!r}" if self.dead_letter else ""
        return (
            f"WebhookSink({redact_url(self.url)!r}, timeout={self.timeout}, retries={self.retries}, "
            f"backoff={self.backoff}{dead_letter})"
        )
