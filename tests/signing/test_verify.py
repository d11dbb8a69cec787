"""Whole-dossier verification: every check of the design, passing and failing."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import factories
import pytest
from conftest import PKI
from fetchers import InProcessFetcher

from signing.report import Indication, SubIndication, VerificationReport
from signing.trust import TrustAnchors, Validator
from signing.verify import (
    MAX_DOSSIER_BYTES,
    DossierError,
    DossierTooLarge,
    parse_dossier,
    verify_dossier,
)


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
        (
            {
                "child": {
                    "born_at": "2026-01-03T10:00:00+05:00",
                    "recorded_at": "2026-01-03T11:00:00+05:00",
                }
            },
            "business_rules",
        ),  # deadline
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
