"""The rows of one seeded birth (`birthreg seed`): documents, signatures, and where it stands.

What happens to a birth and the numbers it gets are decided beforehand (`birthreg.seed_plan`);
its people, documents and signatures are made here from its own random seed, in whichever
process the seed gives the work to (`birthreg.seed_pool`).

Everything is signed for real and verifies: the medical record is sealed with the facility's
seal as the ward seals it (`signing.cms`, its constant parts encoded once per run), parents'
certificates are issued by the TEST CA for one throwaway key pair per run (the private key is
forgotten when the seed ends; each in the CRL partition the CA would give it, made from that
partition's first: `birthreg.seed_certificates`), the application carries the mother's JWS and
the receipt the registry's, the birth certificate its sealed QR. The verification report is not
computed again for each dossier (a few milliseconds each): it is the first dossier's report,
with each birth's own identifiers written in (see `seed_report.ReportTemplate`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from birthreg import seed_names
from birthreg.audit_bulk import Event
from birthreg.models import Birth, Facility
from birthreg.notify.tracking import new_tracking_number
from birthreg.parents.validation import application_document
from birthreg.pki.seals import Seal
from birthreg.registry.duplicates import child_name_key
from birthreg.registry.search_keys import registration_keys, submission_keys
from birthreg.seed_certificates import IndividualIssuer
from birthreg.seed_plan import Numbers, Plan, Story
from birthreg.ward.records import record_facility
from signing import cms, jws
from signing.ca import CertificationAuthority, Individual, Profile
from signing.canonical import canonicalize
from signing.identity import make_iin
from signing.medical_record import MEDICAL_RECORD_TYPE

ATTENDANT = "Сейітова Ж. Қ."

@dataclass(frozen=True)
class Staff:
    ward: int
    clerk: int


@dataclass
class SeedContext:
    """What every birth of a run shares."""

    moment: datetime
    ca: CertificationAuthority
    facility: Facility
    facility_seal: Seal
    #: The facility seal's CMS signer (`signing.cms.DetachedSigner`).
    facility_signer: cms.DetachedSigner
    office_id: int
    office_seal: Seal
    staff: Staff
    holder_key: ec.EllipticCurvePrivateKey
    #: The CA's INDIVIDUAL certificates for holder_key (`birthreg.seed_certificates`).
    holder_issuer: IndividualIssuer
    #: The DER of the CA's chain above the parents' certificates, as their JWS's x5c carries it.
    chain: tuple[bytes, ...]
    #: The report's JSON text for a dossier signed with the mother's certificate, at receipt:
    #: (dossier, her certificate, receipt, the application's SHA-256, when she signed).
    make_report: Callable[[dict[str, Any], x509.Certificate, datetime, str, datetime], str]
    #: The signed receipt's JSON text: submission id, dossier digest, moment, tracking number.
    make_receipt: Callable[[str, str, datetime, str], str]
    #: A birth certificate's columns: the registration's values, the dossier (as sent, parsed).
    make_certificate: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


TABLE_ORDER = ("birth", "pki_certificate", "enrollment", "parents_application",
               "registry_submission", "registry_registration", "registry_certificate",
               "registry_search_key", "registry_issuance")


@dataclass
class Rows:
    """A batch: rows by table, in the order the tables are written, and the audit events."""

    tables: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in TABLE_ORDER}
    )
    events: list[Event] = field(default_factory=list)

    def add(self, table: str, **values: Any) -> None:
        self.tables[table].append(values)


def prime_report(context: SeedContext) -> None:
    """Make the report template (`seed_report.ReportTemplate`) from a birth of yesterday whose
    application came in an hour ago (its rows are thrown away)."""
    moment = context.moment
    life = Story(born_at=moment - timedelta(days=1), recorded_at=moment - timedelta(hours=23),
                 key_at=moment - timedelta(hours=20), applied_at=moment - timedelta(hours=1),
                 opened_at=None, decided_at=None, rejected=False, revoked_at=None, father=False)
    plan = Plan(life, "F", seed=0, lookups=(0,), tracking=new_tracking_number(),
                registration=None, partitions=(1,))
    add_birth(context, Rows(), plan)


def _iin(rng: random.Random, born: date, sex: str) -> str:
    while (iin := make_iin(born, sex, rng.randint(1, 9999))) is None:
        pass
    return iin


def _person(rng: random.Random, names: tuple[str, str, str], sex: str, age: int) -> Individual:
    born = date(2026 - age, rng.randint(1, 12), rng.randint(1, 28))
    return Individual(iin=_iin(rng, born, sex), surname=names[0], given_name=names[1],
                      patronymic=names[2])


def _seal(context: SeedContext, content: bytes, recorded_at: datetime) -> str:
    """The facility's CMS seal over a medical record, as the ward makes it (`signing.cms`),
    dated when the record was made, or, for births older than the seal, once it began (as the
    applications are: see _apply)."""
    begins = context.facility_seal.certificate.not_valid_before_utc + timedelta(minutes=10)
    signed_at = max(recorded_at, begins).replace(microsecond=0)
    der = context.facility_signer.sign(content, signing_time=signed_at)
    return base64.b64encode(der).decode("ascii")


def _staff(staff_id: int) -> str:
    return f"staff:{staff_id}"


def add_birth(context: SeedContext, rows: Rows, plan: Plan) -> None:
    """Every row and audit event of one birth as planned (`seed_plan.plan_birth`)."""
    rng = random.Random(plan.seed)  # noqa: S311 (made-up data, not secrets)
    life = plan.life
    family = rng.choice(seed_names.SURNAMES)
    mother = _person(rng, seed_names.adult(rng, family, "F"), "F", rng.randint(18, 42))
    birth = _birth(context, rows, rng, plan, mother)
    if life.key_at is None:
        return
    mother_certificate = _enroll(context, rows, birth, mother, "mother", plan)
    father = None
    if life.father:
        father = _person(rng, seed_names.adult(rng, family, "M"), "M", rng.randint(20, 50))
        _enroll(context, rows, birth, father, "father", plan)
    if life.applied_at is None or plan.tracking is None:
        return
    birth.row["progress"] = "application_signed"
    parts = _parts(rng, birth, family, father)
    submission_id, dossier = _apply(context, rows, birth, mother_certificate, parts, plan)
    if plan.registration is not None:
        birth.row["progress"] = "registered"
        _register(context, rows, birth, (submission_id, dossier), life, plan.registration)


@dataclass
class Born:
    """A seeded birth as its later steps read it: its row (its progress moved as the birth goes
    on) and what they would read of its `Birth` (`medical_record`, `medical_record_sha256`, for
    `application_document`), the record as a document, and the seal's base64."""

    row: dict[str, Any]
    document: dict[str, Any]
    seal: str

    @property
    def id(self) -> str:
        return str(self.row["id"])

    @property
    def medical_record(self) -> str:
        return str(self.row["medical_record"])

    @property
    def medical_record_sha256(self) -> str:
        return str(self.row["medical_record_sha256"])


def medical_record(context: SeedContext, record_id: str, mother: Individual, sex: str,
                   life: Story, weight_g: int, length_cm: int) -> dict[str, Any]:
    """The medical record the ward makes of this birth (`ward.records.medical_record_document`,
    which also runs the ward's checks on what it is given: the seed's values pass them by
    construction, and a test compares the two)."""
    mother_part = {"iin": mother.iin, "surname": mother.surname,
                   "given_name": mother.given_name}
    if mother.patronymic is not None:
        mother_part["patronymic"] = mother.patronymic
    return {
        "type": MEDICAL_RECORD_TYPE,
        "id": record_id,
        "facility": record_facility(context.facility),
        "mother": mother_part,
        "child": {"sex": sex, "born_at": life.born_at.isoformat(timespec="seconds"),
                  "weight_g": weight_g, "length_cm": length_cm, "plurality": 1,
                  "birth_order": 1},
        "attendant": ATTENDANT,
        "recorded_at": life.recorded_at.astimezone(UTC).isoformat(timespec="seconds"),
    }


def _birth(context: SeedContext, rows: Rows, rng: random.Random, plan: Plan,
           mother: Individual) -> Born:
    life = plan.life
    record_id = str(uuid.uuid4())
    document = medical_record(context, record_id, mother, "F" if plan.sex == "F" else "M", life,
                              rng.randint(2400, 4600), rng.randint(45, 56))
    content = canonicalize(document)
    sha = hashlib.sha256(content).hexdigest()
    seal = _seal(context, content, life.recorded_at)
    born = Born(document=document, seal=seal, row={
        "id": record_id, "facility_id": context.facility.id,
        "medical_record": content.decode("utf-8"), "medical_record_sha256": sha,
        # The seal's base64 (ASCII), packed with the batch (birthreg.seed_packed).
        "seal_signature": seal.encode("ascii"), "born_at": life.born_at,
        "recorded_at": life.recorded_at, "recorded_by": context.staff.ward,
        "progress": "key_issued" if life.key_at else "recorded",
        "certificate_issued_at": None})
    rows.tables["birth"].append(born.row)
    rows.events.append(Event(life.recorded_at, _staff(context.staff.ward), "ward",
                             "birth.recorded", "birth", record_id,
                             {"medical_record_sha256": sha,
                              "facility_id": context.facility.id}))
    return born


def _enroll(context: SeedContext, rows: Rows, birth: Born, person: Individual, role: str,
            plan: Plan) -> x509.Certificate:
    """An enrollment, used at once for a key: the certificate row and its audit events."""
    life = plan.life
    assert life.key_at is not None
    started = life.key_at - timedelta(minutes=10)
    issued_at = max(life.key_at, context.ca.issuing_certificate.not_valid_before_utc)
    # The partition the CA would have given it, in issuing order (`seed_plan.Counters`).
    partition = plan.partitions[role == "father"]
    certificate = context.holder_issuer.issue(person, moment=issued_at, crl_partition=partition)
    serial = format(certificate.serial_number, "x")
    revoked = life.revoked_at if role == "mother" else None
    rows.add("pki_certificate", serial=serial, profile=Profile.INDIVIDUAL.value,
             der=context.holder_issuer.encoded(certificate),
             not_before=certificate.not_valid_before_utc,
             not_after=certificate.not_valid_after_utc, issued_at=issued_at,
             revoked_at=revoked, revocation_reason="key_compromise" if revoked else None,
             crl_partition=partition)
    enrollment_id = str(uuid.uuid4())
    rows.add("enrollment", id=enrollment_id, birth_id=birth.id, role=role, iin=person.iin,
             surname=person.surname, given_name=person.given_name,
             patronymic=person.patronymic,
             # A used code's lookup that no typed code can match (codes use capitals only).
             lookup=f"u{plan.lookups[role == 'father']:07x}", secret_hmac=secrets.token_hex(32),
             expires_at=started + timedelta(minutes=30), failed_attempts=0, locked_at=None,
             used_at=life.key_at, key_path="webcrypto", certificate_serial=serial,
             created_by=context.staff.ward, created_at=started)
    staff = _staff(context.staff.ward)
    rows.events.append(Event(started, staff, "ward", "enrollment.started", "enrollment",
                             enrollment_id, {"birth_id": birth.id, "role": role}))
    rows.events.append(Event(life.key_at, f"holder:{serial}", role, "certificate.issued",
                             "certificate", serial, {"enrollment_id": enrollment_id}))
    if revoked is not None:
        rows.events.append(Event(revoked, f"holder:{serial}", role, "certificate.revoked",
                                 "certificate", serial, {"reason": "key_compromise"}))
    return certificate


def _parts(rng: random.Random, birth: Born, family: str,
           father: Individual | None) -> dict[str, Any]:
    sex = birth.document["child"]["sex"]
    return {
        "child": seed_names.child(rng, family, sex, father.given_name if father else None),
        "father": None if father is None else {
            "iin": father.iin, "surname": father.surname, "given_name": father.given_name,
            "patronymic": father.patronymic, "basis": "marriage"},
        "address": {"region": "Шығыс Қазақстан облысы", "locality": "Өскемен",
                    "street": "Қазақстан көшесі", "building": str(rng.randint(1, 200)),
                    "flat": str(rng.randint(1, 120))},
        "contact": {"phone": f"+7 701 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"},
        "language": rng.choice(("kk", "ru")),
    }


def _apply(context: SeedContext, rows: Rows, birth: Born, certificate: x509.Certificate,
           parts: dict[str, Any], plan: Plan) -> tuple[str, dict[str, Any]]:
    """The mother's signed application, sent and received: the parents' row, the submission;
    the submission's id and its dossier (what `json.loads` makes of the text sent)."""
    life = plan.life
    assert life.applied_at is not None and plan.tracking is not None
    application_id = str(uuid.uuid4())
    # application_document reads the record's text and digest, as Born has them.
    document = application_document(application_id, cast(Birth, birth), parts)
    content = canonicalize(document)
    mother_serial = format(certificate.serial_number, "x")
    # Births older than the TEST CA were certified when it began (see _enroll): their
    # signatures are made then too, so that they verify.
    signed_at = max(life.applied_at - timedelta(minutes=2),
                    certificate.not_valid_before_utc + timedelta(minutes=10))
    # The certificate's DER as its issuer kept it, not encoded again.
    signature = {"format": "jws", "value": jws.sign_detached(
        content, context.holder_issuer.encoded(certificate), context.holder_key,
        chain=context.chain, signing_time=signed_at)}
    dossier = {
        "medical_record": {"document": birth.document,
                           "signature": {"format": "cms", "value": birth.seal}},
        "application": {"document": document, "signatures": [signature]},
    }
    texts = dossier_texts(birth.medical_record, content.decode("utf-8"), birth.seal, signature)
    digest = hashlib.sha256(content).hexdigest()
    submission_id = _submission(context, rows, (dossier, *texts), certificate, plan,
                                (digest, signed_at))
    rows.add("parents_application", id=application_id, birth_id=birth.id, previous_id=None,
             state="submitted", document=content.decode("utf-8"),
             created_by_serial=mother_serial, mother_serial=mother_serial,
             mother_signature=json.dumps(signature), father_serial=None, father_signature=None,
             invitation_salt=None, submission_id=submission_id, receipt=None,
             submission_error=None, created_at=life.applied_at - timedelta(minutes=20),
             updated_at=life.applied_at, submitted_at=life.applied_at)
    holder = f"holder:{mother_serial}"
    for action, at in (("application.drafted", timedelta(minutes=20)),
                       ("application.signed", timedelta(minutes=2)),
                       ("application.submitted", timedelta(0))):
        rows.events.append(Event(life.applied_at - at, holder, "mother", action, "application",
                                 application_id, {"submission_id": submission_id}))
    return submission_id, dossier


def _status(life: Story) -> str:
    if life.decided_at is not None:
        return "rejected" if life.rejected else "registered"
    return "in_review" if life.opened_at is not None else "received"


def dossier_texts(record: str, application: str, seal: str,
                  signature: dict[str, str]) -> tuple[str, str]:
    """A dossier as the parents' service sends it (`registry.client.encode_dossier` of its
    documents read back from their stored canonical texts), and the SHA-256 of its RFC 8785
    form, both put together from the documents' canonical texts `record` and `application`:
    RFC 8785 writes a member's value as it writes that value alone, and the parents' service
    sends each document as stored, in canonical form. Only the members' order differs: as sent
    (medical_record first), and by code point in the canonical form."""
    record_signature = canonicalize({"format": "cms", "value": seal}).decode("utf-8")
    signatures = canonicalize([signature]).decode("utf-8")
    application_part = f'{{"document":{application},"signatures":{signatures}}}'
    record_part = f'{{"document":{record},"signature":{record_signature}}}'
    body = f'{{"medical_record":{record_part},"application":{application_part}}}'
    canonical = f'{{"application":{application_part},"medical_record":{record_part}}}'
    return body, hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _submission(context: SeedContext, rows: Rows,
                dossier_and_texts: tuple[dict[str, Any], str, str], mother: x509.Certificate,
                plan: Plan, signed: tuple[str, datetime]) -> str:
    """The registry's submission of `dossier_and_texts` (the dossier, the text received, the
    SHA-256 of its RFC 8785 form: see dossier_texts); `signed`: the application's SHA-256 and
    when the mother signed it (for the report)."""
    life, tracking = plan.life, plan.tracking
    assert life.applied_at is not None and tracking is not None
    dossier, text, sha = dossier_and_texts
    mother_serial = format(mother.serial_number, "x")
    received = life.applied_at + timedelta(seconds=1)
    record, application = dossier["medical_record"]["document"], dossier["application"]
    submission_id = str(uuid.uuid4())
    status = _status(life)
    rows.add("registry_submission", id=submission_id, registry_office_id=context.office_id,
             dossier=text, dossier_sha256=sha, medical_record_id=record["id"],
             medical_record_sha256=application["document"]["medical_record_sha256"],
             application_id=application["document"]["id"], facility_bin=record["facility"]["bin"],
             mother_iin=record["mother"]["iin"],
             child_born_at=datetime.fromisoformat(record["child"]["born_at"]),
             child_sex=record["child"]["sex"], birth_order=record["child"]["birth_order"],
             status=status, report=context.make_report(dossier, mother, received, *signed),
             receipt=context.make_receipt(submission_id, sha, received, tracking),
             duplicate_candidates="[]", previous_id=None,
             child_name_key=child_name_key(application["document"]),
             rejection_reason="the names do not match the documents" if status == "rejected"
             else None,
             decided_by=context.staff.clerk if life.decided_at else None,
             decided_at=life.decided_at, received_at=received, tracking_number=tracking)
    for key in submission_keys(dossier, tracking):
        rows.add("registry_search_key", key=key, submission_id=submission_id, received_at=received)
    events = [Event(received, f"holder:{mother_serial}", "mother", "submission.received",
                    "submission", submission_id, {"dossier_sha256": sha, "previous_id": None,
                                                  "candidates": []})]
    clerk = _staff(context.staff.clerk)
    if life.opened_at is not None:
        events.append(Event(life.opened_at, clerk, "clerk", "submission.opened", "submission",
                            submission_id))
    if status == "rejected":
        assert life.decided_at is not None
        events.append(Event(life.decided_at, clerk, "clerk", "submission.rejected",
                            "submission", submission_id, {"reason": "names"}))
    rows.events.extend(events)
    return submission_id


def _register(context: SeedContext, rows: Rows, birth: Born,
              submission: tuple[str, dict[str, Any]], life: Story, numbers: Numbers) -> None:
    """The registration of the submission (its id and dossier) and its certificate."""
    assert life.decided_at is not None
    submission_id, dossier = submission
    received_at = rows.tables["registry_submission"][-1]["received_at"]
    year, act_record_number, iin = numbers.year, numbers.act_record_number, numbers.child_iin
    registration: dict[str, Any] = {
        "id": numbers.id, "submission_id": submission_id,
        "medical_record_id": birth.id, "registry_office_id": context.office_id, "year": year,
        "act_record_number": act_record_number, "child_iin": iin,
        "registered_at": life.decided_at, "registered_by": context.staff.clerk,
    }
    rows.add("registry_registration", **registration)
    certificate = context.make_certificate(registration, dossier)
    rows.add("registry_certificate", **certificate)
    for key in registration_keys(iin, year, act_record_number, certificate["certificate_number"]):
        rows.add("registry_search_key", key=key, submission_id=submission_id,
                 received_at=received_at)
    rows.add("registry_issuance", certificate_id=certificate["id"],
             registration_id=registration["id"], kind="original", at=life.decided_at,
             actor=_staff(context.staff.clerk), role="clerk", collector_name=None,
             collector_iin=None, document_checked=None, reason=None)
    rows.events.append(Event(life.decided_at, _staff(context.staff.clerk), "clerk",
                             "registration.registered", "submission", submission_id,
                             {"act_record_number": act_record_number,
                              "year": year, "child_iin": iin,
                              "certificate_id": certificate["id"]}))
