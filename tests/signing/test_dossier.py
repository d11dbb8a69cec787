"""Whole-dossier verification (signing.dossier, with signing.medical_record and
signing.application): every check of the design, passing and failing."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import factories
import pytest
from conftest import PKI
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fetchers import InProcessFetcher

from signing import jws
from signing.canonical import canonicalize
from signing.dossier import (
    MAX_DOSSIER_BYTES,
    REGISTRATION_DEADLINE,
    DossierError,
    DossierTooLarge,
    parse_dossier,
    verify_dossier,
)
from signing.report import Indication, SubIndication, VerificationReport
from signing.trust import TrustAnchors, Validator


@pytest.fixture(scope="module")
def validator(pki: PKI) -> Validator:
    return Validator(
        TrustAnchors([pki.root]), InProcessFetcher(pki.ca, pki.statuses, clock=lambda: pki.moment)
    )


def _verify(pki: PKI, validator: Validator, dossier: Any) -> VerificationReport:
    return verify_dossier(dossier, validator=validator, moment=pki.moment)


def _failed(report: VerificationReport) -> set[str]:
    return {c.name for c in report.failed_checks}


@pytest.mark.parametrize("fmt", ["jws", "cms"])
def test_a_good_dossier_passes(pki: PKI, validator: Validator, fmt: str) -> None:
    report = _verify(pki, validator, factories.dossier(pki, fmt=fmt))
    assert report.passed, report.to_text()
    assert report.indication is Indication.TOTAL_PASSED
    record, application = report.documents
    assert record.signatures[0].role == "facility"
    assert record.signatures[0].signer_bin == pki.facility.bin
    assert application.signatures[0].role == "mother"
    assert application.signatures[0].signer_iin == pki.mother.iin
    names = {c.name for d in report.documents for c in d.checks}
    assert {
        "facility_binding",
        "medical_record_binding",
        "mother_binding",
        "mother_signature",
        "canonical_form",
        "business_rules",
        "names",
        "identity_numbers",
    } <= names
    text = report.to_text()
    assert "PASSED" in text and "facility" in text
    json.dumps(report.to_json())


def test_a_joint_application_needs_the_father(pki: PKI, validator: Validator) -> None:
    record = factories.medical_record(pki)
    document = factories.application(pki, record, father=factories.joint_father(pki))
    only_mother = _verify(pki, validator, factories.dossier(pki, record, document))
    assert not only_mother.passed
    assert _failed(only_mother) == {"father_signature"}
    both = _verify(
        pki,
        validator,
        factories.dossier(pki, record, document, signers=(pki.mother, pki.father)),
    )
    assert both.passed, both.to_text()
    assert [s.role for s in both.documents[1].signatures] == ["mother", "father"]


def test_marriage_basis_needs_only_the_mother(pki: PKI, validator: Validator) -> None:
    record = factories.medical_record(pki)
    father = factories.joint_father(pki) | {"basis": "marriage"}
    report = _verify(
        pki,
        validator,
        factories.dossier(pki, record, factories.application(pki, record, father=father)),
    )
    assert report.passed, report.to_text()


def test_a_record_changed_after_sealing_fails_its_seal(pki: PKI, validator: Validator) -> None:
    dossier = factories.dossier(pki)
    dossier["medical_record"]["document"]["child"]["weight_g"] = 3900
    report = _verify(pki, validator, dossier)
    seal = report.documents[0].signatures[0]
    assert seal.sub_indication is SubIndication.HASH_FAILURE
    # and the application no longer names this record
    assert "medical_record_binding" in _failed(report)


def test_an_application_changed_after_signing_fails(pki: PKI, validator: Validator) -> None:
    dossier = factories.dossier(pki)
    dossier["application"]["document"]["child"]["given_name"] = "Аружан"
    report = _verify(pki, validator, dossier)
    assert report.documents[1].signatures[0].sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    assert report.indication is Indication.TOTAL_FAILED


def test_the_application_must_name_the_record(pki: PKI, validator: Validator) -> None:
    record = factories.medical_record(pki)
    other = factories.medical_record(pki, child={"weight_g": 2900})
    document = factories.application(pki, other)
    report = _verify(pki, validator, factories.dossier(pki, record, document))
    assert _failed(report) == {"medical_record_binding"}


def test_the_mother_must_be_the_mother_on_the_record(pki: PKI, validator: Validator) -> None:
    """Someone else, with a valid key of her own, applies for this child."""
    record = factories.medical_record(pki)
    document = factories.application(pki, record, mother={"iin": pki.revoked_signer.iin})
    report = _verify(
        pki, validator, factories.dossier(pki, record, document, signers=(pki.revoked_signer,))
    )
    assert {"mother_binding", "mother_signature", "signers_named"} <= _failed(report)


def test_the_signer_must_be_the_mother(pki: PKI, validator: Validator) -> None:
    report = _verify(pki, validator, factories.dossier(pki, signers=(pki.father,)))
    assert {"mother_signature", "signers_named"} <= _failed(report)
    assert report.documents[1].signatures[0].passed  # a valid signature, by the wrong person


def test_the_seal_must_be_the_facilitys(pki: PKI, validator: Validator) -> None:
    report = _verify(pki, validator, factories.dossier(pki, seal=pki.registry_office))
    assert _failed(report) == {"facility_binding"}


def test_a_person_cannot_seal_the_record(pki: PKI, validator: Validator) -> None:
    report = _verify(pki, validator, factories.dossier(pki, seal=pki.mother))
    assert (
        report.documents[0].signatures[0].sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE
    )


def test_a_revoked_mother_key_fails(pki: PKI) -> None:
    later = pki.moment + timedelta(days=2)
    validator = Validator(
        TrustAnchors([pki.root]), InProcessFetcher(pki.ca, pki.statuses, clock=lambda: later)
    )
    record = factories.medical_record(pki, mother={"iin": pki.revoked_signer.iin})
    document = factories.application(pki, record)
    dossier = factories.dossier(pki, record, document, signers=(pki.revoked_signer,))
    report = verify_dossier(dossier, validator=validator, moment=later)
    assert not report.passed
    assert report.documents[1].signatures[0].sub_indication is SubIndication.REVOKED_NO_POE


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"child": {"born_at": "2026-06-03T10:00:00+05:00"}}, "business_rules"),  # future
        ({"child": {"plurality": 1, "birth_order": 2}}, "business_rules"),
        ({"child": {"weight_g": 90}}, "business_rules"),
        ({"child": {"length_cm": 200}}, "business_rules"),
        ({"child": {"sex": "X"}}, "document_fields"),
        ({"child": {"weight_g": "3400"}}, "document_fields"),
        ({"child": {"born_at": "2026-05-30T10:00:00"}}, "document_fields"),  # no offset
        ({"mother": {"iin": "921029350852"}}, "identity_numbers"),
        ({"facility": {"bin": "050440000013"}}, "identity_numbers"),
        ({"mother": {"surname": "Әбiлқасымова"}}, "names"),  # a Latin i among Cyrillic
        ({"mother": {"given_name": "Гүлнұр2"}}, "names"),
        ({"id": "not-a-uuid"}, "document_fields"),
        ({"recorded_at": "2026-05-01T10:00:00+05:00"}, "business_rules"),  # before the birth
    ],
)
def test_medical_record_rules(
    pki: PKI, validator: Validator, changes: dict[str, Any], check: str
) -> None:
    record = factories.medical_record(pki)
    for key, value in changes.items():
        if key == "child" and "recorded_at" in value:
            value = dict(value)
            record["recorded_at"] = value.pop("recorded_at")
        if isinstance(value, dict):
            record[key].update(value)
        else:
            record[key] = value
    report = _verify(pki, validator, factories.dossier(pki, record))
    assert check in _failed(report), report.to_text()
    assert not report.passed


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"child": {"given_name": "Ai-"}}, "names"),
        ({"child": {"surname": "O''Neil"}}, "names"),
        ({"language": "de"}, "document_fields"),
        ({"contact": {"phone": None, "email": None}}, "document_fields"),
        ({"contact": {"email": "not-an-email"}}, "document_fields"),
        ({"address": {"region": ""}}, "document_fields"),
        ({"medical_record_sha256": "ABC"}, "document_fields"),
        (
            {
                "father": {
                    "iin": "910802300013",
                    "surname": "Х",
                    "given_name": "Ерлан",
                    "basis": "adoption",
                }
            },
            "document_fields",
        ),
        (
            {
                "father": {
                    "iin": "940315400014",
                    "surname": "Әбілқасымов",
                    "given_name": "Ерлан",
                    "basis": "marriage",
                }
            },
            "business_rules",
        ),  # the mother's own IIN
    ],
)
def test_application_rules(
    pki: PKI, validator: Validator, changes: dict[str, Any], check: str
) -> None:
    record = factories.medical_record(pki)
    document = factories.application(pki, record, **changes)
    report = _verify(pki, validator, factories.dossier(pki, record, document))
    assert check in _failed(report), report.to_text()


@pytest.mark.parametrize(
    "dossier",
    [
        None,
        [],
        "x",
        {},
        {"medical_record": {}},
        {"medical_record": 1, "application": 2},
        {
            "medical_record": {"document": {}, "signature": {}},
            "application": {"document": {}, "signatures": []},
        },
    ],
)
def test_malformed_dossiers_are_reported_not_raised(
    pki: PKI, validator: Validator, dossier: Any
) -> None:
    report = _verify(pki, validator, dossier)
    assert not report.passed
    assert report.indication is Indication.TOTAL_FAILED
    report.to_text()


def test_too_many_signatures(pki: PKI, validator: Validator) -> None:
    dossier = factories.dossier(pki)
    dossier["application"]["signatures"] *= 5
    assert "dossier_form" in _failed(_verify(pki, validator, dossier))


def test_wrong_document_type(pki: PKI, validator: Validator) -> None:
    dossier = factories.dossier(pki)
    swapped = copy.deepcopy(dossier)
    swapped["medical_record"], swapped["application"]["document"] = (
        {
            "document": dossier["application"]["document"],
            "signature": dossier["application"]["signatures"][0],
        },
        dossier["medical_record"]["document"],
    )
    assert "document_type" in _failed(_verify(pki, validator, swapped))


def test_parse_dossier_limits(pki: PKI) -> None:
    good = json.dumps(factories.dossier(pki)).encode()
    assert parse_dossier(good)["application"]
    with pytest.raises(DossierTooLarge):
        parse_dossier(b" " * (MAX_DOSSIER_BYTES + 1))
    with pytest.raises(DossierError):
        parse_dossier(b"[" * 50 + b"]" * 50)
    with pytest.raises(DossierError):
        parse_dossier(b'{"a": 1, "a": 2}')
    with pytest.raises(DossierError):
        parse_dossier(b"\xff")


# Late registration: after the deadline an application is late, not refused.


def _born(pki: PKI, days_ago: int) -> dict[str, Any]:
    born_at = pki.moment - timedelta(days=days_ago)
    return factories.medical_record(
        pki,
        child={"born_at": born_at.isoformat()},
        recorded_at=(born_at + timedelta(hours=1)).isoformat(),
    )


def _late_dossier(pki: PKI, days_ago: int, **changes: Any) -> dict[str, Any]:
    record = _born(pki, days_ago)
    return factories.dossier(pki, record, factories.application(pki, record, **changes))


def test_within_the_deadline_is_not_late(pki: PKI, validator: Validator) -> None:
    report = _verify(pki, validator, _late_dossier(pki, REGISTRATION_DEADLINE.days - 1))
    assert report.passed, report.to_text()
    assert not report.late
    names = {c.name for c in report.documents[1].checks}
    assert not names & {"late_registration", "late_reason"}


def test_a_late_application_with_its_reason_passes_as_late(
    pki: PKI, validator: Validator
) -> None:
    dossier = _late_dossier(pki, 140, late_reason="Бала ауруханада емделді")
    report = _verify(pki, validator, dossier)
    assert report.passed, report.to_text()
    assert report.late
    assert report.to_json()["late"] is True
    checks = {c.name: c for c in report.documents[1].checks}
    assert checks["late_registration"].passed
    assert "140 days" in checks["late_registration"].detail
    assert checks["late_reason"].passed
    assert "late registration" in report.to_text()


@pytest.mark.parametrize("reason", [None, "", "   ", "x" * 1001, "ok\u202eko"])
def test_a_late_application_without_a_reason_fails_late_reason(
    pki: PKI, validator: Validator, reason: str | None
) -> None:
    changes = {} if reason is None else {"late_reason": reason}
    report = _verify(pki, validator, _late_dossier(pki, 140, **changes))
    assert not report.passed
    assert report.late
    assert "late_reason" in _failed(report)
    assert _failed(report) <= {"late_reason", "document_fields"}


def test_the_registry_names_its_deadline(pki: PKI, validator: Validator) -> None:
    dossier = _late_dossier(pki, 40)
    assert not _verify(pki, validator, dossier).late
    report = verify_dossier(
        dossier, validator=validator, moment=pki.moment, registration_deadline=timedelta(days=30)
    )
    assert report.late
    assert _failed(report) == {"late_reason"}


def test_a_reason_on_time_is_allowed(pki: PKI, validator: Validator) -> None:
    report = _verify(pki, validator, _late_dossier(pki, 2, late_reason="бұрын"))
    assert report.passed, report.to_text()
    assert not report.late


# Free text: no control, format or bidi characters in any string of either document.

@pytest.mark.parametrize(
    "changes",
    [
        {"address": {"street": "Қазақстан\u202eкөшесі"}},
        {"address": {"flat": "5\x00"}},
        {"address": {"region": "Шығыс\u2066Қазақстан"}},
        {"contact": {"email": "mother@example.kz\u200b"}},
        {"late_reason": "ауру\nболды"},
        {"extra": {"note": "\u2067x"}},
        {"extra": ["ok", "\x85"]},
        {"child": {"given_name": "Ай\u202eару"}},
    ],
)
def test_application_free_text(pki: PKI, validator: Validator, changes: dict[str, Any]) -> None:
    record = factories.medical_record(pki)
    document = factories.application(pki, record, **changes)
    report = _verify(pki, validator, factories.dossier(pki, record, document))
    assert "document_fields" in _failed(report), report.to_text()
    detail = next(c.detail for c in report.documents[1].checks if c.name == "document_fields")
    assert "not printable text" in detail


def test_medical_record_free_text(pki: PKI, validator: Validator) -> None:
    record = factories.medical_record(pki, attendant="Сейітова\u202e Ж.")
    report = _verify(pki, validator, factories.dossier(pki, record))
    assert "document_fields" in _failed(report)


@pytest.mark.parametrize(
    "born_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1899-12-31T00:00:00Z"]
)
def test_times_at_the_calendars_edges(pki: PKI, validator: Validator, born_at: str) -> None:
    record = factories.medical_record(pki, child={"born_at": born_at})
    report = _verify(pki, validator, factories.dossier(pki, record))
    assert "document_fields" in _failed(report)
    assert not report.late


# Signatures that carry what no signer's chain holds.


def test_x5c_of_unrelated_certificates_is_refused(pki: PKI, validator: Validator) -> None:
    """The mother's certificate followed by 47 unrelated self-signed ones: the x5c is no chain."""
    strangers = [_self_signed(index) for index in range(47)]
    record = factories.medical_record(pki)
    document = factories.application(pki, record)
    content = canonicalize(document)
    value = jws.sign_detached(
        content, pki.mother.certificate, pki.mother.key, signing_time=pki.moment,
        chain=strangers,
    )
    dossier = factories.dossier(pki, record, document)
    dossier["application"]["signatures"] = [{"format": "jws", "value": value}]
    report = _verify(pki, validator, dossier)
    signature = report.documents[1].signatures[0]
    assert signature.sub_indication is SubIndication.FORMAT_FAILURE
    assert signature.checks[-1].name == "jws.x5c"
    assert not report.passed


def _self_signed(index: int) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"TEST stranger {index}")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2027, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
