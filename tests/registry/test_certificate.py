"""The birth certificate: fields, the sealed QR code, the printable page and the PAdES PDF,
checked by pyHanko, by poppler's pdfsig and pdftotext, and by decoding the QR code from the
rendered page; its dates are Kazakhstan's, the same as the child's IIN, at the day's edges."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import segno
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session
from verify.certificates import FACILITY, context_for, issue

from birthreg import qr
from birthreg.config import Settings
from birthreg.models import BirthCertificate, CertificatePDF, Role, now
from birthreg.pki.service import load_certification_authority
from birthreg.registry.certificate import seal_fields
from birthreg.registry.certificate_pdf import (
    certificate_pdf,
    qr_svg,
    render_certificate_pdf,
    sign_pdf,
    store_pdf,
    stored_pdf,
)
from registry import factories as f
from signing.seal import SealError, make_seal, qr_text, read_seal, seal_from_qr_text

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LOCALITY = "Өскемен / Усть-Каменогорск"


def _needs(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


def test_issued_fields(app: Any, service_settings: Settings, db: Session) -> None:
    certificate = issue(service_settings, db)
    fields = json.loads(certificate.fields)
    assert certificate.certificate_number == f"TEST-I № {certificate.registration_id:06d}"
    assert len(certificate.id) == 32
    assert db.get(CertificatePDF, certificate.id) is None  # made on first download only
    assert fields["child"] == {
        "surname": "Әбілқасымова", "given_name": "Айару", "patronymic": "Ерланқызы",
        "date_of_birth": "2026-05-30", "sex": "F", "iin": "260530600011",
        "place_of_birth": LOCALITY,
    }
    assert fields["mother"] == {"surname": "Әбілқасымова", "given_name": "Гүлнұр",
                                "patronymic": "Серікқызы", "nationality": None}
    assert fields["father"]["given_name"] == "Ерлан"
    assert fields["act_record"] == {"number": 123, "year": 2026, "date": "2026-06-01"}
    assert fields["registry_office"]["code"] == "ESK-01"
    assert certificate.qr.startswith("http://testserver/verify#")
    # The QR seal verifies against the registry seal and carries the key fields.
    context = context_for(service_settings, db)
    sealed = read_seal(certificate.qr, [context.seal.certificate])
    assert sealed.certificate_number == certificate.certificate_number
    assert (sealed.child_surname, sealed.child_iin) == ("Әбілқасымова", "260530600011")
    assert sealed.act_record_number == 123 and str(sealed.act_record_date) == "2026-06-01"


def test_place_of_birth_is_the_facility_name_when_the_record_has_no_locality(
    app: Any, service_settings: Settings, db: Session
) -> None:
    facility = {"bin": FACILITY["bin"], "name": FACILITY["name"]}
    certificate = issue(service_settings, db, facility=facility)
    assert json.loads(certificate.fields)["child"]["place_of_birth"] == FACILITY["name"]


def test_issuing_twice_returns_the_first(app: Any, service_settings: Settings, db: Session) -> None:
    from birthreg.models import Registration, Submission
    from birthreg.registry.certificate import issue_certificate
    from birthreg.services import app_services

    certificate = issue(service_settings, db)
    registration = db.get(Registration, certificate.registration_id)
    assert registration is not None
    submission = db.get(Submission, registration.submission_id)
    again = issue_certificate(db, app_services(app), registration, submission)  # its services
    assert again.id == certificate.id


def test_certificate_endpoints(app: Any, client: Any, service_settings: Settings,
                               db: Session) -> None:
    certificate = issue(service_settings, db, father=None)
    body = client.get(f"/api/v1/registry/certificates/{certificate.id}").json()
    assert body["status"] == "valid" and body["qr"] == certificate.qr
    assert body["fields"]["father"] is None

    page = client.get(f"/registry/certificates/{certificate.id}/print")
    assert page.status_code == 200 and "Әбілқасымова Айару" not in page.text
    assert "Айару" in page.text and "<svg" in page.text and "TEST" in page.text
    assert f'href="/api/v1/registry/certificates/{certificate.id}.pdf"' in page.text
    for stylesheet in ("certificate.css", "certificate-narrow.css"):
        assert f'href="http://testserver/static/{stylesheet}"' in page.text
        assert client.get(f"/static/{stylesheet}").status_code == 200
    assert 'media="screen and (max-width: 560px)"' in page.text

    response = client.get(f"/api/v1/registry/certificates/{certificate.id}.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="birth-certificate-TEST-{certificate.registration_id:06d}.pdf"'
    )
    assert response.content.startswith(b"%PDF-")
    stored = db.get(CertificatePDF, certificate.id)
    assert stored is not None and stored.deflated  # kept compressed, served as made
    assert stored_pdf(db, certificate.id) == response.content  # made once, then kept
    # Served as stored: a PDF made again would carry another signing time.
    assert client.get(f"/api/v1/registry/certificates/{certificate.id}.pdf").content == (
        response.content
    )

    for path in ("/api/v1/registry/certificates/nope", "/api/v1/registry/certificates/"
                 + "x" * 32 + ".pdf", "/registry/certificates/" + "x" * 32 + "/print"):
        missing = client.get(path)
        assert missing.status_code == 404, path
    assert client.get("/api/v1/registry/certificates/nope").json()["error"] == (
        "certificate_not_found"
    )


def test_a_pdf_made_meanwhile_by_another_download_is_the_one_kept(
    app: Any, service_settings: Settings, db: Session
) -> None:
    certificate = issue(service_settings, db)
    assert store_pdf(db, certificate.id, b"%PDF- first") == b"%PDF- first"
    assert store_pdf(db, certificate.id, b"%PDF- second") == b"%PDF- first"
    context = context_for(service_settings, db)
    assert certificate_pdf(db, context, certificate) == b"%PDF- first"


def _pdf(settings: Settings, db: Session, **kwargs: Any) -> tuple[bytes, BirthCertificate]:
    certificate = issue(settings, db, **kwargs)
    pdf = certificate_pdf(db, context_for(settings, db), certificate)
    db.commit()
    return pdf, certificate


def _tampered(pdf: bytes) -> bytes:
    """A byte of the page changed under the signature."""
    position = pdf.index(b"/MediaBox")
    return pdf[:position] + b"/MediaBoy" + pdf[position + 9:]


def test_pdf_validates_with_pyhanko(app: Any, service_settings: Settings, db: Session) -> None:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    pdf, _ = _pdf(service_settings, db)
    ca = load_certification_authority(service_settings)

    def asn1(certificate: x509.Certificate) -> Any:
        return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))

    def validate(data: bytes, roots: list[x509.Certificate]) -> Any:
        reader = PdfFileReader(io.BytesIO(data))
        [signature] = reader.embedded_signatures
        context = ValidationContext(
            trust_roots=[asn1(root) for root in roots], allow_fetching=False,
            revocation_mode="soft-fail",
        )
        return validate_pdf_signature(signature, context)

    status = validate(pdf, [ca.root_certificate])
    assert status.bottom_line
    assert status.intact and status.valid and status.trusted
    assert status.coverage.name == "ENTIRE_FILE"
    assert "TEST" in status.signing_cert.subject.human_friendly

    # Another root: intact and valid, but not trusted.
    from conftest import MOMENT

    from signing.ca import CertificationAuthority

    other = CertificationAuthority.create(base_url="http://other.test", moment=MOMENT)
    untrusted = validate(pdf, [other.root_certificate])
    assert untrusted.intact and not untrusted.trusted and not untrusted.bottom_line

    broken = validate(_tampered(pdf), [ca.root_certificate])
    assert not broken.bottom_line and not broken.intact


def _pdfsig(pdf: bytes, path: Path) -> str:
    path.write_bytes(pdf)
    # pdfsig exits 0 whatever its verdict: its text says.
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True,
                          check=False).stdout


def test_pdf_text_and_pdfsig(app: Any, service_settings: Settings, db: Session,
                             tmp_path: Path) -> None:
    _needs("pdfsig")
    _needs("pdftotext")
    pdf, certificate = _pdf(service_settings, db)
    report = _pdfsig(pdf, tmp_path / "certificate.pdf")
    assert "Signature Validation: Signature is Valid." in report, report
    assert "Total document signed" in report
    assert "ETSI.CAdES.detached" in report
    # poppler trusts the system store only, where the TEST root is not (and must not be).
    assert "Certificate issuer isn't Trusted" in report

    tampered = _pdfsig(_tampered(pdf), tmp_path / "tampered.pdf")
    assert "Signature Validation: Digest Mismatch." in tampered, tampered
    assert "Signature is Valid" not in tampered

    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "certificate.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    for value in ("Әбілқасымова", "Айару", "Ерланқызы", "260530600011", "30.05.2026",
                  "01.06.2026", certificate.certificate_number,
                  "Әбілқасымов Ерлан Болатұлы", "Әбілқасымова Гүлнұр Серікқызы",
                  LOCALITY, "TEST",
                  # Labels in both languages: Kazakh, then Russian.
                  "Туған күні", "Дата рождения", "Туған жері", "Место рождения",
                  "СВИДЕТЕЛЬСТВО О РОЖДЕНИИ"):
        assert value in text, value
    assert "перзентханасы" not in text  # the place of birth is the town, not the facility


def _qr_from_pdf(pdf: bytes, tmp_path: Path) -> str:
    _needs("pdftoppm")
    _needs("zbarimg")
    path = tmp_path / "scan.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(path),
                    str(tmp_path / "page")], check=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "page.png", ARTIFACTS / "certificate-page.png")
    scan = subprocess.run(["zbarimg", "--raw", "-q", str(tmp_path / "page.png")],
                          capture_output=True, text=True, check=False)
    assert scan.returncode == 0, scan.stderr
    return scan.stdout.strip()


LONG = {
    "surname": "Нұрмұхамбетқалиева-Сейітжапарова-Әбдірахманова-Төлеуғалиқызы-Қай",
    "given_name": "Гүлмирахан-Ақбөпе-Әйгерім-Нұржамал-Құралайсұлу-Жансаяқызы-Ұлжаны",
    "patronymic": "Жанкелдіқызы-Әбдіғаппарқызы-Нұрсұлтанқызы-Серікбайқызы-Төреқызық",
}


@pytest.mark.parametrize("child", [None, LONG], ids=["typical", "longest-names"])
def test_qr_scanned_from_the_pdf_verifies(app: Any, service_settings: Settings, db: Session,
                                          tmp_path: Path, child: Any) -> None:
    pdf, certificate = _pdf(service_settings, db, child=child)
    assert _pages(pdf) == 1
    scanned = _qr_from_pdf(pdf, tmp_path)
    assert scanned == certificate.qr
    context = context_for(service_settings, db)
    sealed = read_seal(scanned, [context.seal.certificate])
    assert sealed.child_given_name == (child or {"given_name": "Айару"})["given_name"]


@pytest.mark.parametrize(("child", "at_most"), [(None, 12), (LONG, 16)],
                         ids=["typical", "longest-names"])
def test_the_printed_qr_holds_the_seal_in_alphanumeric_mode(
    app: Any, service_settings: Settings, db: Session, child: Any, at_most: int
) -> None:
    certificate = issue(service_settings, db, child=child)
    url, fragment = certificate.qr.split("#")
    assert qr.segments(certificate.qr) == [url + "#", fragment]
    code = qr.make(certificate.qr)
    assert code.version <= at_most
    # The same text as one piece is all bytes: two to four versions larger.
    assert segno.make(certificate.qr, error="m", micro=False).version >= code.version + 2
    # The page and the PDF draw this code: its width in modules is the version's (4 v + 17)
    # and the quiet zone's 2 × 4.
    side = 4 * code.version + 17 + 8
    assert f'viewBox="0 0 {side} {side}"' in qr_svg(certificate.qr)


def _pages(pdf: bytes) -> int:
    from pyhanko.pdf_utils.reader import PdfFileReader

    return int(PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Count"])


def test_the_longest_names_everywhere_keep_one_page(
    app: Any, service_settings: Settings, db: Session, tmp_path: Path
) -> None:
    """Every name at the longest the registry accepts: still one page, its QR code readable."""
    certificate = issue(service_settings, db)
    fields = json.loads(certificate.fields)
    for person in ("child", "mother", "father"):
        fields[person].update(LONG)
    pdf = render_certificate_pdf(fields, certificate.qr)
    assert _pages(pdf) == 1
    assert _qr_from_pdf(pdf, tmp_path) == certificate.qr


def test_forged_qr_does_not_verify(app: Any, service_settings: Settings, db: Session,
                                   tmp_path: Path) -> None:
    """A forger changes a field and re-seals with a key of their own, under the real kid: the
    PDF looks the same to the eye, its QR code scans, and it is refused."""
    certificate = issue(service_settings, db)
    context = context_for(service_settings, db)
    fields = json.loads(certificate.fields)
    fields["child"]["given_name"] = "Аружан"
    forger = ec.generate_private_key(ec.SECP256R1())
    # The forger's seal names the registry's certificate (its kid), not the forger's own.
    forged_seal = make_seal(seal_fields(fields), forger, context.seal.certificate)
    forged_qr = qr_text("http://testserver", forged_seal)
    forged_pdf = sign_pdf(render_certificate_pdf(fields, forged_qr), context.seal)
    scanned = _qr_from_pdf(forged_pdf, tmp_path)
    assert seal_from_qr_text(scanned) == forged_seal
    with pytest.raises(SealError) as caught:
        read_seal(scanned, [context.seal.certificate])
    assert caught.value.code == "bad_seal_signature"
    # Sealed under the forger's own certificate instead: an unknown key.
    real = context.seal.certificate
    forger_certificate = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(real.issuer)
        .public_key(forger.public_key())
        .serial_number(real.serial_number)
        .not_valid_before(real.not_valid_before_utc)
        .not_valid_after(real.not_valid_after_utc)
        .sign(forger, hashes.SHA256())
    )
    with pytest.raises(SealError) as caught:
        read_seal(make_seal(seal_fields(fields), forger, forger_certificate),
                  [context.seal.certificate])
    assert caught.value.code == "unknown_key"


# -- the date of birth is Kazakhstan's (UTC+5), the one the child's IIN encodes -------------------


def test_a_birth_late_in_the_utc_evening_is_born_the_next_day_in_almaty(
    app: Any, client: Any, service_settings: Settings, db: Session, tmp_path: Path
) -> None:
    """22:47 UTC on 5 December is 03:47 on 6 December in Almaty: every view of the certificate
    says 06.12.2026."""
    _needs("pdftotext")
    certificate = issue(service_settings, db, born_at="2026-12-05T22:47:00Z",
                        child_iin="261206600014")
    body = client.get(f"/api/v1/registry/certificates/{certificate.id}").json()
    assert body["fields"]["child"]["date_of_birth"] == "2026-12-06"
    sealed = read_seal(certificate.qr, [context_for(service_settings, db).seal.certificate])
    assert sealed.date_of_birth.isoformat() == "2026-12-06"
    verdict = client.post("/api/v1/verify", json={"qr": certificate.qr}).json()
    assert verdict["valid"] and verdict["fields"]["date_of_birth"] == "2026-12-06"
    page = client.get(f"/registry/certificates/{certificate.id}/print").text
    assert "06.12.2026" in page and "05.12.2026" not in page
    pdf = client.get(f"/api/v1/registry/certificates/{certificate.id}.pdf").content
    (tmp_path / "certificate.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "certificate.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "06.12.2026" in text and "05.12.2026" not in text


_EDGES = [
    # (the record's UTC offset, its UTC time of day, days after that UTC day in Almaty)
    (UTC, (18, 59, 59), 0),  # 23:59:59 in Almaty
    (UTC, (19, 0, 0), 1),  # 00:00:00 the next day in Almaty
    # Written in UTC+3 at 23:30 on the day: 01:30 the next day in Almaty.
    (timezone(timedelta(hours=3)), (20, 30, 0), 1),
    # Written in UTC+6 at 00:30 the next day: still 23:30 on the day in Almaty.
    (timezone(timedelta(hours=6)), (18, 30, 0), 0),
]


@pytest.mark.parametrize(("offset", "utc_time", "days_later"), _EDGES,
                         ids=["18:59:59Z", "19:00:00Z", "+03:00", "+06:00"])
def test_registered_date_of_birth_matches_the_iin_at_the_day_s_edges(
    app: Any, client: Any, service_settings: Settings, db: Session,
    offset: timezone, utc_time: tuple[int, int, int], days_later: int,
) -> None:
    day = (now() - timedelta(days=3)).date()
    born_at = datetime(day.year, day.month, day.day, *utc_time, tzinfo=UTC).astimezone(offset)
    local = day + timedelta(days=days_later)
    mother = f.issue_person(app, f.person(100))
    dossier = f.good_dossier(app, mother, born_at=born_at, facility={"locality": LOCALITY})
    assert dossier["medical_record"]["document"]["child"]["born_at"] == born_at.isoformat()
    submitted = client.post("/api/v1/registry/submissions", json=dossier)
    assert submitted.status_code == 201, submitted.text
    registered = client.post(
        f"/api/v1/registry/submissions/{submitted.json()['id']}/register",
        headers=f.staff_headers(app, Role.CLERK),
    ).json()
    assert registered["child_iin"][:6] == local.strftime("%y%m%d")

    body = client.get(f"/api/v1/registry/certificates/{registered['certificate_id']}").json()
    child = body["fields"]["child"]
    assert child["date_of_birth"] == local.isoformat()
    assert child["iin"] == registered["child_iin"] and child["place_of_birth"] == LOCALITY
    verdict = client.post("/api/v1/verify", json={"qr": body["qr"]}).json()
    assert verdict["valid"] and verdict["fields"]["date_of_birth"] == local.isoformat()
    page = client.get(f"/registry/certificates/{registered['certificate_id']}/print").text
    assert local.strftime("%d.%m.%Y") in page
