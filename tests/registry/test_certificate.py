"""The birth certificate: fields, the sealed QR code, the printable page and the PAdES PDF,
checked by pyHanko, by poppler's pdfsig, and by decoding the QR code from the rendered page."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session
from verify.certificates import context_for, issue

from birthreg.config import Settings
from birthreg.models import BirthCertificate
from birthreg.pki.service import load_certification_authority
from birthreg.registry.certificate import (
    certificate_pdf_bytes,
    render_certificate_pdf,
    seal_fields,
    sign_pdf,
)
from signing.seal import SealError, make_seal, qr_text, read_seal, seal_from_qr_text

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _needs(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


def test_issued_fields(app: Any, service_settings: Settings, db: Session) -> None:
    certificate = issue(service_settings, db)
    fields = json.loads(certificate.fields)
    assert certificate.certificate_number == f"TEST-I № {certificate.registration_id:06d}"
    assert len(certificate.id) == 32 and certificate.pdf is None
    assert fields["child"] == {
        "surname": "Әбілқасымова", "given_name": "Айару", "patronymic": "Ерланқызы",
        "date_of_birth": "2026-05-30", "sex": "F", "iin": "260530600011",
        "place_of_birth": "Өскемен қалалық перзентханасы (TEST)",
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


def test_issuing_twice_returns_the_first(app: Any, service_settings: Settings, db: Session) -> None:
    from birthreg.models import Registration, Submission
    from birthreg.registry.certificate import issue_certificate

    certificate = issue(service_settings, db)
    registration = db.get(Registration, certificate.registration_id)
    assert registration is not None
    submission = db.get(Submission, registration.submission_id)
    again = issue_certificate(db, app, registration, submission)  # the app as context
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

    response = client.get(f"/api/v1/registry/certificates/{certificate.id}.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.content.startswith(b"%PDF-")
    db.expire_all()
    kept = db.get(BirthCertificate, certificate.id)
    assert kept is not None and kept.pdf == response.content  # made once, then kept
    assert client.get(f"/api/v1/registry/certificates/{certificate.id}.pdf").content == (
        response.content
    )

    for path in ("/api/v1/registry/certificates/nope", "/api/v1/registry/certificates/"
                 + "x" * 32 + ".pdf"):
        missing = client.get(path)
        assert missing.status_code == 404 and missing.json()["error"] == "certificate_not_found"


def _pdf(settings: Settings, db: Session, **kwargs: Any) -> tuple[bytes, BirthCertificate]:
    certificate = issue(settings, db, **kwargs)
    pdf = certificate_pdf_bytes(db, context_for(settings, db), certificate)
    db.commit()
    return pdf, certificate


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
    assert status.intact and status.valid and status.trusted
    assert status.bottom_line
    assert "TEST" in status.signing_cert.subject.human_friendly

    # Another root: intact and valid, but not trusted.
    from conftest import MOMENT

    from signing.ca import CertificationAuthority

    other = CertificationAuthority.create(base_url="http://other.test", moment=MOMENT)
    untrusted = validate(pdf, [other.root_certificate])
    assert untrusted.intact and not untrusted.trusted and not untrusted.bottom_line

    # A byte of the page changed under the signature.
    position = pdf.index(b"/MediaBox")
    tampered = pdf[:position] + b"/MediaBoy" + pdf[position + 9:]
    broken = validate(tampered, [ca.root_certificate])
    assert not broken.intact and not broken.bottom_line


def test_pdf_text_and_pdfsig(app: Any, service_settings: Settings, db: Session,
                             tmp_path: Path) -> None:
    _needs("pdfsig")
    _needs("pdftotext")
    pdf, certificate = _pdf(service_settings, db)
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf)
    report = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    assert "Signature Validation: Signature is Valid." in report.stdout, report.stdout
    assert "Total document signed" in report.stdout
    assert "ETSI.CAdES.detached" in report.stdout
    # poppler trusts the system store only, where the TEST root is not (and must not be).
    assert "Certificate issuer isn't Trusted" in report.stdout

    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    for value in ("Әбілқасымова", "Айару", "Ерланқызы", "260530600011", "30.05.2026",
                  "01.06.2026", certificate.certificate_number,
                  "Әбілқасымов Ерлан Болатұлы", "Әбілқасымова Гүлнұр Серікқызы",
                  "Өскемен қалалық перзентханасы (TEST)", "TEST"):
        assert value in text, value


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
    scanned = _qr_from_pdf(pdf, tmp_path)
    assert scanned == certificate.qr
    context = context_for(service_settings, db)
    sealed = read_seal(scanned, [context.seal.certificate])
    assert sealed.child_given_name == (child or {"given_name": "Айару"})["given_name"]


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
