"""How a message leaves: an SMTP server (the standard library's smtplib), an SMS gateway over HTTP
(httpx), or, in development, the sink (a table that a staff page lists).

`BIRTHREG_SMTP_URL` has the form

    smtp://[USER:PASSWORD@]HOST[:PORT][?starttls=1][&cafile=/path/ca.pem][&timeout=15]
    smtps://[USER:PASSWORD@]HOST[:PORT][?cafile=…]                        (TLS from the start)

Port 25 by default (465 for smtps). `starttls=1` upgrades the connection before anything else is
said, and refuses to go on in clear if the server does not offer STARTTLS; the login (when the URL
has a user) happens only over TLS or on a loopback address. Certificates are checked against the
system's trust store, or against `cafile`. User and password are percent-encoded in the URL.

`BIRTHREG_SMS_URL` is an http(s) URL that takes `POST` with the JSON body
`{"to": "+77012345678", "text": "…", "id": "<event id>"}`. A 2xx answer means accepted; 409 means
the gateway has that id already (accepted earlier); 400 and 422 refuse this message for good;
anything else (and no answer) is tried again later. A user and password in the URL are sent as
HTTP basic authentication.

Each transport raises `Transient` (try again later) or `Permanent` (never again); their texts
carry no address.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Final, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite

from birthreg.db import one_writer_here
from birthreg.models import SinkMessage

SMTP_TIMEOUT: Final = 15.0
SMS_TIMEOUT: Final = 10.0
_TRUE: Final = ("1", "true", "yes", "on")


class DeliveryError(Exception):
    """A message was not delivered; `str()` is safe to store and log (no address, no text)."""


class Transient(DeliveryError):
    """Not delivered now; try again later."""


class Permanent(DeliveryError):
    """Refused for good (the address): never tried again."""


@dataclass(frozen=True)
class Outgoing:
    """One message on one channel."""

    event_id: str
    channel: str  # "email" or "sms"
    recipient: str
    language: str
    subject: str
    text: str
    moment: datetime


class Transport(Protocol):
    name: str

    def deliver(self, message: Outgoing) -> None: ...

    def flush(self) -> None:
        """Make what `deliver` accepted delivered (the sink writes its batch here); raise
        Transient if that failed."""

    def close(self) -> None: ...


# -- addresses -----------------------------------------------------------------------------------


def email_address(text: str) -> str | None:
    """A plain ASCII addr-spec (`name@example.kz`), or None for anything else (line breaks,
    display names, several addresses, non-ASCII that needs SMTPUTF8): what a dossier says is
    never pasted into a header as it is."""
    text = text.strip()
    if not text or not text.isascii() or any(c in text for c in '\r\n<>,;"') or len(text) > 254:
        return None
    try:
        address = Address(addr_spec=text)
    except (ValueError, IndexError, HeaderParseError):
        return None
    if not address.username or "." not in address.domain or parseaddr(text)[1] != text:
        return None
    return address.addr_spec


def phone_number(text: str) -> str | None:
    """The digits of a phone number with its leading "+", or None when it is not one."""
    text = text.strip()
    if not text or any(c not in "+0123456789 ()-" for c in text) or "+" in text[1:]:
        return None
    digits = "".join(c for c in text if c.isdigit())
    if not 7 <= len(digits) <= 15:
        return None
    return ("+" if text.startswith("+") else "") + digits


# -- SMTP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SMTPSettings:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None
    cafile: str | None
    timeout: float

    @classmethod
    def from_url(cls, url: str) -> SMTPSettings:
        """Read `smtp://…` or `smtps://…` (see the module's documentation). Raises ValueError."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("BIRTHREG_SMTP_URL must look like smtp://host:port or smtps://host")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        unknown = set(query) - {"starttls", "cafile", "timeout"}
        if unknown:
            raise ValueError(f"BIRTHREG_SMTP_URL has unknown options: {', '.join(sorted(unknown))}")
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 25),
            implicit_tls=implicit,
            starttls=query.get("starttls", "").lower() in _TRUE,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            cafile=query.get("cafile") or None,
            timeout=float(query.get("timeout") or SMTP_TIMEOUT),
        )

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)

    def on_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class SMTPTransport:
    """E-mail over SMTP, one connection kept for a sending pass (`close()` ends it)."""

    name = "smtp"

    def __init__(self, settings: SMTPSettings, mail_from: str) -> None:
        self.settings = settings
        self.mail_from = mail_from
        sender = parseaddr(mail_from)[1]
        self.domain = sender.rpartition("@")[2] or "birthreg.invalid"
        self._connection: smtplib.SMTP | None = None
        self._unreachable = False

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        connection: smtplib.SMTP
        if settings.implicit_tls:
            connection = smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                timeout=settings.timeout,
                context=settings.tls_context(),
            )
        else:
            connection = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        try:
            connection.ehlo()
            if settings.starttls:
                if not connection.has_extn("starttls"):
                    raise Transient("the SMTP server does not offer STARTTLS")
                connection.starttls(context=settings.tls_context())
                connection.ehlo()
            if settings.username:
                if not (settings.implicit_tls or settings.starttls or settings.on_loopback()):
                    raise Transient("refusing to send the SMTP password in clear (use starttls=1)")
                connection.login(settings.username, settings.password or "")
        except BaseException:
            connection.close()
            raise
        return connection

    def email(self, message: Outgoing) -> EmailMessage:
        """The e-mail: plain UTF-8 text, Message-ID from the event id (a receiver that sees the
        same Message-ID twice has the same message twice)."""
        email = EmailMessage()
        email["From"] = self.mail_from
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email["Date"] = format_datetime(message.moment)
        email["Message-ID"] = f"<{message.event_id}@{self.domain}>"
        email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        email.set_content(message.text)
        # After set_content, which replaces every Content-* header.
        email["Content-Language"] = message.language
        return email

    def deliver(self, message: Outgoing) -> None:
        if self._unreachable:
            raise Transient("the SMTP server was unreachable earlier in this pass")
        try:
            if self._connection is None:
                self._connection = self._connect()
            self._connection.send_message(self.email(message))
        except smtplib.SMTPRecipientsRefused as refused:
            codes = [code for code, _ in refused.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise Permanent(f"the SMTP server refused the recipient ({codes[0]})") from None
            raise Transient(f"the SMTP server deferred the recipient ({codes[:1]})") from None
        except smtplib.SMTPResponseException as error:
            self.close()
            raise Transient(f"the SMTP server answered {error.smtp_code}") from None
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            self.close()
            self._unreachable = True
            raise Transient(f"the SMTP server is unreachable ({type(error).__name__})") from None

    def flush(self) -> None:
        return None

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()


# -- the SMS gateway -----------------------------------------------------------------------------


class SMSTransport:
    """SMS through the HTTP gateway at `BIRTHREG_SMS_URL`, one client kept for a pass."""

    name = "gateway"

    def __init__(self, url: str, *, timeout: float = SMS_TIMEOUT) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("BIRTHREG_SMS_URL must be an http:// or https:// address")
        auth = None
        if parts.username:
            auth = httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
            netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
            url = parts._replace(netloc=netloc).geturl()
        self.url = url
        self._auth = auth
        self._timeout = timeout
        self._client: httpx.Client | None = None
        self._unreachable = False

    def deliver(self, message: Outgoing) -> None:
        if self._unreachable:
            raise Transient("the SMS gateway was unreachable earlier in this pass")
        if self._client is None:
            self._client = httpx.Client(timeout=self._timeout, auth=self._auth)
        body = {"to": message.recipient, "text": message.text, "id": message.event_id}
        try:
            response = self._client.post(self.url, json=body)
        except httpx.HTTPError as error:
            self._unreachable = True
            raise Transient(f"the SMS gateway is unreachable ({type(error).__name__})") from None
        if response.is_success or response.status_code == 409:
            return
        if response.status_code in (400, 422):
            raise Permanent(f"the SMS gateway refused the message ({response.status_code})")
        raise Transient(f"the SMS gateway answered {response.status_code}")

    def flush(self) -> None:
        return None

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


# -- the development sink ------------------------------------------------------------------------

_SINK = SinkMessage.__table__  # type: ignore[attr-defined]
_INSERT_SINK: Final[dict[str, Any]] = {
    name: dialect.insert(_SINK).on_conflict_do_nothing(index_elements=["event_id", "channel"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


class SinkTransport:
    """Development only: the message is kept in `notify_sink`, which /notify/outbox lists. The
    same event's message is kept once (a unique key), however often it is delivered. The
    messages `deliver` accepts are written together by `flush`, in one transaction."""

    name = "sink"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._accepted: list[dict[str, Any]] = []

    def deliver(self, message: Outgoing) -> None:
        self._accepted.append(
            {
                "event_id": message.event_id,
                "channel": message.channel,
                "recipient": message.recipient,
                "language": message.language,
                "subject": message.subject[:300],
                "text": message.text,
                "delivered_at": message.moment,
            }
        )

    def flush(self) -> None:
        accepted, self._accepted = self._accepted, []
        if not accepted:
            return
        with one_writer_here(self.engine), self.engine.begin() as connection:
            connection.execute(_INSERT_SINK[connection.dialect.name], accepted)

    def close(self) -> None:
        return None
