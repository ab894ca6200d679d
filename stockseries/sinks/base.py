"""What every sink shares: the :class:`Sink` protocol, payload helpers and the errors.

A sink delivers one supplier's payload per ``send`` call and raises when it could not. The
notifier guarantees *at-least-once* delivery with at most the send in flight at a crash
repeated, so a sink should let its receiver drop such a repeat: send
:func:`idempotency_key` with the payload (an HTTP header, a message key, a stream entry field).
A sink also has a ``name`` -- its key in the state file -- that must tell destinations apart:
everything that makes two destinations different belongs in it, secrets never do (see
:func:`url_identity`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol

Payload = dict[str, Any]


SentAt = datetime | Callable[[], datetime] | Literal["now"] | None


class Sink(Protocol):
    """Anything that can deliver one supplier's payload.

    ``send`` must raise on failure and return normally only once the payload is delivered; the
    notifier records the payload's alert ids as sent exactly then. A sink may also have a
    ``name`` attribute (its key in the state file); without one the class name is used.
    """

    def send(self, supplier_id: str | None, payload: Payload) -> None:
        """Deliver ``payload`` (see the module docstring) for ``supplier_id``."""
        ...


class StateFileError(ValueError):
    """The state file of sent alert ids cannot be read as such."""


class StateLockedError(StateFileError):
    """Another process (or notifier) held the state file longer than ``lock_timeout``."""


class WebhookError(RuntimeError):
    """A webhook delivery failed for good (retries exhausted or a non-retryable status).

    Attributes
    ----------
    url : str
        Target URL without credentials, query or fragment.
    supplier_id : str or None
        Supplier whose payload failed.
    attempts : int
        Number of HTTP attempts made.
    status : int or None
        Last HTTP status received, ``None`` when no response came back.
    """

    def __init__(
        self, message: str, *, url: str, supplier_id: str | None, attempts: int, status: int | None
    ) -> None:
        super().__init__(message)
        self.url = url
        self.supplier_id = supplier_id
        self.attempts = attempts
        self.status = status


def to_json(payload: Payload) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_identity(url: str) -> str:
    """What tells one HTTP destination from another, safe to keep in state files and logs.

    Scheme and host in lower case, the port unless it is the scheme's default, the path, and
    the query -- recorded as ``?sha256=<16 hex digits>`` of the query text, because a query
    may hold a token. Credentials (``user:token@``) and the fragment (never sent) are dropped.

    Examples
    --------
    >>> url_identity("HTTPS://user:pw@Example.com:443/hook?tenant=2#top")
    'https://example.com/hook?sha256=7edb074f1dbee2ea'
    >>> url_identity("http://127.0.0.1:8080/hook")
    'http://127.0.0.1:8080/hook'
    """
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = f"{host}:{port}" if port and port != _DEFAULT_PORTS.get(scheme) else host
    query = f"sha256={hashlib.sha256(parts.query.encode()).hexdigest()[:16]}" if parts.query else ""
    return urllib.parse.urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def split_credentials(url: str) -> tuple[str, str | None]:
    """The URL without ``user:password@`` and a Basic ``Authorization`` value for them.

    The URL that goes to the resolver and into the request line never holds the credentials.

    Examples
    --------
    >>> split_credentials("https://bot:s%40cret@example.com/hook?x=1")
    ('https://example.com/hook?x=1', 'Basic Ym90OnNAY3JldA==')
    >>> split_credentials("https://example.com/hook")
    ('https://example.com/hook', None)
    """
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return urllib.parse.urlunsplit(parts._replace(fragment="")), None
    netloc = parts.netloc.rpartition("@")[2]
    clean = urllib.parse.urlunsplit(parts._replace(netloc=netloc, fragment=""))
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return clean, f"Basic {token}"


def redact_url(url: str) -> str:
    """URL without userinfo, query or fragment: what may safely go into logs and state keys."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def idempotency_key(supplier_id: str | None, payload: Payload) -> str:
    ids = sorted(str(alert.get("alert_id")) for alert in payload.get("alerts", []))
    digest = hashlib.sha256(json.dumps([supplier_id, ids]).encode())
    return digest.hexdigest()[:32]


def sink_name(sink: object) -> str:
    name = getattr(sink, "name", None)
    return name if isinstance(name, str) and name else type(sink).__qualname__
