"""The sender against a real SMTP server (aiosmtpd) and a real HTTP gateway on 127.0.0.1, on SQLite
and PostgreSQL: delivery of each event, back-off while the server is down, restarts, a crash after
the server accepted, concurrent senders, STARTTLS with a login, refusals, and production without
SMTP or SMS settings."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from registry import factories as f
from sqlmodel import Session, select

from birthreg.bootstrap import initialise
from birthreg.config import SECRET_KEY_FILE, Settings
from birthreg.db import make_engine
from birthreg.main import create_app
from birthreg.models import EventKind, OutboxMessage, Submission, now
from birthreg.notify import outbox
from birthreg.notify.sender import LEASE, RETRY_BASE, WAIT_UNCONFIGURED, Sender, send_pending
from birthreg.notify.tracking import format_tracking_number

from .conftest import delivering
from .servers import Gateway, SMTPServer, make_test_tls, wait_for

SUBMISSIONS = "/api/v1/registry/submissions"
MOTHER_EMAIL = "mother@example.kz"
MOTHER_PHONE = "+77012345678"


@pytest.fixture
def service_settings(
    service_settings: Settings, smtp_server: SMTPServer, gateway: Gateway
) -> Settings:
    return delivering(service_settings, smtp_server.url(), gateway.url)


def submit(app: Any, client: TestClient, serial: int) -> str:
    response = client.post(
        SUBMISSIONS, json=f.good_dossier(app, f.issue_person(app, f.person(serial)))
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def outbox_rows(db: Session) -> dict[str, OutboxMessage]:
    db.expire_all()
    return {row.event_id: row for row in db.exec(select(OutboxMessage)).all()}


def tracking_of(db: Session, submission_id: str) -> str:
    submission = db.get(Submission, submission_id)
    assert submission is not None
    return format_tracking_number(submission.tracking_number)


def test_each_event_is_delivered_by_email_and_sms(
    app: Any, client: TestClient, db: Session, clerk: dict[str, str],
    smtp_server: SMTPServer, gateway: Gateway, service_settings: Settings,
) -> None:
    rejected, registered = submit(app, client, 10), submit(app, client, 20)
    assert client.post(
        f"{SUBMISSIONS}/{rejected}/reject", json={"reason": "Фамилия написана с ошибкой"},
        headers=clerk,
    ).status_code == 200
    result = client.post(f"{SUBMISSIONS}/{registered}/register", headers=clerk).json()

    passed = send_pending(service_settings)
    assert (passed.claimed, passed.sent, passed.retrying, passed.failed) == (4, 4, 0, 0)

    expected = {
        outbox.event_id(EventKind.RECEIVED, rejected): rejected,
        outbox.event_id(EventKind.REJECTED, rejected): rejected,
        outbox.event_id(EventKind.RECEIVED, registered): registered,
        outbox.event_id(EventKind.REGISTERED, registered): registered,
    }
    mails = {str(m["Message-ID"]): m for m in smtp_server.mailbox.messages}
    assert set(mails) == {f"<{event}@birthreg.test>" for event in expected}
    for event, submission_id in expected.items():
        mail = mails[f"<{event}@birthreg.test>"]
        assert mail["To"] == MOTHER_EMAIL and mail["Content-Language"] == "kk"
        assert mail["Auto-Submitted"] == "auto-generated"
        assert tracking_of(db, submission_id) in str(mail["Subject"])
        assert "Сәлеметсіз бе!" in mail.get_content()
    registered_mail = mails[f"<{outbox.event_id(EventKind.REGISTERED, registered)}@birthreg.test>"]
    certificate_url = f"http://testserver/registry/certificates/{result['certificate_id']}/print"
    assert certificate_url in registered_mail.get_content()
    rejected_mail = mails[f"<{outbox.event_id(EventKind.REJECTED, rejected)}@birthreg.test>"]
    assert "Фамилия написана с ошибкой" in rejected_mail.get_content()

    assert sorted(sms["id"] for sms in gateway.received) == sorted(expected)
    for sms in gateway.received:
        assert set(sms) == {"to", "text", "id"} and sms["to"] == MOTHER_PHONE
        assert tracking_of(db, expected[sms["id"]]) in sms["text"]
    assert {(r.state, r.email, r.sms, r.attempts) for r in outbox_rows(db).values()} == {
        ("sent", "sent", "sent", 1)
    }
    # Nothing is due any more: a later pass sends nothing again.
    assert send_pending(service_settings, moment=now() + timedelta(days=1)).claimed == 0
    assert len(smtp_server.mailbox.messages) == 4 and len(gateway.received) == 4


def test_the_smtp_server_down_then_up_delivers_once_after_back_off(
    app: Any, client: TestClient, db: Session, smtp_server: SMTPServer, gateway: Gateway,
    service_settings: Settings,
) -> None:
    smtp_server.stop()
    submission_id = submit(app, client, 30)
    start = now()
    first = send_pending(service_settings, moment=start)
    assert (first.claimed, first.retrying) == (1, 1)
    [row] = outbox_rows(db).values()
    assert (row.state, row.email, row.sms, row.attempts) == ("pending", "pending", "sent", 1)
    assert "unreachable" in (row.last_error or "")
    assert start + RETRY_BASE / 2 <= row.next_attempt_at <= start + RETRY_BASE
    assert MOTHER_EMAIL not in (row.last_error or "")

    smtp_server.start()
    # Not before the back-off is over, even with the server back.
    assert send_pending(service_settings, moment=start + RETRY_BASE / 3).claimed == 0
    assert smtp_server.mailbox.messages == []
    later = send_pending(service_settings, moment=start + RETRY_BASE)
    assert (later.claimed, later.sent) == (1, 1)
    assert send_pending(service_settings, moment=start + timedelta(hours=2)).claimed == 0
    assert smtp_server.mailbox.message_ids() == [
        f"<{outbox.event_id(EventKind.RECEIVED, submission_id)}@birthreg.test>"
    ]
    assert len(gateway.received) == 1  # the SMS went the first time and was not sent again
    [row] = outbox_rows(db).values()
    assert (row.state, row.email, row.attempts) == ("sent", "sent", 2)


def test_a_restart_between_enqueue_and_send_delivers_once(
    service_settings: Settings, smtp_server: SMTPServer, gateway: Gateway
) -> None:
    initialise(service_settings)
    quiet = create_app(service_settings)  # no sender: it serves and stops before sending
    with TestClient(quiet) as client:
        submit(quiet, client, 40)
    assert smtp_server.mailbox.messages == []

    sending = service_settings.model_copy(update={"notify_sender": True})
    for _restart in range(2):
        with TestClient(create_app(sending)):
            assert wait_for(lambda: len(smtp_server.mailbox.messages) >= 1)
        assert not [t for t in threading.enumerate() if t.name == "birthreg-notify"]
    assert len(smtp_server.mailbox.messages) == 1 and len(gateway.received) == 1


def test_the_serving_process_sends_as_soon_as_the_event_commits(
    service_settings: Settings, smtp_server: SMTPServer
) -> None:
    initialise(service_settings)
    settings = service_settings.model_copy(update={"notify_sender": True})
    app = create_app(settings)
    with TestClient(app) as client:
        submission_id = submit(app, client, 50)
        # Well within the poll interval: the commit rang the doorbell.
        assert wait_for(lambda: len(smtp_server.mailbox.messages) == 1, timeout=1.5)
    assert smtp_server.mailbox.message_ids() == [
        f"<{outbox.event_id(EventKind.RECEIVED, submission_id)}@birthreg.test>"
    ]


def test_a_sender_killed_after_the_server_accepted_sends_again_with_the_same_message_id(
    app: Any, client: TestClient, db: Session, smtp_server: SMTPServer, gateway: Gateway,
    service_settings: Settings,
) -> None:
    submit(app, client, 60)
    smtp_server.mailbox.hold = threading.Event()
    environment = {
        **os.environ,
        "BIRTHREG_DATA_DIR": str(service_settings.data_dir),
        "BIRTHREG_DATABASE_URL": service_settings.database_url,
        "BIRTHREG_BASE_URL": service_settings.base_url,
        "BIRTHREG_SMTP_URL": smtp_server.url(),
        "BIRTHREG_SMS_URL": gateway.url,
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("birthreg")), "notify", "send-pending"],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        assert smtp_server.mailbox.in_data.wait(60), "the sender never reached DATA"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    # The server has the message; the dead sender never heard the server say so.
    assert len(smtp_server.mailbox.messages) == 1
    smtp_server.mailbox.hold.set()
    smtp_server.mailbox.hold = None

    [row] = outbox_rows(db).values()
    assert row.state == "pending" and row.claimed_by and row.lease_until
    # The dead sender's lease holds the message until it runs out (a sender waiting for it
    # sleeps until then); then it goes again.
    assert send_pending(service_settings).claimed == 0
    engine = make_engine(service_settings.database_url)
    try:
        until = Sender(engine, service_settings).seconds_until_due()
    finally:
        engine.dispose()
    assert until is not None and LEASE.total_seconds() - 120 < until <= LEASE.total_seconds()
    assert send_pending(service_settings, moment=now() + LEASE).sent == 1
    ids = smtp_server.mailbox.message_ids()
    assert len(ids) == 2 and ids[0] == ids[1]  # twice at most, and the receiver can tell
    assert len(gateway.received) == 1


def test_concurrent_senders_deliver_each_message_once(
    app: Any, client: TestClient, db: Session, smtp_server: SMTPServer,
    service_settings: Settings,
) -> None:
    submission_id = submit(app, client, 70)
    with Session(app.state.services.engine) as session:
        for copy in range(59):
            outbox.record(
                session, EventKind.COPY_ISSUED, submission_id, moment=now(),
                object_id=f"copy-{copy}", certificate_id=f"certificate-{copy}",
            )
        session.commit()
    results = []

    def sender() -> None:
        results.append(send_pending(service_settings))

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(result.sent for result in results) == 60
    ids = smtp_server.mailbox.message_ids()
    assert len(ids) == len(set(ids)) == 60
    assert {row.state for row in outbox_rows(db).values()} == {"sent"}


def test_starttls_and_login_under_a_test_certificate(
    service_settings: Settings, db: Session, gateway: Gateway, tmp_path: Any
) -> None:
    tls, ca_file = make_test_tls(tmp_path)
    server = SMTPServer(tls=tls, login=("birthreg", "a long smtp password"))
    server.start()
    try:
        initialise(service_settings)
        app = create_app(service_settings)
        with TestClient(app) as client:
            submit(app, client, 80)
        # Without the TEST CA the server's certificate is not trusted: nothing is sent.
        untrusted = delivering(service_settings, server.url(), gateway.url)
        refused = send_pending(untrusted)
        assert refused.retrying == 1 and server.mailbox.messages == [] and server.logins == []

        trusted = delivering(service_settings, server.url(cafile=ca_file), gateway.url)
        delivered = send_pending(trusted, moment=now() + timedelta(hours=2))
        assert delivered.sent == 1, delivered.errors
        assert server.logins == ["birthreg"] and len(server.mailbox.messages) == 1
    finally:
        server.stop()


def test_a_refused_address_fails_for_good(
    app: Any, client: TestClient, db: Session, smtp_server: SMTPServer, gateway: Gateway,
    service_settings: Settings,
) -> None:
    smtp_server.mailbox.refused.add(MOTHER_EMAIL)
    submit(app, client, 90)
    result = send_pending(service_settings)
    assert result.sent == 1  # the SMS went; the e-mail never will
    [row] = outbox_rows(db).values()
    assert (row.state, row.email, row.sms) == ("sent", "failed", "sent")
    assert "550" in (row.last_error or "") and MOTHER_EMAIL not in (row.last_error or "")
    send_pending(service_settings, moment=now() + timedelta(days=1))
    assert smtp_server.mailbox.rcpt_attempts == [MOTHER_EMAIL]


def test_the_gateway_is_retried_and_takes_its_credentials_from_the_url(
    app: Any, client: TestClient, db: Session, gateway: Gateway, smtp_server: SMTPServer,
    service_settings: Settings,
) -> None:
    submit(app, client, 100)
    url = gateway.url.replace("http://", "http://sms-user:s%40cret@")
    settings = delivering(service_settings, smtp_server.url(), url)
    gateway.answers = [503]
    assert send_pending(settings).retrying == 1
    [row] = outbox_rows(db).values()
    assert (row.email, row.sms) == ("sent", "pending")
    gateway.answers = [409]  # "I have that id already": accepted earlier
    assert send_pending(settings, moment=now() + RETRY_BASE).sent == 1
    [row] = outbox_rows(db).values()
    assert (row.state, row.sms) == ("sent", "sent")
    expected = "Basic " + base64.b64encode(b"sms-user:s@cret").decode()
    assert gateway.authorizations == [expected, expected]
    assert len(smtp_server.mailbox.messages) == 1


def test_production_without_smtp_or_sms_waits_and_health_says_so(
    app: Any, client: TestClient, db: Session, smtp_server: SMTPServer,
    service_settings: Settings,
) -> None:
    submit(app, client, 110)
    secrets = {
        "ca_passphrase": service_settings.ca_passphrase_bytes().decode(),
        "secret_key": (service_settings.data_dir / SECRET_KEY_FILE).read_text().strip(),
    }
    production = Settings(
        **{
            **service_settings.model_dump(exclude={"smtp_url", "sms_url"}),
            **secrets,
            "env": "production",
        },
        _env_file=None,  # type: ignore[call-arg]
    )
    with TestClient(create_app(production)) as prod:
        health = prod.get("/healthz").json()
    assert health["notify"] == {"email": "not_configured", "sms": "not_configured"}

    waiting = send_pending(production)
    assert (waiting.claimed, waiting.retrying, waiting.sent) == (1, 1, 0)
    [row] = outbox_rows(db).values()
    assert (row.state, row.email, row.sms, row.attempts) == ("pending", "pending", "pending", 0)
    assert "not configured" in (row.last_error or "")

    with_smtp = production.model_copy(update={"smtp_url": SecretStr(smtp_server.url())})
    later = send_pending(with_smtp, moment=now() + WAIT_UNCONFIGURED)
    assert later.claimed == 1 and len(smtp_server.mailbox.messages) == 1
    [row] = outbox_rows(db).values()
    assert (row.state, row.email, row.sms) == ("pending", "sent", "pending")



def test_an_address_smtp_cannot_take_is_not_tried(
    app: Any, client: TestClient, db: Session, smtp_server: SMTPServer, gateway: Gateway,
    service_settings: Settings,
) -> None:
    """The registry takes any `x@y.z` (a Cyrillic one too); plain SMTP takes ASCII only."""
    mother = f.issue_person(app, f.person(120))
    assert mother.subject is not None
    record = f.medical_record(mother.subject)
    document = f.application(record, contact={"email": "мама@example.kz"})
    dossier = f.dossier(f.facility_seal(app), record, document, (mother,))
    assert client.post(SUBMISSIONS, json=dossier).status_code == 201
    assert send_pending(service_settings).sent == 1
    [row] = outbox_rows(db).values()
    assert (row.state, row.email, row.sms) == ("sent", "failed", "sent")
    assert row.last_error == "email: not an address"
    assert smtp_server.mailbox.rcpt_attempts == [] and len(gateway.received) == 1
