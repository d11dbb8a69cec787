"""The ward's enrollment pages: starting one (every error in the father's form at once), its code
page (POST-redirect-GET: a reload shows the same code), a new code on purpose, the desk key file
and revocation (a reason and a confirmation, never one click)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from birthreg.auth import WardStaff
from birthreg.db import SessionDep
from birthreg.errors import DomainError
from birthreg.i18n import gettext
from birthreg.models import now
from birthreg.services import services
from birthreg.ward import checks, forms, service
from birthreg.ward.api import PKCS12_MEDIA_TYPE
from birthreg.ward.birth_view import render_birth
from birthreg.ward.schemas import FatherEnrollmentIn, MotherEnrollmentIn

router = APIRouter()


def _father_errors(form: dict[str, str], father: FatherEnrollmentIn) -> dict[str, str]:
    """Every problem in the father's form: too long, identity not checked, and the rules."""
    errors = {
        name: forms.message_for("too_long")
        for name in forms.FATHER_FIELDS
        if len(form.get(name, "")) > forms.MAX_TEXT
    }
    try:
        checks.person(father, "father", "M")
    except service.WardError as refusal:
        for problem in refusal.problems():
            field = forms.form_field(problem.field, "father_")
            if field is not None:
                errors.setdefault(field, forms.message_for(problem.code, problem.field))
    if form.get("id_checked") != "yes":
        errors["id_checked"] = forms.message_for("id_not_checked")
    return {name: errors[name] for name in (*forms.FATHER_FIELDS, "id_checked") if name in errors}


def _father(form: dict[str, str]) -> FatherEnrollmentIn:
    def text(name: str) -> str:
        return form.get(name, "")[: forms.MAX_TEXT].strip()

    return FatherEnrollmentIn(
        role="father",
        iin=text("father_iin"),
        surname=text("father_surname"),
        given_name=text("father_given_name"),
        patronymic=text("father_patronymic") or None,
    )


@router.post("/births/{birth_id}/enrollments", response_class=HTMLResponse)
def start_enrollment(
    request: Request, session: SessionDep, staff: WardStaff, birth_id: str, form: forms.FormFields
) -> Response:
    """Start an enrollment, then on to its code page (a reload there shows the same code)."""
    role = form.get("role", "")
    father_values = {name: form.get(name, "") for name in forms.FATHER_FIELDS}
    enrollment: MotherEnrollmentIn | FatherEnrollmentIn
    if role == "father":
        enrollment = _father(form)
        errors = _father_errors(form, enrollment)
        if errors:
            return render_birth(
                request,
                session,
                staff,
                birth_id,
                status_code=400,
                father_values=father_values,
                father_errors=errors,
            )
    elif role == "mother":
        enrollment = MotherEnrollmentIn(role="mother")
    else:
        return render_birth(
            request,
            session,
            staff,
            birth_id,
            status_code=400,
            flashes=[("error", gettext("Choose whom to enroll."))],
        )
    try:
        started = service.start_enrollment(
            session,
            service.ward_context(services(request)),
            staff=staff,
            birth_id=birth_id,
            request=enrollment,
            moment=now(),
        )
    except service.WardError as error:
        session.rollback()
        return render_birth(
            request,
            session,
            staff,
            birth_id,
            status_code=error.status,
            flashes=[("error", forms.message_for(error.code, error.field))],
        )
    return RedirectResponse(f"/ward/enrollments/{started.enrollment.id}", status_code=303)


@router.get("/enrollments/{enrollment_id}", response_class=HTMLResponse)
def enrollment_page(
    request: Request, session: SessionDep, staff: WardStaff, enrollment_id: str
) -> Response:
    """An enrollment's code and QR code while it can be used; its state afterwards."""
    shown = service.show_enrollment(
        session,
        service.ward_context(services(request)),
        staff=staff,
        enrollment_id=enrollment_id,
        moment=now(),
    )
    enrollment, started = shown.enrollment, shown.started
    return forms.render(
        request,
        "ward/enrollment.html",
        {
            "birth_id": enrollment.birth_id,
            "enrollment_id": enrollment.id,
            "role": enrollment.role,
            "state": shown.state,
            "code": started.code.canonical if started else None,
            "expires_at": enrollment.expires_at,
            "url": started.url if started else None,
            "qr_svg": started.qr_svg if started else None,
            "minutes": int(service.ENROLLMENT_LIFETIME.total_seconds() // 60),
            "errors": {},
        },
        headers=forms.NO_STORE,
    )


@router.post("/enrollments/{enrollment_id}/renew", response_class=HTMLResponse)
def renew_enrollment(
    request: Request, session: SessionDep, staff: WardStaff, enrollment_id: str
) -> Response:
    """A new code for the same person; the earlier one stops working."""
    started = service.renew_enrollment(
        session,
        service.ward_context(services(request)),
        staff=staff,
        enrollment_id=enrollment_id,
        moment=now(),
    )
    return RedirectResponse(f"/ward/enrollments/{started.enrollment.id}", status_code=303)


# -- the desk key file --------------------------------------------------------------------------


@router.post("/enrollments/{enrollment_id}/pkcs12", response_class=HTMLResponse)
def issue_pkcs12(
    request: Request,
    session: SessionDep,
    staff: WardStaff,
    enrollment_id: str,
    form: forms.FormFields,
) -> Response:
    """Make the key at the desk and hand it over once as a PKCS#12 file (no copy is kept)."""
    password = form.get("password", "")
    repeat = form.get("password_repeat", "")
    birth_id = form.get("birth_id", "")
    birth_id = birth_id if forms.UUID.match(birth_id) else ""

    def refused(status: int, errors: dict[str, str], flashes: list[tuple[str, str]]) -> Response:
        return forms.render(
            request,
            "ward/pkcs12.html",
            {
                "enrollment_id": enrollment_id,
                "birth_id": birth_id,
                "errors": errors,
                "flashes": flashes,
            },
            status_code=status,
            headers=forms.NO_STORE,
        )

    if len(password) < service.MIN_KEY_FILE_PASSWORD:
        return refused(400, {"password": forms.message_for("weak_password")}, [])
    if password != repeat:
        return refused(400, {"password_repeat": forms.message_for("password_mismatch")}, [])
    try:
        key_file = service.issue_pkcs12(
            session,
            service.ward_context(services(request)),
            staff=staff,
            enrollment_id=enrollment_id,
            password=password,
            moment=now(),
        )
    except DomainError as error:
        session.rollback()
        field = getattr(error, "field", None)
        message = forms.message_for(error.code, field)
        if field == "password":
            return refused(error.status, {"password": message}, [])
        return refused(error.status, {}, [("error", message)])
    return Response(
        key_file.data,
        200,
        media_type=PKCS12_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{key_file.filename}"',
            **forms.NO_STORE,
        },
    )


# -- revocation ---------------------------------------------------------------------------------


@router.post("/certificates/{serial}/revoke", response_class=HTMLResponse)
def revoke_certificate(
    request: Request, session: SessionDep, staff: WardStaff, serial: str, form: forms.FormFields
) -> Response:
    """Revoke a certificate this ward issued, once a reason is chosen and the consequence
    confirmed; back to the birth's page, whose badges say so at once."""
    birth_id = form.get("birth_id", "")
    birth_id = birth_id if forms.UUID.match(birth_id) else ""
    reason = form.get("reason", "")
    errors: dict[str, str] = {}
    if reason not in forms.REVOCATION_REASONS:
        errors["reason"] = forms.message_for("invalid_reason")
    if form.get("confirm") != "yes":
        errors["confirm"] = forms.message_for("revocation_not_confirmed")
    try:
        if errors:
            raise service.WardError("invalid_reason", "choose a reason and confirm", 400)
        service.revoke_by_staff(session, staff=staff, serial=serial, reason=reason, moment=now())
    except DomainError as error:
        session.rollback()
        if not birth_id:
            raise
        return render_birth(
            request,
            session,
            staff,
            birth_id,
            status_code=error.status,
            flashes=[] if errors else [("error", forms.message_for(error.code))],
            revoke_errors={f"{serial}-{name}": message for name, message in errors.items()},
            revoke_values={serial: reason},
        )
    target = f"/ward/births/{birth_id}" if birth_id else "/ward"
    return RedirectResponse(f"{target}?flash=revoked", status_code=303)
