"""The certificate as a page and as a signed PDF: render, sign, store.

One Jinja2 template (templates/certificate/certificate.html) gives the printable page and,
through WeasyPrint, the PDF; the QR code is an inline SVG in both. The PDF is signed PAdES-B-B
by the registry office's seal with pyHanko, its chain embedded, so that a PDF reader shows a
valid signature from the TEST chain.

A PDF is made on its certificate's first download (about half a second: far too slow for the
registration's transaction) and kept in `registry_certificate_pdf`; every later download gets
the stored bytes. A certificate never changes once issued, so neither does its PDF, and the
signature a holder checked once stays the one served.
"""

from __future__ import annotations

import io
import json
import zlib
from datetime import date, datetime
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from markupsafe import Markup
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields as signature_fields
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from birthreg import i18n
from birthreg.db import PACKAGE_DIR
from birthreg.models import BirthCertificate, CertificatePDF, now
from birthreg.pki.seals import Seal
from birthreg.qr import make as qr_code
from birthreg.registry.certificate import CertificateContext

TEMPLATE = "certificate/certificate.html"
STYLESHEET = PACKAGE_DIR / "static" / "certificate.css"
PDF_SIGNATURE_FIELD = "RegistrySeal"


# -- the page -----------------------------------------------------------------------------------


def certificate_date(value: str | None) -> str:
    """A date as printed on the certificate: DD.MM.YYYY (the same in Kazakh and Russian)."""
    if not value:
        return ""
    return date.fromisoformat(value[:10]).strftime("%d.%m.%Y")


def person_name(person: dict[str, Any] | None) -> str:
    """Surname, given name and patronymic, as on Kazakh documents."""
    if not person:
        return ""
    parts = (person.get("surname"), person.get("given_name"), person.get("patronymic"))
    return " ".join(part for part in parts if part)


def qr_svg(text: str) -> Markup:
    """The QR code of `text` (level M or better at the same size, a 4-module quiet zone) as an
    inline SVG element sized by the stylesheet (about 12 ms: made on each render, not kept)."""
    code = qr_code(text)
    svg = code.svg_inline(border=4, omitsize=True, svgclass="qr", lineclass=None)
    return Markup(svg)  # noqa: S704 (made here from our own QR modules, no outside text)


def render_certificate_html(
    fields: dict[str, Any],
    qr: str,
    *,
    for_pdf: bool,
    static_url: str | None = None,
    pdf_url: str | None = None,
) -> str:
    """The certificate page: for the browser (its stylesheets under `static_url`, and the
    PDF's download link), or for WeasyPrint when `for_pdf`."""
    template = i18n.templates.env.get_template(TEMPLATE)
    return template.render(
        fields=fields,
        qr_svg=qr_svg(qr),
        for_pdf=for_pdf,
        static_url=static_url,
        pdf_url=pdf_url,
        certificate_date=certificate_date,
        person_name=person_name,
    )


# -- the PDF ------------------------------------------------------------------------------------


def render_certificate_pdf(fields: dict[str, Any], qr: str) -> bytes:
    """The certificate page laid out by WeasyPrint as an (unsigned) PDF."""
    import weasyprint  # imported on first use: it loads Pango and fontconfig

    html = render_certificate_html(fields, qr, for_pdf=True)
    pdf = weasyprint.HTML(string=html).write_pdf(
        stylesheets=[weasyprint.CSS(filename=str(STYLESHEET))],
        # Spelled out because the size depends on them: compressed streams, and only the glyphs
        # the page uses of each font (whole DejaVu fonts would make it 800 KB).
        uncompressed_pdf=False,
        full_fonts=False,
    )
    return bytes(pdf)


def _asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def pdf_signer(seal: Seal) -> signers.SimpleSigner:
    """pyHanko's signer for the seal: its key and certificate handed over as DER, with the
    chain to embed."""
    key_der = seal.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # pyhanko-certvalidator leaves from_certs unannotated.
    chain = SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
        [_asn1_certificate(certificate) for certificate in seal.chain]
    )
    return signers.SimpleSigner(
        signing_cert=_asn1_certificate(seal.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=chain,
    )


def sign_pdf(pdf: bytes, seal: Seal) -> bytes:
    """PAdES-B-B: the PDF signed by the registry seal in an incremental update, its chain
    embedded; no timestamp."""
    metadata = signers.PdfSignatureMetadata(
        field_name=PDF_SIGNATURE_FIELD,
        md_algorithm="sha256",
        subfilter=signature_fields.SigSeedSubFilter.PADES,
        reason="TEST birth certificate issued by the registry office",
        location="Kazakhstan (TEST)",
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    output = signers.PdfSigner(metadata, signer=pdf_signer(seal)).sign_pdf(writer)
    return bytes(output.getvalue())


def signed_certificate_pdf(fields: dict[str, Any], qr: str, seal: Seal) -> bytes:
    """The certificate PDF, rendered and signed PAdES-B-B by the seal."""
    return sign_pdf(render_certificate_pdf(fields, qr), seal)


# -- kept ---------------------------------------------------------------------------------------

_PDFS = CertificatePDF.__table__  # type: ignore[attr-defined]
# A PDF made by a concurrent first download of the same certificate wins; ours is dropped, and
# both downloads get the stored one.
_INSERT = {
    name: dialect.insert(_PDFS).on_conflict_do_nothing()
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


#: A PDF is kept compressed when that saves at least this share (its fonts and page content are
#: compressed streams already, but its signature, chain and cross-reference are not: 31.7 KB
#: keep 24.1 KB). PostgreSQL's own TOAST compression (pglz) leaves such a PDF as it is.
WORTH_DEFLATING = 0.1


def pack_pdf(pdf: bytes) -> tuple[bytes, bool]:
    """The bytes to store for a PDF, and whether they are zlib-compressed."""
    deflated = zlib.compress(pdf, 9)
    if len(deflated) <= (1 - WORTH_DEFLATING) * len(pdf):
        return deflated, True
    return pdf, False


def stored_pdf(session: Session, certificate_id: str) -> bytes | None:
    """The certificate's PDF as it was made (byte for byte), or None if it was never made."""
    statement = select(_PDFS.c.pdf, _PDFS.c.deflated).where(
        _PDFS.c.certificate_id == certificate_id
    )
    found = session.connection().execute(statement).first()
    if found is None:
        return None
    return zlib.decompress(found.pdf) if found.deflated else bytes(found.pdf)


def store_pdf(
    session: Session, certificate_id: str, pdf: bytes, *, moment: datetime | None = None
) -> bytes:
    """Keep the certificate's newly made PDF, unless one was stored meanwhile; the stored one."""
    connection = session.connection()
    packed, deflated = pack_pdf(pdf)
    connection.execute(
        _INSERT[connection.dialect.name],
        {
            "certificate_id": certificate_id,
            "pdf": packed,
            "deflated": deflated,
            "made_at": moment or now(),
        },
    )
    stored = stored_pdf(session, certificate_id)
    if stored is None:  # pragma: no cover - inserted just now, or by another transaction
        raise RuntimeError("the certificate's PDF was not stored")
    return stored


def certificate_pdf(
    session: Session, context: CertificateContext, certificate: BirthCertificate
) -> bytes:
    """The certificate's signed PDF: as stored, or made now and stored.

    Making a PDF takes most of a second, so the caller's transaction is committed before it
    starts (a transaction held open meanwhile would hold SQLite's write lock): call this with
    nothing else pending, as the download route does. The PDF is stored in a new transaction.
    """
    pdf = stored_pdf(session, certificate.id)
    if pdf is not None:
        return pdf
    certificate_id, fields, qr = certificate.id, json.loads(certificate.fields), certificate.qr
    session.commit()
    made = signed_certificate_pdf(fields, qr, context.seal)
    return store_pdf(session, certificate_id, made)
