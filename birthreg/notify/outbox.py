"""The outbox: every event a parent waits for, written in the same transaction as the event.

The registry calls `record(session, kind, submission_id, …)` right after the event's own writes;
the row commits with the event or not at all, so a rolled-back registration tells nobody. The
row holds the event, not the message: the sender reads the address and the language from the
submission's dossier when it delivers (`birthreg.notify.sender`).

When the transaction commits, a sender in this process is woken at once (`doorbell`), so that a
message leaves within milliseconds; senders in other processes find it on their next poll.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from birthreg.models import EventKind, OutboxMessage, OutboxState

#: The namespace of event ids (uuid5 of "kind:object id"): the same event, the same id.
EVENT_NAMESPACE: Final = uuid.UUID("5b0e7f0c-3f57-4c36-9a41-6f1b1c2f4e21")

_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
# An event already queued (the same kind for the same object) is not queued again, and the
# caller's transaction goes on (a failed INSERT would abort it on PostgreSQL).
_INSERT: Final = {
    name: dialect.insert(_OUTBOX).on_conflict_do_nothing(index_elements=["event_id"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_RING_ON_COMMIT: Final = "birthreg.notify.ring_on_commit"


def event_id(kind: EventKind, object_id: str) -> str:
    """The id of an event: derived from its kind and its object, so that recording the same
    event twice queues one message (and the receiver dedupes by it)."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{EventKind(kind).value}:{object_id}"))


def record(
    session: Session,
    kind: EventKind,
    submission_id: str,
    *,
    moment: datetime,
    object_id: str | None = None,
    **params: Any,
) -> str:
    """Queue the parents' message about an event, in the caller's transaction; its event id.

    `object_id` names what the event is about when a submission can have several such events
    (a correction's id, a copy's certificate id); by default the submission. `params` are what
    the message says besides the tracking number (JSON values: `act_record_number`, `year`,
    `certificate_id`, `reason`).
    """
    identifier = event_id(kind, object_id or submission_id)
    connection = session.connection()
    connection.execute(
        _INSERT[connection.dialect.name],
        {
            "event_id": identifier,
            "kind": EventKind(kind).value,
            "submission_id": submission_id,
            "params": json.dumps(params, ensure_ascii=False, sort_keys=True, default=str),
            "state": OutboxState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": moment,
            "created_at": moment,
        },
    )
    session.info[_RING_ON_COMMIT] = True
    return identifier


# -- waking the sender ---------------------------------------------------------------------------


class Doorbell:
    """Rung after a commit that queued messages; a sender waits on it between polls."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._rings = 0

    @property
    def rings(self) -> int:
        return self._rings

    def ring(self) -> None:
        with self._condition:
            self._rings += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Wait until rung after `seen` (a `rings` value), at most `timeout` seconds; the
        current count."""
        with self._condition:
            self._condition.wait_for(lambda: self._rings != seen, timeout=max(0.0, timeout))
            return self._rings


doorbell = Doorbell()


@event.listens_for(Session, "after_commit")
def _ring_after_commit(session: Session) -> None:
    if session.info.pop(_RING_ON_COMMIT, False):
        doorbell.ring()


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_RING_ON_COMMIT, None)
