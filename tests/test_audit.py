"""The audit trail's anchors: a checkpoint signed with the registry seal every 1,000 entries and on
`birthreg audit checkpoint`, and `birthreg audit verify` catching a chain that was rewritten and
hashed again, through the kept checkpoints and through a checkpoint kept outside the database."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from registry import factories as f
from sqlalchemy import delete, insert, text, update
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from birthreg import audit
from birthreg.audit import CheckpointInvalid, read_checkpoint, sign_checkpoint
from birthreg.auth import passwords
from birthreg.bootstrap import DEFAULT_FACILITY
from birthreg.cli import app as cli
from birthreg.models import AuditCheckpoint, AuditEntry, AuditHead, Role
from birthreg.pki.seals import Seal, load_seal
from birthreg.pki.service import certification_authority
from birthreg.registry.service import registry_for
from birthreg.services import app_services
from signing.canonical import canonicalize
from signing.jws import b64url_decode, b64url_encode

LATEST = "/api/v1/audit/checkpoints/latest"


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords, "password_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )




def run(cli_env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, ["audit", *args], env=cli_env)


def registry_seal(app: Any) -> Seal:
    with Session(app.state.services.engine) as session:
        return registry_for(app_services(app)).office(session).seal


def append(app: Any, count: int) -> None:
    with Session(app.state.services.engine) as session:
        for number in range(count):
            audit.record(
                session, actor="system", role="system", action="test.tick",
                object_type="test", object_id=str(number),
            )
        session.commit()


def head_seq(db: Session) -> int:
    db.expire_all()
    head = db.get(AuditHead, 1)
    assert head is not None
    return head.seq


# -- the chain's format -------------------------------------------------------------------------


def test_the_entry_format_is_unchanged(app: Any, client: Any, db: Session) -> None:
    """entry_hash is SHA-256 of the JSON array of the fields (RFC 8785), as it always was: chains
    written before checkpoints existed verify as they are."""
    at = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    with Session(app.state.services.engine) as session:
        audit.record(
            session, actor="staff:3", role="clerk", action="registration.registered",
            object_type="submission", object_id="0b6b8f7e", details={"year": 2026}, at=at,
        )
        session.commit()
    entry = db.exec(select(AuditEntry).order_by(col(AuditEntry.seq).desc())).first()
    assert entry is not None
    details = hashlib.sha256(b'{"year":2026}').hexdigest()
    fields = (
        f'[{entry.seq},"2026-06-01T12:00:00.123456+00:00","staff:3","clerk",'
        f'"registration.registered","submission","0b6b8f7e","{details}","{entry.prev_hash}"]'
    )
    assert entry.details_sha256 == details
    assert entry.entry_hash == hashlib.sha256(fields.encode()).hexdigest()


# -- checkpoints made by the service ------------------------------------------------------------


def test_every_thousandth_entry_is_signed_by_the_registry_seal(
    app: Any, client: Any, db: Session
) -> None:
    append(app, audit.CHECKPOINT_INTERVAL + 1 - head_seq(db))  # up to entry 1001
    kept = db.exec(select(AuditCheckpoint)).all()
    assert [row.seq for row in kept] == [audit.CHECKPOINT_INTERVAL]
    entry = db.get(AuditEntry, audit.CHECKPOINT_INTERVAL)
    assert entry is not None and kept[0].entry_hash == entry.entry_hash

    # A JWS anyone can check with the seal certificate alone (ES256 over header.payload).
    header_b64, payload_b64, signature_b64 = kept[0].jws.split(".")
    header = json.loads(b64url_decode(header_b64))
    seal = registry_seal(app)
    assert header["alg"] == "ES256"
    assert base64.b64decode(header["x5c"][0]) == seal.certificate.public_bytes(
        serialization.Encoding.DER
    )
    signature = b64url_decode(signature_b64)
    public_key = seal.certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(
        encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        ),
        f"{header_b64}.{payload_b64}".encode(),
        ec.ECDSA(hashes.SHA256()),
    )
    # Nothing but the position and the time: no personal data.
    payload = json.loads(b64url_decode(payload_b64))
    assert payload == {
        "type": "birthreg.audit-checkpoint/1",
        "seq": audit.CHECKPOINT_INTERVAL,
        "entry_hash": entry.entry_hash,
        "signed_at": kept[0].signed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert b64url_decode(payload_b64) == canonicalize(payload)

    response = client.get(LATEST)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jose"
    assert response.text == kept[0].jws


def test_the_latest_checkpoint_before_any_is_404(client: Any) -> None:
    response = client.get(LATEST)
    assert response.status_code == 404
    assert response.json()["error"] == "no_checkpoint"


def test_a_checkpoint_of_another_signer_or_changed_is_refused(app: Any, client: Any) -> None:
    seal = registry_seal(app)
    moment = datetime(2026, 6, 1, 12, tzinfo=UTC)
    genuine = sign_checkpoint(seal, 5, "ab" * 32, moment)
    assert read_checkpoint(genuine.jws, seal.certificate) == genuine

    ca = certification_authority(app_services(app))
    facility = load_seal(app.state.services.settings, "facility", DEFAULT_FACILITY.bin, ca.chain)
    foreign = sign_checkpoint(facility, 5, "ab" * 32, moment)
    with pytest.raises(CheckpointInvalid, match="not signed by this service's seal"):
        read_checkpoint(foreign.jws, seal.certificate)

    header, payload, signature = genuine.jws.split(".")
    moved = canonicalize({**json.loads(b64url_decode(payload)), "seq": 6})
    with pytest.raises(CheckpointInvalid, match="signature does not hold"):
        read_checkpoint(f"{header}.{b64url_encode(moved)}.{signature}", seal.certificate)


# -- birthreg audit checkpoint / verify ---------------------------------------------------------


def test_the_checkpoint_command_signs_the_head_once(
    app: Any, client: Any, db: Session, cli_env: dict[str, str]
) -> None:
    first = run(cli_env, "checkpoint")
    assert first.exit_code == 0, first.output
    seq = head_seq(db)
    assert f"audit checkpoint of entry {seq}" in first.stderr
    assert first.stdout.strip() == client.get(LATEST).text
    again = run(cli_env, "checkpoint")  # the head has not moved: the same checkpoint
    assert again.exit_code == 0
    assert again.stdout == first.stdout
    assert len(db.exec(select(AuditCheckpoint)).all()) == 1

    verified = run(cli_env, "verify")
    assert verified.exit_code == 0, verified.output
    assert f"1 signed checkpoints hold, the newest of entry {seq}" in verified.stdout


def history(app: Any, client: Any) -> None:
    """A registration by a clerk, failed logins around it, and more entries."""
    clerk = f.staff_headers(app, Role.CLERK)
    for _ in range(2):
        refused = client.post("/api/v1/auth/token", data={"username": "x", "password": "y"})
        assert refused.status_code == 401
    mother = f.issue_person(app, f.person(500))
    submitted = client.post("/api/v1/registry/submissions", json=f.good_dossier(app, mother))
    assert submitted.status_code == 201, submitted.text
    submission_id = submitted.json()["id"]
    registered = client.post(
        f"/api/v1/registry/submissions/{submission_id}/register", headers=clerk
    )
    assert registered.status_code == 201, registered.text
    refused = client.post("/api/v1/auth/token", data={"username": "x", "password": "z"})
    assert refused.status_code == 401


def rewrite_history(db: Session) -> None:
    """What someone who can write the database does: says another clerk registered the child,
    deletes every failed login, numbers and hashes every entry after them again (the format is
    public: SHA-256 of the RFC 8785 array of the fields) and moves the head to match."""
    entries = db.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all()
    kept = [entry for entry in entries if entry.action != "staff.login_failed"]
    assert len(kept) < len(entries)
    rewritten = []
    prev_hash = "0" * 64
    for seq, entry in enumerate(kept, start=1):
        actor = "staff:999" if entry.action == "registration.registered" else entry.actor
        fields = [
            seq, entry.at.isoformat(timespec="microseconds"), actor, entry.role, entry.action,
            entry.object_type, entry.object_id, entry.details_sha256, prev_hash,
        ]
        entry_hash = hashlib.sha256(canonicalize(fields)).hexdigest()
        rewritten.append({
            "seq": seq, "at": entry.at, "actor": actor, "role": entry.role,
            "action": entry.action, "object_type": entry.object_type,
            "object_id": entry.object_id, "details_sha256": entry.details_sha256,
            "prev_hash": prev_hash, "entry_hash": entry_hash,
        })
        prev_hash = entry_hash
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    db.execute(delete(table))
    db.execute(insert(table), rewritten)
    db.execute(
        update(AuditHead.__table__)  # type: ignore[attr-defined]
        .values(seq=len(rewritten), entry_hash=prev_hash)
    )


def test_a_rewritten_chain_is_caught_by_its_checkpoints(
    app: Any, client: Any, db: Session, cli_env: dict[str, str], tmp_path: Path
) -> None:
    history(app, client)
    assert run(cli_env, "checkpoint").exit_code == 0
    kept_elsewhere = tmp_path / "checkpoint.jws"
    kept_elsewhere.write_text(client.get(LATEST).text)
    append(app, 3)  # the chain goes on after the checkpoint
    before = run(cli_env, "verify", "--checkpoint", str(kept_elsewhere))
    assert before.exit_code == 0, before.output
    assert "the given checkpoint of entry" in before.stdout

    rewrite_history(db)
    # The kept checkpoint no longer matches the entry it names.
    for args in ([], ["--since-checkpoint"], ["--checkpoint", str(kept_elsewhere)]):
        result = run(cli_env, "verify", *args)
        assert result.exit_code == 1, (args, result.output)
        assert "audit chain BROKEN" in result.stdout
        assert "the kept checkpoint of entry" in result.stdout
    assert "the given checkpoint" in result.stdout

    # The kept checkpoints removed too: the bare chain is consistent and the walk cannot tell,
    # but the checkpoint kept outside the database can.
    db.execute(text("DELETE FROM audit_checkpoint"))
    bare = run(cli_env, "verify")
    assert bare.exit_code == 0, bare.output
    anchored = run(cli_env, "verify", "--checkpoint", str(kept_elsewhere))
    assert anchored.exit_code == 1
    assert "the given checkpoint" in anchored.stdout


def test_a_checkpoint_not_made_with_the_seal_is_refused(
    app: Any, client: Any, db: Session, cli_env: dict[str, str], tmp_path: Path
) -> None:
    history(app, client)
    rewrite_history(db)
    # The rewriter signs a checkpoint of the new head with a key of their own (here, another
    # seal of the same CA) and keeps it, and hands out the same as "the service's".
    ca = certification_authority(app_services(app))
    facility = load_seal(app.state.services.settings, "facility", DEFAULT_FACILITY.bin, ca.chain)
    with Session(app.state.services.engine) as session:
        forged = audit.make_checkpoint(session, facility)
        session.commit()
    assert forged is not None
    result = run(cli_env, "verify")
    assert result.exit_code == 1
    assert f"the kept checkpoint of entry {forged.seq} is refused" in result.stdout
    assert "not signed by this service's seal" in result.stdout
    given = tmp_path / "forged.jws"
    given.write_text(forged.jws)
    refused = run(cli_env, "verify", "--checkpoint", str(given))
    assert refused.exit_code == 1
    assert "not signed by this service's seal" in refused.stdout


def test_since_checkpoint_walks_only_the_entries_after_it(
    app: Any, client: Any, db: Session, cli_env: dict[str, str]
) -> None:
    history(app, client)
    assert run(cli_env, "checkpoint").exit_code == 0
    anchored_at = head_seq(db)
    append(app, 4)
    result = run(cli_env, "verify", "--since-checkpoint")
    assert result.exit_code == 0, result.output
    assert f"walked from entry {anchored_at + 1}, after a checkpoint" in result.stdout
    assert "audit verify: 4 entries walked in" in result.stderr

    # An entry after the checkpoint edited: seen.
    db.execute(text("UPDATE audit_entry SET actor = 'staff:999' WHERE seq = :seq"),
               {"seq": anchored_at + 2})
    edited = run(cli_env, "verify", "--since-checkpoint")
    assert edited.exit_code == 1
    assert f"entry {anchored_at + 2} was altered" in edited.stdout


def test_since_checkpoint_looks_no_further_back_than_the_newest_that_holds(
    app: Any, client: Any, db: Session, cli_env: dict[str, str]
) -> None:
    history(app, client)
    assert run(cli_env, "checkpoint").exit_code == 0
    older = head_seq(db)
    append(app, 2)
    assert run(cli_env, "checkpoint").exit_code == 0
    newest = head_seq(db)
    append(app, 3)
    # An older kept checkpoint made unreadable: a full walk refuses it; the walk since the
    # newest does not read it, so its cost stays that of one checkpoint however many are kept.
    db.execute(text("UPDATE audit_checkpoint SET jws = 'x.y.z' WHERE seq = :seq"), {"seq": older})
    full = run(cli_env, "verify")
    assert full.exit_code == 1
    assert f"the kept checkpoint of entry {older} is refused" in full.stdout
    since = run(cli_env, "verify", "--since-checkpoint")
    assert since.exit_code == 0, since.output
    assert f"walked from entry {newest + 1}, after a checkpoint" in since.stdout
    assert f"the newest signed checkpoint, of entry {newest}, holds" in since.stdout
    assert "audit verify: 3 entries walked in" in since.stderr

    # The newest's entry edited: it no longer holds, and none older does either (the older one
    # is unreadable), so the walk starts from the first entry and finds the edit.
    db.execute(text("UPDATE audit_entry SET actor = 'staff:999' WHERE seq = :seq"),
               {"seq": newest})
    edited = run(cli_env, "verify", "--since-checkpoint")
    assert edited.exit_code == 1
    assert f"the kept checkpoint of entry {newest}" in edited.stdout
    assert "does not match the chain" in edited.stdout
    assert f"the kept checkpoint of entry {older} is refused" in edited.stdout
    assert f"entry {newest} was altered" in edited.stdout
    assert f"audit verify: {newest + 3} entries walked in" in edited.stderr


def test_since_checkpoint_resumes_from_an_older_one_when_the_newest_fails(
    app: Any, client: Any, db: Session, cli_env: dict[str, str]
) -> None:
    history(app, client)
    assert run(cli_env, "checkpoint").exit_code == 0
    append(app, 2)
    assert run(cli_env, "checkpoint").exit_code == 0
    newest = head_seq(db)
    db.execute(text("UPDATE audit_checkpoint SET jws = 'x.y.z' WHERE seq = :seq"), {"seq": newest})
    result = run(cli_env, "verify", "--since-checkpoint")
    assert result.exit_code == 1
    assert f"the kept checkpoint of entry {newest} is refused" in result.stdout
    # Resumed after the older one: the two entries after it walked.
    assert "audit verify: 2 entries walked in" in result.stderr


def test_a_database_without_the_trail_is_a_usage_error(
    app: Any, db: Session, cli_env: dict[str, str]
) -> None:
    db.execute(text("DROP TABLE audit_entry"))
    result = run(cli_env, "verify")
    assert result.exit_code == 2
    assert "cannot read the audit trail" in result.output
    assert "Traceback" not in result.output
