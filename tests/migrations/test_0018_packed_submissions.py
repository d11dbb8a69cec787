"""Migration 0018: submissions already stored get their dossier, report and receipt packed (the
same texts when read), PDFs already made are compressed (the same bytes when read); and back."""

from __future__ import annotations

import base64
import json
import os
import zlib

import sqlalchemy as sa

from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.packed import DICTIONARY_FORMS, unpack
from migrations.test_0009_record_life import MOMENT, _insert
from migrations.test_0011_scale_indexes import _migrate

CERTIFICATE = base64.b64encode(os.urandom(900)).decode()  # a seal's chain: in every dossier
PDF = b"%PDF-1.7\n" + b"".join(b"%d 0 obj <</Type /Page>> endobj\n" % n for n in range(400))


def _texts(number: int) -> dict[str, str]:
    dossier = {
        "medical_record": {"document": {"id": f"record-{number}"},
                           "signature": {"value": CERTIFICATE + str(number)}},
        "application": {"document": {"id": f"application-{number}"}},
    }
    report = {"passed": True, "checks": [{"name": f"check {n}", "passed": True}
                                         for n in range(60)], "id": number}
    receipt = {"submission_id": str(number), "signature": CERTIFICATE[::-1]}
    return {"dossier": json.dumps(dossier, ensure_ascii=False),
            "report": json.dumps(report), "receipt": json.dumps(receipt)}


def _arrange(connection: sa.Connection) -> None:
    _insert(connection, "registry_office", id=1, code="ESK-01", bin="050140000021",
            name="АХАЖ (TEST)", seal_serial="03", created_at=MOMENT)
    for number in (1, 2, 3):
        _insert(connection, "registry_submission", id=f"submission-{number}",
                registry_office_id=1, dossier_sha256=str(number) * 64,
                medical_record_id=f"record-{number}", medical_record_sha256="0" * 64,
                application_id=f"application-{number}", facility_bin="050140000011",
                mother_iin="940315400014", child_born_at=MOMENT, child_sex="F", birth_order=1,
                status="registered" if number == 1 else "received", duplicate_candidates="[]",
                received_at=MOMENT, tracking_number=f"K7M4QX9R{number}", **_texts(number))
    _insert(connection, "registry_registration", id=1, submission_id="submission-1",
            medical_record_id="record-1", registry_office_id=1, year=2026, act_record_number=15,
            child_iin="260530600011", registered_at=MOMENT)
    _insert(connection, "registry_certificate", id="certificate-01-xxxxxxxxxxx",
            registration_id=1, certificate_number="TEST-I № 000001", fields="{}",
            qr="http://testserver/verify#X", status="valid", issued_at=MOMENT)
    _insert(connection, "registry_certificate_pdf", certificate_id="certificate-01-xxxxxxxxxxx",
            pdf=PDF, made_at=MOMENT)


def _stored(connection: sa.Connection) -> dict[str, dict[str, object]]:
    rows = connection.execute(sa.text(
        "SELECT id, dossier, report, receipt FROM registry_submission ORDER BY id"
    )).all()
    return {row.id: {"dossier": row.dossier, "report": row.report, "receipt": row.receipt}
            for row in rows}


def test_0018_packs_the_texts_and_the_pdfs_and_back(service_settings: Settings) -> None:
    engine = make_engine(service_settings.database_url)
    try:
        _migrate(engine, "0017p")
        with engine.begin() as connection:
            _arrange(connection)
        _migrate(engine, "0018")
        with engine.begin() as connection:
            for number, columns in enumerate(_stored(connection).values(), start=1):
                for column, value in columns.items():
                    packed = bytes(value)  # type: ignore[arg-type]
                    text = _texts(number)[column]
                    assert unpack(connection, packed) == text
                    assert len(packed) < len(text) / 2, column
                    if number > 1:  # the first made the dictionary that the others use
                        assert packed[0] in DICTIONARY_FORMS
            kinds = connection.execute(sa.text("SELECT kind FROM stored_dictionary")).scalars()
            assert set(kinds) == {"dossier:050140000011", "report:050140000011", "receipt"}
            pdf = connection.execute(sa.text(
                "SELECT pdf, deflated FROM registry_certificate_pdf"
            )).one()
            assert pdf.deflated and zlib.decompress(pdf.pdf) == PDF and len(pdf.pdf) < len(PDF)
        _migrate(engine, "0017p", down=True)
        with engine.begin() as connection:
            for number, columns in enumerate(_stored(connection).values(), start=1):
                assert columns == _texts(number)
            assert "stored_dictionary" not in sa.inspect(connection).get_table_names()
            pdf = connection.execute(sa.text("SELECT * FROM registry_certificate_pdf")).one()
            assert bytes(pdf.pdf) == PDF and "deflated" not in pdf._mapping
        _migrate(engine, "head")
    finally:
        engine.dispose()
