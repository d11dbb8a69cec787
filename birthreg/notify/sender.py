"""The sender: claims due messages from the outbox and delivers them, at least once.

A pass (`Sender.send_pending`) claims up to `BATCH` due rows at a time in a short transaction:
`UPDATE … WHERE event_id IN (SELECT … FOR UPDATE SKIP LOCKED)` on PostgreSQL (rows another
sender is claiming are skipped, not waited for), the same statement in SQLite's BEGIN IMMEDIATE
transaction (writers are serialised there). The claim writes a token and a lease; delivery
happens outside any transaction, and each result is written back only if the token is still
there. A sender that dies mid-batch leaves its rows leased: they are claimed again when the lease
runs out. So with several workers or processes one sender delivers a given message, and a
message waits for a crashed sender at most `LEASE`.

At least once: a row is marked delivered only after the SMTP server or the gateway accepted it.
A crash between the two delivers it again (at most twice unless the lease runs out during the
second delivery): the e-mail's Message-ID and the gateway's `id` are the event id, so the receiver
can drop the copy. The development sink keeps each event's message once (a unique key).

Back-off: a transient failure is tried again after 10 s, 20 s, 40 s … at most an hour (each delay
drawn between half and all of that, so that many messages do not come back together), until it is
delivered or refused for good (an address the server refuses: `failed`). A channel with no
transport (production without BIRTHREG_SMTP_URL or BIRTHREG_SMS_URL) waits, looked at again every
`WAIT_UNCONFIGURED`.

In the serving process a `BackgroundSender` thread runs passes: at once when a request commits
an event (the outbox's doorbell), otherwise every `POLL_SECONDS` (events from other processes).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine, bindparam, case, func, or_, select, update

from birthreg.config import ConfigurationError, Settings
from birthreg.db import engine_from_settings, reading
from birthreg.models import ChannelState, EventKind, OutboxMessage, OutboxState, Submission, now
from birthreg.notify import messages
from birthreg.notify.outbox import doorbell
from birthreg.notify.tracking import format_tracking_number
from birthreg.notify.transports import (
    Outgoing,
    Permanent,
    SinkTransport,
    SMSTransport,
    SMTPSettings,
    SMTPTransport,
    Transient,
    Transport,
    email_address,
    phone_number,
)
from birthreg.packed import unpack

log = logging.getLogger("birthreg.notify")

BATCH: Final = 20
#: Longer than a batch can take: BATCH messages, each up to an SMTP and a gateway timeout.
LEASE: Final = timedelta(minutes=10)
RETRY_BASE: Final = timedelta(seconds=10)
RETRY_CAP: Final = timedelta(hours=1)
WAIT_UNCONFIGURED: Final = timedelta(minutes=15)
POLL_SECONDS: Final = 2.0
MIN_WAIT: Final = 0.01
CHANNELS: Final = ("email", "sms")

_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
_SUBMISSIONS = Submission.__table__  # type: ignore[attr-defined]
_PENDING = OutboxState.PENDING.value

_CLAIM: Final = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.event_id.in_(
            select(_OUTBOX.c.event_id)
            .where(
                _OUTBOX.c.state == _PENDING,
                _OUTBOX.c.next_attempt_at <= bindparam("now"),
                or_(_OUTBOX.c.lease_until.is_(None), _OUTBOX.c.lease_until <= bindparam("now")),
            )
            .order_by(_OUTBOX.c.next_attempt_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    )
    .values(claimed_by=bindparam("token"), lease_until=bindparam("lease"))
    .returning(
        _OUTBOX.c.event_id,
        _OUTBOX.c.kind,
        _OUTBOX.c.submission_id,
        _OUTBOX.c.params,
        _OUTBOX.c.email,
        _OUTBOX.c.sms,
        _OUTBOX.c.attempts,
    )
)
_MINE = (_OUTBOX.c.event_id == bindparam("event"), _OUTBOX.c.claimed_by == bindparam("token"))
# When the next pending message may be claimed: its next attempt, or the end of another sender's
# lease on it, whichever is later.
_NEXT_DUE: Final = select(
    func.min(
        case(
            (_OUTBOX.c.lease_until > _OUTBOX.c.next_attempt_at, _OUTBOX.c.lease_until),
            else_=_OUTBOX.c.next_attempt_at,
        )
    )
).where(_OUTBOX.c.state == _PENDING)
_CONTEXT: Final = select(_SUBMISSIONS.c.tracking_number, _SUBMISSIONS.c.dossier).where(
    _SUBMISSIONS.c.id == bindparam("submission")
)


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt (1, 2, …): doubling from
    RETRY_BASE up to RETRY_CAP, then drawn between half and all of it."""
    full: timedelta = min(RETRY_BASE * 2 ** min(max(attempts, 1) - 1, 20), RETRY_CAP)
    spread: timedelta = full * (0.5 + random.random() / 2)  # noqa: S311 (not a secret)
    return spread


# -- the channels of a deployment ----------------------------------------------------------------


def channel_status(settings: Settings) -> dict[str, str]:
    """How each channel is delivered: e-mail `smtp`, SMS `gateway`, or `sink` (development),
    or `not_configured` (production without the setting: messages wait). For /healthz."""
    sink = "not_configured" if settings.is_production else "sink"
    return {
        "email": "smtp" if settings.smtp_url else sink,
        "sms": "gateway" if settings.sms_url else sink,
    }


def check_settings(settings: Settings) -> None:
    """Raise ConfigurationError when BIRTHREG_SMTP_URL or BIRTHREG_SMS_URL cannot be used."""
    try:
        if settings.smtp_url:
            SMTPSettings.from_url(settings.smtp_url.get_secret_value())
        if settings.sms_url:
            SMSTransport(settings.sms_url.get_secret_value()).close()
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


def open_transports(settings: Settings, engine: Engine) -> dict[str, Transport | None]:
    """The transport of each channel for one pass (None: not configured, messages wait)."""
    check_settings(settings)
    sink = None if settings.is_production else SinkTransport(engine)
    email: Transport | None = sink
    sms: Transport | None = sink
    if settings.smtp_url:
        smtp = SMTPSettings.from_url(settings.smtp_url.get_secret_value())
        email = SMTPTransport(smtp, settings.mail_from)
    if settings.sms_url:
        sms = SMSTransport(settings.sms_url.get_secret_value())
    return {"email": email, "sms": sms}


# -- a pass --------------------------------------------------------------------------------------


@dataclass
class PassResult:
    """What a pass did, by message (event): delivered on every channel it could be, still to be
    tried, refused for good."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Context:
    tracking_number: str
    language: str
    addresses: dict[str, str | None]
    given: dict[str, bool]
    names: tuple[str, ...]


def _initial_states(row: Any, context: _Context) -> tuple[dict[str, str], list[str]]:
    """Each channel's state at the start of an attempt: as stored, or (the first time) pending
    when the application gives an address for it, `none` when it gives none, `failed` when what
    it gives is not an address (nothing to try)."""
    states: dict[str, str] = {}
    errors: list[str] = []
    for channel in CHANNELS:
        known = getattr(row, channel)
        if known:
            states[channel] = known
        elif context.addresses[channel]:
            states[channel] = ChannelState.PENDING.value
        elif context.given[channel]:
            states[channel] = ChannelState.FAILED.value
            errors.append(f"{channel}: not an address")
        else:
            states[channel] = ChannelState.NONE.value
    return states, errors


class Sender:
    """Delivers the outbox of one database, with the transports the settings name."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        check_settings(settings)
        self.engine = engine
        self.settings = settings
        self.parents_url = (settings.parents_url or f"{settings.base_url}/parents").rstrip("/")

    def send_pending(self, *, moment: datetime | None = None) -> PassResult:
        """Deliver every message due at `moment` (default: now), a batch at a time."""
        moment = moment or now()
        result = PassResult()
        transports = open_transports(self.settings, self.engine)
        try:
            while rows := self._claim(moment):
                result.claimed += len(rows)
                for row in rows:
                    self._deliver(row, transports, moment, result)
        finally:
            for transport in {id(t): t for t in transports.values() if t}.values():
                transport.close()
        if result.claimed:
            log.info(
                "notify: %d messages: %d sent, %d to retry, %d failed",
                result.claimed, result.sent, result.retrying, result.failed,
            )
        return result

    def seconds_until_due(self, moment: datetime | None = None) -> float | None:
        """Seconds until the next pending message is due (0 if one is), None if there is none."""
        with reading(self.engine) as connection:
            due: datetime | None = connection.execute(_NEXT_DUE).scalar_one_or_none()
        if due is None:
            return None
        return max(0.0, (due - (moment or now())).total_seconds())

    def _claim(self, moment: datetime) -> list[Any]:
        token = str(uuid.uuid4())
        with self.engine.begin() as connection:
            rows = connection.execute(
                _CLAIM, {"now": moment, "token": token, "lease": moment + LEASE}
            ).all()
        return [(token, row) for row in rows]

    def _context(self, submission_id: str) -> _Context | None:
        with reading(self.engine) as connection:
            found = connection.execute(_CONTEXT, {"submission": submission_id}).first()
            if found is None:
                return None
            dossier = json.loads(unpack(connection, found.dossier))
        record = dossier["medical_record"]["document"]
        application = dossier["application"]["document"]
        contact = application.get("contact") or {}
        email, phone = str(contact.get("email") or ""), str(contact.get("phone") or "")
        people = [record.get("mother") or {}, application.get("child") or {},
                  application.get("father") or {}]
        names = tuple(
            str(person.get(part))
            for person in people
            if isinstance(person, Mapping)
            for part in ("surname", "given_name", "patronymic")
            if person.get(part)
        )
        return _Context(
            tracking_number=format_tracking_number(found.tracking_number),
            language=messages.language_of(application),
            addresses={"email": email_address(email), "sms": phone_number(phone)},
            given={"email": bool(email.strip()), "sms": bool(phone.strip())},
            names=names,
        )

    def _message(self, kind: str, params: Mapping[str, Any], context: _Context) -> Any:
        certificate_id = params.get("certificate_id")
        return messages.render(
            EventKind(kind),
            context.language,
            tracking_number=context.tracking_number,
            params=params,
            status_url=self.parents_url,
            certificate_url=(
                f"{self.settings.base_url}/registry/certificates/{certificate_id}/print"
                if certificate_id
                else None
            ),
            hidden_names=context.names,
        )

    def _deliver(
        self,
        claimed: tuple[str, Any],
        transports: Mapping[str, Transport | None],
        moment: datetime,
        result: PassResult,
    ) -> None:
        token, row = claimed
        context = self._context(row.submission_id)
        if context is None:  # pragma: no cover - the foreign key keeps the submission
            self._finish(row, token, {}, moment, tried=False, errors=["the submission is gone"])
            result.failed += 1
            return
        message = self._message(row.kind, json.loads(row.params), context)
        states, errors = _initial_states(row, context)
        tried = retry = False
        for index, channel in enumerate(CHANNELS):
            if states[channel] != ChannelState.PENDING.value:
                continue
            transport = transports[channel]
            if transport is None:
                errors.append(f"{channel}: not configured")
                continue
            tried = True
            try:
                transport.deliver(
                    Outgoing(
                        event_id=row.event_id,
                        channel=channel,
                        recipient=str(context.addresses[channel]),
                        language=message.language,
                        subject=message.subject,
                        text=message.text if channel == "email" else message.sms,
                        moment=moment,
                    )
                )
            except (Permanent, Transient) as error:
                retry = retry or isinstance(error, Transient)
                if isinstance(error, Permanent):
                    states[channel] = ChannelState.FAILED.value
                errors.append(f"{channel}: {error}")
                continue
            states[channel] = ChannelState.SENT.value
            if any(states[c] == ChannelState.PENDING.value for c in CHANNELS[index + 1 :]):
                self._save_channel(row.event_id, token, channel, states[channel])
        state = self._finish(row, token, states, moment, tried=tried, errors=errors, retry=retry)
        counter = {OutboxState.SENT.value: "sent", OutboxState.FAILED.value: "failed"}
        name = counter.get(state, "retrying")
        setattr(result, name, getattr(result, name) + 1)
        result.errors.extend(f"{row.event_id} {error}" for error in errors)

    def _save_channel(self, event: str, token: str, channel: str, state: str) -> None:
        """A channel delivered before the next is tried: a crash then repeats only the next."""
        with self.engine.begin() as connection:
            connection.execute(
                update(_OUTBOX).where(*_MINE).values({channel: state}),
                {"event": event, "token": token},
            )

    def _finish(
        self,
        row: Any,
        token: str,
        states: Mapping[str, str],
        moment: datetime,
        *,
        tried: bool,
        errors: list[str],
        retry: bool = False,
    ) -> str:
        """Write the outcome back (only while this sender's claim holds); the row's state."""
        if any(s == ChannelState.PENDING.value for s in states.values()):
            state = _PENDING
        elif any(s == ChannelState.SENT.value for s in states.values()):
            state = OutboxState.SENT.value
        else:
            state = OutboxState.FAILED.value
        attempts = row.attempts + (1 if tried else 0)
        values: dict[str, Any] = {
            **states,
            "state": state,
            "attempts": attempts,
            "lease_until": None,
            "claimed_by": None,
            "last_error": "; ".join(errors)[:200] or None,
        }
        if state == _PENDING:
            values["next_attempt_at"] = moment + (
                retry_delay(attempts) if retry else WAIT_UNCONFIGURED
            )
        else:
            values["done_at"] = moment
        with self.engine.begin() as connection:
            connection.execute(
                update(_OUTBOX).where(*_MINE).values(values),
                {"event": row.event_id, "token": token},
            )
        return state


# -- in the serving process ----------------------------------------------------------------------


class BackgroundSender:
    """A thread that runs passes: woken by the doorbell (a commit in this process that queued a
    message) or every `poll` seconds; `stop()` ends it after the pass in progress."""

    def __init__(self, sender: Sender, *, poll: float = POLL_SECONDS) -> None:
        self.sender = sender
        self.poll = poll
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="birthreg-notify", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        doorbell.ring()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            seen = doorbell.rings
            wait = self.poll
            try:
                # A look that takes no write lock first: most polls find nothing due.
                due = self.sender.seconds_until_due()
                if due is not None and due <= 0:
                    self.sender.send_pending()
                    due = self.sender.seconds_until_due()
                if due is not None:
                    wait = max(MIN_WAIT, min(wait, due))
            except Exception as error:  # the next pass tries again; no message text is logged
                log.warning("notify: a sending pass failed (%s)", type(error).__name__)
            if self._stopping.is_set():
                return
            doorbell.wait(seen, wait)


def sender_enabled(settings: Settings) -> bool:
    """BIRTHREG_NOTIFY_SENDER: `birthreg serve` sets it to 1 unless it was set (so its workers
    send); an app made elsewhere (tests, tools) sends nothing unless it is 1."""
    return bool(settings.notify_sender)


@contextmanager
def background_sender(engine: Engine, settings: Settings) -> Iterator[None]:
    """The app's lifespan: a BackgroundSender while the app serves (when enabled)."""
    if not sender_enabled(settings):
        yield
        return
    background = BackgroundSender(Sender(engine, settings))
    background.start()
    try:
        yield
    finally:
        background.stop()


def send_pending(settings: Settings, *, moment: datetime | None = None) -> PassResult:
    """One pass over the settings' database (the CLI's `birthreg notify send-pending`)."""
    engine = engine_from_settings(settings)
    try:
        return Sender(engine, settings).send_pending(moment=moment)
    finally:
        engine.dispose()
