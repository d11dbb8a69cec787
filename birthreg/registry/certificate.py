# pyHanko's PDF objects and writers are untyped.
# mypy: disable-error-code="no-untyped-call"
"""The birth certificate: its fields, the sealed QR code, the printable page and the signed PDF.

A certificate is issued inside the registration's transaction, which stores only its fields and
QR text (`certificate_values`: a few hundred microseconds, one ECDSA signature; registration
inserts them itself, `issue_certificate` is the ORM form for other callers). The PDF is made on its
first download and kept in `BirthCertificate.pdf`: rendering is far too slow for the
registration transaction, and a certificate never changes once issued (a correction supersedes
it with a new one).

The PDF comes from the same Jinja2 template as the printable page (WeasyPrint), and is signed
PAdES-B-B by the registry office's seal with pyHanko, so that a PDF reader shows a valid
signature from the TEST chain.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path as FilePath
from typing import Annotated, Any, Protocol
from zoneinfo import ZoneInfo

import qrcode
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup
from qrcode.image.svg import SvgPathImage
from sqlmodel import Session, col, select

from birthreg import i18n
from birthreg.config import Settings
from birthreg.db import PACKAGE_DIR, SessionDep
from birthreg.errors import DomainError, NotFound, ServiceNotInitialised
from birthreg.models import (
    BirthCertificate,
    CertificateStatus,
    RegistryOffice,
    now,
)
from birthreg.pki.seals import Seal, load_seal
from birthreg.pki.service import certification_authority
from signing.canonical import canonicalize
from signing.seal import make_seal, qr_text

#: Where the dates on a certificate are taken: the registry's own time zone (UTC+5).
LOCAL_TIME_ZONE = ZoneInfo("Asia/Almaty")
#: The TEST series of certificate numbers: real series are a Roman numeral and a region code
#: ("I-ВКО"); this one says TEST so that no number can pass for a real one.
CERTIFICATE_SERIES = "TEST-I"


@dataclass(frozen=True)
class SealingOffice:
    """The registry office that issues certificates (plain data, safe outside a session)."""

    id: int
    code: str
    bin: str
    name: str


@dataclass(frozen=True)
class CertificateContext:
    """What issuing and rendering need besides the database: settings, the registry seal, the
    office it belongs to, and the public base URL written into QR codes."""

    settings: Settings
    seal: Seal
    office: SealingOffice
    base_url: str


_context_lock = threading.Lock()


def certificate_context(app: Any, session: Session) -> CertificateContext:
    """The app's context (the first registry office that `birthreg init` made, its seal),
    loaded once and kept on `app.state`."""
    context: CertificateContext | None = getattr(app.state, "certificate_context", None)
    if context is not None:
        return context
    with _context_lock:
        context = getattr(app.state, "certificate_context", None)
        if context is None:
            settings: Settings = app.state.settings
            context = load_certificate_context(settings, session, certification_authority(app))
            app.state.certificate_context = context
    return context


def load_certificate_context(settings: Settings, session: Session, ca: Any) -> CertificateContext:
    """The context from settings and a CA, outside an app (CLI, benchmarks, tests)."""
    row = session.exec(select(RegistryOffice).order_by(col(RegistryOffice.id))).first()
    if row is None or row.id is None:
        raise ServiceNotInitialised("no registry office yet: run `birthreg init`")
    office = SealingOffice(id=row.id, code=row.code, bin=row.bin, name=row.name)
    seal = load_seal(settings, "registry", office.bin, (*ca.chain, ca.root_certificate))
    return CertificateContext(settings, seal, office, settings.base_url.rstrip("/"))


# -- issuing ------------------------------------------------------------------------------------


class RegistrationFields(Protocol):
    """What a certificate is made from: a `Registration` row, or `service.Registered` (the
    values of a registration inserted in this transaction, without an ORM object)."""

    @property
    def id(self) -> int | None: ...
    @property
    def registry_office_id(self) -> int: ...
    @property
    def year(self) -> int: ...
    @property
    def act_record_number(self) -> int: ...
    @property
    def child_iin(self) -> str: ...
    @property
    def registered_at(self) -> datetime: ...


class DossierText(Protocol):
    """A `Submission`, or the few columns of one that registration reads."""

    @property
    def dossier(self) -> str: ...


def certificate_number(registration: RegistrationFields) -> str:
    """"TEST-I № 000123": the series and the registration's number (unique across offices)."""
    return f"{CERTIFICATE_SERIES} № {registration.id:06d}"


def _local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TIME_ZONE).date()


def _person(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "surname": document["surname"],
        "given_name": document["given_name"],
        "patronymic": document.get("patronymic") or None,
        # No document carries nationality yet; the certificate shows it only when given.
        "nationality": document.get("nationality") or None,
    }


def certificate_fields(
    context: CertificateContext,
    registration: RegistrationFields,
    submission: DossierText,
    *,
    number: str,
    issued_at: datetime,
) -> dict[str, Any]:
    """The certificate's fields, as on a Kazakh birth certificate, from the verified dossier."""
    dossier = json.loads(submission.dossier)
    record = dossier["medical_record"]["document"]
    application = dossier["application"]["document"]
    # The date in the record's own offset: the local date where the child was born.
    born_at = datetime.fromisoformat(record["child"]["born_at"])
    father = application.get("father")
    child = application["child"]
    return {
        "certificate_number": number,
        "child": {
            "surname": child["surname"],
            "given_name": child["given_name"],
            "patronymic": child.get("patronymic") or None,
            "date_of_birth": born_at.date().isoformat(),
            "place_of_birth": record["facility"]["name"],
            "sex": record["child"]["sex"],
            "iin": registration.child_iin,
        },
        "mother": _person(record["mother"]),
        "father": _person(father) if father else None,
        "act_record": {
            "number": registration.act_record_number,
            "year": registration.year,
            "date": _local_date(registration.registered_at).isoformat(),
        },
        "registry_office": {
            "code": context.office.code,
            "bin": context.office.bin,
            "name": context.office.name,
        },
        "issued_at": issued_at.isoformat(),
    }


def seal_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The key fields that the QR seal carries (see signing.seal.FIELD_KEYS)."""
    child = fields["child"]
    return {
        "certificate_number": fields["certificate_number"],
        "child_iin": child["iin"],
        "child_surname": child["surname"],
        "child_given_name": child["given_name"],
        "child_patronymic": child["patronymic"],
        "date_of_birth": date.fromisoformat(child["date_of_birth"]),
        "sex": child["sex"],
        "act_record_number": fields["act_record"]["number"],
        "act_record_date": date.fromisoformat(fields["act_record"]["date"]),
        "registry_office_code": fields["registry_office"]["code"],
        "issued_on": _local_date(datetime.fromisoformat(fields["issued_at"])),
    }


def certificate_values(
    context: CertificateContext,
    registration: RegistrationFields,
    submission: DossierText,
    *,
    moment: datetime | None = None,
) -> dict[str, Any]:
    """The columns of the registration's new certificate: its fields (canonical JSON) and the
    sealed QR text (one ECDSA signature), under a new unguessable id."""
    if registration.id is None:
        raise ValueError("the registration must be flushed first (it has no id)")
    if registration.registry_office_id != context.office.id:
        raise DomainError(
            "wrong_registry_office",
            "the registration belongs to another registry office than the sealing one",
            500,
        )
    issued_at = (moment or now()).replace(microsecond=0)
    number = certificate_number(registration)
    fields = certificate_fields(
        context, registration, submission, number=number, issued_at=issued_at
    )
    seal = make_seal(seal_fields(fields), context.seal.key, context.seal.certificate)
    return {
        "id": secrets.token_urlsafe(24),
        "registration_id": registration.id,
        "certificate_number": number,
        "fields": canonicalize(fields).decode("utf-8"),
        "qr": qr_text(context.base_url, seal),
        "status": CertificateStatus.VALID.value,
        "issued_at": issued_at,
    }


def issue_certificate(
    session: Session,
    context: CertificateContext | Any,
    registration: RegistrationFields,
    submission: DossierText,
    *,
    moment: datetime | None = None,
) -> BirthCertificate:
    """Issue the registration's certificate in the caller's transaction: the fields (canonical
    JSON) and the sealed QR text. The PDF is not made here (see `certificate_pdf_bytes`).

    `context` is a CertificateContext, or the app (its context is then loaded once). Issuing
    again for the same registration returns the certificate already issued. (Registration,
    which has just made the registration, inserts `certificate_values` itself.)
    """
    if not isinstance(context, CertificateContext):
        context = certificate_context(context, session)
    existing = session.exec(
        select(BirthCertificate).where(BirthCertificate.registration_id == registration.id)
    ).first()
    if existing is not None:
        return existing
    certificate = BirthCertificate(
        **certificate_values(context, registration, submission, moment=moment)
    )
    session.add(certificate)
    session.flush()
    return certificate


# -- reading and rendering ----------------------------------------------------------------------


def _not_found() -> NotFound:
    return NotFound("certificate_not_found", "no certificate with that id")


def get_certificate(session: Session, certificate_id: str) -> BirthCertificate:
    """The certificate with that id (a primary-key lookup), or 404 certificate_not_found."""
    if not 16 <= len(certificate_id) <= 64:
        raise _not_found()
    certificate = session.get(BirthCertificate, certificate_id)
    if certificate is None:
        raise _not_found()
    return certificate


def public_certificate(certificate: BirthCertificate) -> dict[str, Any]:
    """What the holder sees: the fields, the QR text and the status."""
    return {
        "id": certificate.id,
        "certificate_number": certificate.certificate_number,
        "status": certificate.status,
        "issued_at": certificate.issued_at.isoformat(),
        "fields": json.loads(certificate.fields),
        "qr": certificate.qr,
    }


def certificate_pdf_bytes(
    session: Session, context: CertificateContext, certificate: BirthCertificate
) -> bytes:
    """The signed PDF: made on first request and kept with the certificate."""
    if certificate.pdf is None:
        pdf = signed_certificate_pdf(
            json.loads(certificate.fields), certificate.qr, context.seal
        )
        certificate.pdf = pdf
        session.add(certificate)
        session.flush()
        return pdf
    return certificate.pdf


# -- the printable page and the PDF ---------------------------------------------------------------

TEMPLATE = "certificate/certificate.html"
STYLESHEET = PACKAGE_DIR / "static" / "certificate.css"
PDF_SIGNATURE_FIELD = "RegistrySeal"


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


@lru_cache(maxsize=256)
def qr_svg(text: str) -> Markup:
    """The QR code of `text` (level M) as an inline SVG element, kept once made."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=4,
        image_factory=SvgPathImage,
    )
    code.add_data(text)
    code.make(fit=True)
    svg = code.make_image().to_string(encoding="unicode")
    # The XML declaration is not allowed inside HTML.
    svg = svg[svg.index("<svg") :]
    return Markup(svg)  # noqa: S704 (made here from our own QR modules, no outside text)


def render_certificate_html(
    fields: dict[str, Any],
    qr: str,
    *,
    for_pdf: bool,
    frame: bool = False,
    stylesheet_url: str | None = None,
    pdf_url: str | None = None,
) -> str:
    """The certificate page (for the browser, or for WeasyPrint when `for_pdf`); `frame`
    leaves the values and the QR code out (see `_Frame`)."""
    template = i18n.templates.env.get_template(TEMPLATE)
    return template.render(
        fields=fields,
        qr_svg="" if frame else qr_svg(qr),
        for_pdf=for_pdf,
        frame=frame,
        stylesheet_url=stylesheet_url,
        pdf_url=pdf_url,
        certificate_date=certificate_date,
        person_name=person_name,
    )


@lru_cache(maxsize=1)
def _stylesheet() -> Any:
    import weasyprint

    return weasyprint.CSS(filename=str(STYLESHEET))


def render_certificate_pdf_weasyprint(fields: dict[str, Any], qr: str) -> bytes:
    """The whole certificate rendered by WeasyPrint, values and all (unsigned). About 200 ms
    or more a page: kept for comparison (bench/pdf.py); the service uses `render_certificate_pdf`.
    """
    import weasyprint

    html = render_certificate_html(fields, qr, for_pdf=True)
    return bytes(weasyprint.HTML(string=html).write_pdf(stylesheets=[_stylesheet()]))


# WeasyPrint lays a page out in about 200 ms (more on a busy machine), far from the 150 ms a
# signed certificate may take. The form never changes, only its values do; so WeasyPrint renders
# the frame (every label, border and mark, values left empty) once per process, and the boxes
# where values go are read from its layout (`data-field` in the template). Each certificate's
# values are then set in those boxes with one embedded font (DejaVu Sans Bold, subset once to
# the letters a certificate may hold) and its QR code drawn as rectangles, in an incremental
# update that the PAdES signature then covers. The text layer stays real text (ToUnicode), so
# the PDF can be searched and read aloud.

PX_TO_PT = 0.75  # CSS pixels (1/96 in) to PDF points (1/72 in)
VALUE_FONT_NAME = "BRValue"
VALUE_FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
)
#: What the value font keeps: Basic Latin, Latin-1, Cyrillic (with every Kazakh letter),
#: general punctuation (dashes, quotes) and №.
VALUE_FONT_RANGES = ((0x20, 0x7E), (0xA0, 0xFF), (0x400, 0x4FF), (0x2010, 0x2027), (0x2116, 0x2116))
VALUE_SIZES = (9.0, 8.5, 8.0, 7.5, 7.0, 6.5, 6.0, 5.5, 5.0, 4.5)
NUMBER_SIZES = (11.0, 10.0, 9.0, 8.0)
LINE_HEIGHT = 1.15
VALUE_GREY = "0.067"  # #111, as the stylesheet's text colour


@dataclass(frozen=True)
class _Box:
    """A value's box on the page, in PDF points, measured from the page's top-left corner."""

    x: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class _ValueFont:
    """The embedded font for values: glyph ids, advance widths (1/1000 em), ascent (em)."""

    glyphs: dict[str, int]
    widths: dict[int, int]
    ascent: float
    font_file: bytes
    bbox: tuple[int, int, int, int]
    descent: int
    cap_height: int

    def glyph(self, char: str) -> int:
        return self.glyphs.get(char, self.glyphs["?"])

    def width(self, text: str, size: float) -> float:
        return sum(self.widths.get(self.glyph(c), 600) for c in text) * size / 1000


@lru_cache(maxsize=1)
def _value_font() -> _ValueFont:
    import logging

    from fontTools import subset
    from fontTools.ttLib import TTFont

    # The subsetter logs a warning for each table it drops (FFTM and the like): not news.
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)

    path = next((p for p in VALUE_FONT_FILES if FilePath(p).is_file()), None)
    if path is None:
        raise ServiceNotInitialised(
            "the DejaVu Sans Bold font is missing (apt-get install fonts-dejavu-core)"
        )
    font = TTFont(path)
    options = subset.Options()
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.layout_features = []
    subsetter = subset.Subsetter(options)
    subsetter.populate(
        unicodes=[c for low, high in VALUE_FONT_RANGES for c in range(low, high + 1)]
    )
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    units = font["head"].unitsPerEm
    scale = 1000 / units
    cmap = font.getBestCmap()
    glyph_order = {name: gid for gid, name in enumerate(font.getGlyphOrder())}
    glyphs = {chr(code): glyph_order[name] for code, name in cmap.items()}
    hmtx = font["hmtx"]
    widths = {
        gid: round(hmtx[name][0] * scale) for name, gid in glyph_order.items()
    }
    head = font["head"]
    os2 = font["OS/2"]
    return _ValueFont(
        glyphs=glyphs,
        widths=widths,
        ascent=font["hhea"].ascent / units,
        font_file=buffer.getvalue(),
        bbox=(
            round(head.xMin * scale), round(head.yMin * scale),
            round(head.xMax * scale), round(head.yMax * scale),
        ),
        descent=round(font["hhea"].descent * scale),
        cap_height=round(getattr(os2, "sCapHeight", 729) * scale),
    )


def _font_resources(writer: Any, font: _ValueFont) -> Any:
    """The Type0 font (Identity-H, embedded TrueType subset, ToUnicode) as page resources."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name

    base_font = pdf_name("/BRVAAA+DejaVuSans-Bold")
    font_file = generic.StreamObject(
        {pdf_name("/Length1"): generic.NumberObject(len(font.font_file))},
        stream_data=font.font_file,
    )
    font_file.compress()
    descriptor = generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/FontDescriptor"),
        pdf_name("/FontName"): base_font,
        pdf_name("/Flags"): generic.NumberObject(32),
        pdf_name("/FontBBox"): generic.ArrayObject(generic.NumberObject(v) for v in font.bbox),
        pdf_name("/ItalicAngle"): generic.NumberObject(0),
        pdf_name("/Ascent"): generic.NumberObject(round(font.ascent * 1000)),
        pdf_name("/Descent"): generic.NumberObject(font.descent),
        pdf_name("/CapHeight"): generic.NumberObject(font.cap_height),
        pdf_name("/StemV"): generic.NumberObject(120),
        pdf_name("/FontFile2"): writer.add_object(font_file),
    })
    widths = generic.ArrayObject()
    for gid in sorted(font.widths):
        widths.append(generic.NumberObject(gid))
        widths.append(generic.ArrayObject([generic.NumberObject(font.widths[gid])]))
    cid_font = generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"),
        pdf_name("/Subtype"): pdf_name("/CIDFontType2"),
        pdf_name("/BaseFont"): base_font,
        pdf_name("/CIDSystemInfo"): generic.DictionaryObject({
            pdf_name("/Registry"): generic.pdf_string("Adobe"),
            pdf_name("/Ordering"): generic.pdf_string("Identity"),
            pdf_name("/Supplement"): generic.NumberObject(0),
        }),
        pdf_name("/FontDescriptor"): writer.add_object(descriptor),
        pdf_name("/W"): widths,
        pdf_name("/CIDToGIDMap"): pdf_name("/Identity"),
    })
    to_unicode = generic.StreamObject(stream_data=_to_unicode_cmap(font))
    to_unicode.compress()
    type0 = generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"),
        pdf_name("/Subtype"): pdf_name("/Type0"),
        pdf_name("/BaseFont"): base_font,
        pdf_name("/Encoding"): pdf_name("/Identity-H"),
        pdf_name("/DescendantFonts"): generic.ArrayObject([writer.add_object(cid_font)]),
        pdf_name("/ToUnicode"): writer.add_object(to_unicode),
    })
    return generic.DictionaryObject({
        pdf_name("/Font"): generic.DictionaryObject({
            pdf_name("/" + VALUE_FONT_NAME): writer.add_object(type0)
        })
    })


def _to_unicode_cmap(font: _ValueFont) -> bytes:
    pairs = sorted((gid, char) for char, gid in font.glyphs.items())
    lines = [
        "/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
        "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange",
    ]
    # A glyph drawn for several characters (rare) maps back to the first of them.
    unique = list({gid: (gid, char) for gid, char in reversed(pairs)}.values())
    unique.sort()
    for start in range(0, len(unique), 100):
        chunk = unique[start : start + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines += [f"<{gid:04X}> <{ord(char):04X}>" for gid, char in chunk]
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")


@dataclass(frozen=True)
class _Frame:
    """The certificate without its values: a PDF (with the value font already in its page
    resources) and where each value goes."""

    pdf: bytes
    page_height: float
    boxes: dict[str, _Box]


def _frame_skeleton(father: bool, father_nationality: bool, mother_nationality: bool) -> dict[
    str, Any
]:
    person = {"surname": "", "given_name": "", "patronymic": None, "nationality": None}
    return {
        "certificate_number": "",
        "child": {"sex": "F"},
        "mother": {**person, "nationality": "x" if mother_nationality else None},
        "father": {**person, "nationality": "x" if father_nationality else None}
        if father
        else None,
        "act_record": {},
        "registry_office": {},
    }


_frame_lock = threading.Lock()


def _frame_key(fields: dict[str, Any]) -> tuple[bool, bool, bool]:
    father = fields.get("father")
    return (
        bool(father),
        bool(father and father.get("nationality")),
        bool(fields["mother"].get("nationality")),
    )


def _frame(key: tuple[bool, bool, bool]) -> _Frame:
    # A lock, so that concurrent first downloads lay the frame out once, not once each.
    with _frame_lock:
        return _build_frame(key)


@lru_cache(maxsize=8)
def _build_frame(key: tuple[bool, bool, bool]) -> _Frame:
    import weasyprint
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    html = render_certificate_html(_frame_skeleton(*key), "", for_pdf=True, frame=True)
    document = weasyprint.HTML(string=html).render(stylesheets=[_stylesheet()])
    page = document.pages[0]
    boxes: dict[str, _Box] = {}
    for box in page._page_box.descendants():
        element = getattr(box, "element", None)
        name = element.get("data-field") if element is not None else None
        if name and name not in boxes:
            boxes[name] = _Box(
                x=box.content_box_x() * PX_TO_PT,
                top=box.content_box_y() * PX_TO_PT,
                width=box.width * PX_TO_PT,
                height=box.height * PX_TO_PT,
            )
    writer = IncrementalPdfFileWriter(io.BytesIO(document.write_pdf()))
    # WeasyPrint's page leaves its own coordinate transformation in force: wrap it in q ... Q
    # so that the values are drawn in the page's default space.
    writer.add_stream_to_page(0, writer.add_object(_content_stream(b"q")), prepend=True)
    writer.add_stream_to_page(
        0,
        writer.add_object(_content_stream(b"Q")),
        resources=_font_resources(writer, _value_font()),
    )
    output = io.BytesIO()
    writer.write(output)
    return _Frame(output.getvalue(), page.height * PX_TO_PT, boxes)


def _content_stream(data: bytes) -> Any:
    from pyhanko.pdf_utils import generic

    stream = generic.StreamObject(stream_data=data)
    stream.compress()
    return stream


def _wrap(text: str, font: _ValueFont, size: float, width: float) -> list[str]:
    """Greedy line breaking at spaces and after hyphens; a word too long breaks anywhere."""
    words = [w for w in re.split(r"(?<=[ -])", text) if w]
    lines: list[str] = []
    line = ""
    for word in words:
        candidate = line + word
        if font.width(candidate.rstrip(), size) <= width or not line:
            line = candidate
        else:
            lines.append(line.rstrip())
            line = word
        while font.width(line.rstrip(), size) > width and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and font.width(line[:cut], size) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _set_text(
    out: list[str], font: _ValueFont, text: str, box: _Box, page_height: float, *,
    sizes: tuple[float, ...] = VALUE_SIZES, centre: bool = False,
) -> None:
    """Draw text in a box: the largest size at which it fits, on as many lines as it needs."""
    lines = [text]
    size = sizes[-1]
    for candidate in sizes:
        wrapped = _wrap(text, font, candidate, box.width)
        if len(wrapped) * candidate * LINE_HEIGHT <= box.height + 0.5 or candidate == sizes[-1]:
            lines, size = wrapped, candidate
            break
    out.append(f"BT /{VALUE_FONT_NAME} {size:g} Tf")
    for index, line in enumerate(lines):
        baseline = box.top + (index * LINE_HEIGHT + font.ascent) * size
        x = box.x + ((box.width - font.width(line, size)) / 2 if centre else 0)
        glyphs = "".join(f"{font.glyph(c):04X}" for c in line)
        out.append(f"1 0 0 1 {x:.2f} {page_height - baseline:.2f} Tm <{glyphs}> Tj")
    out.append("ET")


def _draw_qr(out: list[str], text: str, box: _Box, page_height: float) -> None:
    """The QR code (level M, 4-module quiet zone) as filled rectangles, a run per row."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(text)
    code.make(fit=True)
    matrix = code.get_matrix()
    count = len(matrix)
    side = min(box.width, box.height)
    module = side / (count + 8)
    origin_x = box.x + 4 * module
    origin_top = box.top + 4 * module
    out.append("0 g")
    for row, modules in enumerate(matrix):
        y = page_height - (origin_top + (row + 1) * module)
        column = 0
        while column < count:
            if not modules[column]:
                column += 1
                continue
            start = column
            while column < count and modules[column]:
                column += 1
            out.append(
                f"{origin_x + start * module:.3f} {y:.3f} {(column - start) * module:.3f} "
                f"{module:.3f} re"
            )
    out.append("f")


def _sex_text(sex: str) -> str:
    message = "female" if sex == "F" else "male"
    return f"{i18n.gettext_in('kk', message)} / {i18n.gettext_in('ru', message)}"


def _values(fields: dict[str, Any]) -> dict[str, str]:
    child = fields["child"]
    father = fields.get("father")
    values = {
        "certificate_number": fields["certificate_number"],
        "child_surname": child["surname"],
        "child_given_name": child["given_name"],
        "child_patronymic": child.get("patronymic") or "—",
        "date_of_birth": certificate_date(child["date_of_birth"]),
        "place_of_birth": child["place_of_birth"],
        "sex": _sex_text(child["sex"]),
        "child_iin": child["iin"],
        "father": person_name(father) or "—",
        "mother": person_name(fields["mother"]),
        "act_record_number": str(fields["act_record"]["number"]),
        "act_record_date": certificate_date(fields["act_record"]["date"]),
        "registry_office": fields["registry_office"]["name"],
        "issued_at": certificate_date(fields["issued_at"]),
    }
    if father and father.get("nationality"):
        values["father_nationality"] = father["nationality"]
    if fields["mother"].get("nationality"):
        values["mother_nationality"] = fields["mother"]["nationality"]
    return values


def render_certificate_pdf(fields: dict[str, Any], qr: str) -> Any:
    """The certificate as an unsigned incremental update over the cached frame: a pyHanko
    writer, ready for `sign_pdf` (or `write`)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    frame = _frame(_frame_key(fields))
    font = _value_font()
    out = ["q", f"{VALUE_GREY} g"]
    for name, value in _values(fields).items():
        box = frame.boxes[name]
        if name == "certificate_number":
            _set_text(out, font, value, box, frame.page_height, sizes=NUMBER_SIZES, centre=True)
        else:
            _set_text(out, font, value, box, frame.page_height)
    _draw_qr(out, qr, frame.boxes["qr"], frame.page_height)
    out.append("Q")
    writer = IncrementalPdfFileWriter(io.BytesIO(frame.pdf))
    writer.add_stream_to_page(
        0, writer.add_object(_content_stream("\n".join(out).encode("ascii")))
    )
    return writer


def _pdf_signer(seal: Seal) -> Any:
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    def as_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(
            certificate.public_bytes(serialization.Encoding.DER)
        )

    key_der = seal.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return signers.SimpleSigner(
        signing_cert=as_asn1(seal.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs([as_asn1(c) for c in seal.chain]),
    )


_signers: dict[bytes, Any] = {}


def sign_pdf(pdf: bytes | Any, seal: Seal) -> bytes:
    """PAdES-B-B: the PDF (bytes, or a pyHanko incremental writer with pending changes) signed
    by the registry seal, its chain embedded; no timestamp."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields as sig_fields
    from pyhanko.sign import signers

    fingerprint = seal.certificate.fingerprint(hashes.SHA256())
    signer = _signers.get(fingerprint)
    if signer is None:
        signer = _signers[fingerprint] = _pdf_signer(seal)
    metadata = signers.PdfSignatureMetadata(
        field_name=PDF_SIGNATURE_FIELD,
        md_algorithm="sha256",
        subfilter=sig_fields.SigSeedSubFilter.PADES,
        reason="TEST birth certificate issued by the registry office",
        location="Kazakhstan (TEST)",
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf)) if isinstance(pdf, bytes) else pdf
    output = signers.sign_pdf(writer, metadata, signer=signer)
    return bytes(output.getvalue())


def signed_certificate_pdf(fields: dict[str, Any], qr: str, seal: Seal) -> bytes:
    """The certificate PDF, rendered and signed PAdES-B-B by the seal."""
    return sign_pdf(render_certificate_pdf(fields, qr), seal)


# -- routes -------------------------------------------------------------------------------------

router = APIRouter(tags=["registry"])

CertificateId = Annotated[str, Path(min_length=1, max_length=80)]


@router.get("/api/v1/registry/certificates/{certificate_id}.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def certificate_pdf_route(
    request: Request, session: SessionDep, certificate_id: CertificateId
) -> Response:
    """The certificate as a PDF signed PAdES by the registry seal (holder: anyone with the id)."""
    certificate = get_certificate(session, certificate_id)
    context = certificate_context(request.app, session)
    pdf = certificate_pdf_bytes(session, context, certificate)
    filename = "birth-certificate-TEST-" + certificate.certificate_number.rsplit(" ", 1)[-1]
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/api/v1/registry/certificates/{certificate_id}")
def certificate_json(session: SessionDep, certificate_id: CertificateId) -> JSONResponse:
    """The certificate's fields, QR text and status (holder: anyone with the unguessable id)."""
    certificate = get_certificate(session, certificate_id)
    return JSONResponse(
        public_certificate(certificate), headers={"Cache-Control": "private, no-store"}
    )


@router.get("/registry/certificates/{certificate_id}/print", response_class=HTMLResponse,
            include_in_schema=False)
def certificate_print(
    request: Request, session: SessionDep, certificate_id: CertificateId
) -> Response:
    """The printable certificate (the same template as the PDF)."""
    certificate = get_certificate(session, certificate_id)
    html = render_certificate_html(
        json.loads(certificate.fields),
        certificate.qr,
        for_pdf=False,
        stylesheet_url=str(request.url_for("static", path="certificate.css")),
        pdf_url=f"/api/v1/registry/certificates/{certificate.id}.pdf",
    )
    return HTMLResponse(html, headers={"Cache-Control": "private, no-store"})
