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

In the serving process a `BackgroundSender` thread runs passes: `GATHER_SECONDS` after a request
commits an event (the outbox's doorbell; the events of that moment go in one pass), otherwise every
`POLL_SECONDS` (events from other processes). A pass writes a batch's results in a few
transactions, however many messages it holds: on SQLite every write waits for the one write lock,
which the registry's intake needs too.
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
from birthreg.db import engine_from_settings, one_writer_here, reading
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
#: After the doorbell rings, how long a BackgroundSender waits for more commits before its pass.
GATHER_SECONDS: Final = 0.2
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
_CONTEXT: Final = select(
    _SUBMISSIONS.c.id, _SUBMISSIONS.c.tracking_number, _SUBMISSIONS.c.dossier
).where(_SUBMISSIONS.c.id.in_(bindparam("submissions", expanding=True)))
# The outcome of one claimed message, written back only while the claim is this sender's.
_FINISH: Final = (
    update(_OUTBOX)
    .where(*_MINE)
    .values(
        email=bindparam("email_state"),
        sms=bindparam("sms_state"),
        state=bindparam("state"),
        attempts=bindparam("attempts"),
        lease_until=None,
        claimed_by=None,
        last_error=bindparam("last_error"),
        next_attempt_at=func.coalesce(bindparam("next_attempt"), _OUTBOX.c.next_attempt_at),
        done_at=func.coalesce(bindparam("done"), _OUTBOX.c.done_at),
    )
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


@dataclass
class _Attempt:
    """One claimed message during a pass: where each channel stands and what went wrong."""

    row: Any
    message: Any
    addresses: Mapping[str, str | None]
    states: dict[str, str]
    errors: list[str]
    tried: bool = False
    retry: bool = False


class Sender:
    """Delivers the outbox of one database, with the transports the settings name."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        check_settings(settings)
        self.engine = engine
        self.settings = settings
        self.parents_url = (settings.parents_url or f"{settings.base_url}/parents").rstrip("/")

    def send_pending(self, *, moment: datetime | None = None) -> PassResult:
        """Deliver every message due at `moment` (default: now), a batch at a time.

        A batch costs a fixed number of short write transactions whatever its size (the claim;
        per channel, the sink's messages and the states saved before the next channel is tried;
        the outcome), so a busy registry's intakes do not queue behind a sender's writes."""
        moment = moment or now()
        result = PassResult()
        transports = open_transports(self.settings, self.engine)
        try:
            while claimed := self._claim(moment):
                token, rows = claimed
                result.claimed += len(rows)
                self._deliver_batch(token, rows, transports, moment, result)
        finally:
            for transport in {id(t): t for t in transports.values() if t}.values():
                transport.close()
        if result.claimed:
            log.info(
                "notify: %d messages: %d sent, %d to retry, %d failed",
                result.claimed,
                result.sent,
                result.retrying,
                result.failed,
            )
        return result

    def seconds_until_due(self, moment: datetime | None = None) -> float | None:
        """Seconds until the next pending message is due (0 if one is), None if there is none."""
        with reading(self.engine) as connection:
            due: datetime | None = connection.execute(_NEXT_DUE).scalar_one_or_none()
        if due is None:
            return None
        return max(0.0, (due - (moment or now())).total_seconds())

    def _claim(self, moment: datetime) -> tuple[str, list[Any]] | None:
        token = str(uuid.uuid4())
        with one_writer_here(self.engine), self.engine.begin() as connection:
            rows = connection.execute(
                _CLAIM, {"now": moment, "token": token, "lease": moment + LEASE}
            ).all()
        return (token, list(rows)) if rows else None

    def _contexts(self, submission_ids: set[str]) -> dict[str, _Context]:
        with reading(self.engine) as connection:
            found = connection.execute(_CONTEXT, {"submissions": sorted(submission_ids)}).all()
            return {row.id: _context(row, unpack(connection, row.dossier)) for row in found}

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

    def _attempts(self, rows: list[Any]) -> list[_Attempt]:
        """The batch's messages (a row whose submission is gone fails: none is, a foreign key)."""
        contexts = self._contexts({row.submission_id for row in rows})
        attempts = []
        for row in rows:
            context = contexts.get(row.submission_id)
            if context is None:  # pragma: no cover - the foreign key keeps the submission
                attempts.append(_Attempt(row, None, {}, {}, ["the submission is gone"]))
                continue
            message = self._message(row.kind, json.loads(row.params), context)
            states, errors = _initial_states(row, context)
            attempts.append(_Attempt(row, message, context.addresses, states, errors))
        return attempts

    def _deliver_batch(
        self,
        token: str,
        rows: list[Any],
        transports: Mapping[str, Transport | None],
        moment: datetime,
        result: PassResult,
    ) -> None:
        attempts = self._attempts(rows)
        for index, channel in enumerate(CHANNELS):
            waiting = [a for a in attempts if a.states.get(channel) == ChannelState.PENDING.value]
            sent = _deliver_channel(channel, transports[channel], waiting, moment)
            # A channel delivered before the next is tried: a crash then repeats only the next.
            later = [
                a
                for a in sent
                if any(a.states[c] == ChannelState.PENDING.value for c in CHANNELS[index + 1 :])
            ]
            self._save_channel(token, channel, later)
        for attempt in attempts:
            state = _outcome(attempt.states)
            counter = {OutboxState.SENT.value: "sent", OutboxState.FAILED.value: "failed"}
            name = counter.get(state, "retrying")
            setattr(result, name, getattr(result, name) + 1)
            result.errors.extend(f"{attempt.row.event_id} {error}" for error in attempt.errors)
        self._finish(token, attempts, moment)

    def _save_channel(self, token: str, channel: str, attempts: list[_Attempt]) -> None:
        if not attempts:
            return
        with one_writer_here(self.engine), self.engine.begin() as connection:
            connection.execute(
                update(_OUTBOX).where(*_MINE).values({channel: bindparam("channel_state")}),
                [
                    {"event": a.row.event_id, "token": token, "channel_state": a.states[channel]}
                    for a in attempts
                ],
            )

    def _finish(self, token: str, attempts: list[_Attempt], moment: datetime) -> None:
        """Write each outcome back (only while this sender's claim holds), in one transaction."""
        with one_writer_here(self.engine), self.engine.begin() as connection:
            connection.execute(_FINISH, [_finished(token, attempt, moment) for attempt in attempts])


def _context(found: Any, dossier_text: str) -> _Context:
    """What a message needs from its submission (a row of _CONTEXT, its dossier's text)."""
    dossier = json.loads(dossier_text)
    record = dossier["medical_record"]["document"]
    application = dossier["application"]["document"]
    contact = application.get("contact") or {}
    email, phone = str(contact.get("email") or ""), str(contact.get("phone") or "")
    people = [
        record.get("mother") or {},
        application.get("child") or {},
        application.get("father") or {},
    ]
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


def _deliver_channel(
    channel: str, transport: Transport | None, attempts: list[_Attempt], moment: datetime
) -> list[_Attempt]:
    """Hand each attempt's message to the channel's transport; those it accepted."""
    if transport is None:
        for attempt in attempts:
            attempt.errors.append(f"{channel}: not configured")
        return []
    accepted = []
    for attempt in attempts:
        attempt.tried = True
        message = attempt.message
        try:
            transport.deliver(
                Outgoing(
                    event_id=attempt.row.event_id,
                    channel=channel,
                    recipient=str(attempt.addresses[channel]),
                    language=message.language,
                    subject=message.subject,
                    text=message.text if channel == "email" else message.sms,
                    moment=moment,
                )
            )
        except (Permanent, Transient) as error:
            attempt.retry = attempt.retry or isinstance(error, Transient)
            if isinstance(error, Permanent):
                attempt.states[channel] = ChannelState.FAILED.value
            attempt.errors.append(f"{channel}: {error}")
            continue
        accepted.append(attempt)
    try:
        transport.flush()
    except Transient as error:  # nothing of this channel counts as delivered
        for attempt in accepted:
            attempt.retry = True
            attempt.errors.append(f"{channel}: {error}")
        return []
    for attempt in accepted:
        attempt.states[channel] = ChannelState.SENT.value
    return accepted


def _outcome(states: Mapping[str, str]) -> str:
    if any(s == ChannelState.PENDING.value for s in states.values()):
        return _PENDING
    if any(s == ChannelState.SENT.value for s in states.values()):
        return OutboxState.SENT.value
    return OutboxState.FAILED.value


def _finished(token: str, attempt: _Attempt, moment: datetime) -> dict[str, Any]:
    """The parameters of _FINISH for one attempt."""
    state = _outcome(attempt.states)
    attempts = attempt.row.attempts + (1 if attempt.tried else 0)
    pending = state == _PENDING
    delay = retry_delay(attempts) if attempt.retry else WAIT_UNCONFIGURED
    return {
        "event": attempt.row.event_id,
        "token": token,
        "email_state": attempt.states.get("email", attempt.row.email),
        "sms_state": attempt.states.get("sms", attempt.row.sms),
        "state": state,
        "attempts": attempts,
        "last_error": "; ".join(attempt.errors)[:200] or None,
        "next_attempt": moment + delay if pending else None,
        "done": None if pending else moment,
    }


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
            if doorbell.wait(seen, wait) != seen:
                # Rung: let the commits of the next moment join this one's in a single pass.
                self._stopping.wait(GATHER_SECONDS)


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
