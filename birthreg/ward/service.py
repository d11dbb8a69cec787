"""The ward's work: births, enrollments, the three key paths, revocation and mothers' progress.

Routes (the JSON API in `api.py`, the pages later) are thin: they call these functions with the
request session, a `WardContext` and the moment (`birthreg.models.now()`), and render what comes
back. The functions add and flush; the request session commits or rolls back. The one exception
is an enrollment code: the attempt is counted against the client's address in a transaction of
its own before the code is looked at (`birthreg.throttle.reserve`), so that neither a refusal's
rollback nor concurrent guesses lose a count.

Nothing here puts an IIN or a name in the audit trail or in an error detail: audit entries name
births, enrollments and certificates by their ids and serials.
"""

# The work lives in modules by subject (context, records, births, enrollments, redeem, keyfile,
# revocation); this module names it in one place for the routes, the demo and the other domains.

from birthreg.ward.births import (
    SAME_MOTHER_WINDOW,
    BirthView,
    EnrollmentState,
    EnrollmentView,
    advance_progress,
    earlier_births,
    enrollment_state,
    get_birth,
    list_births,
    note_certificate_issued,
    note_rejected,
    set_progress,
    ward_day,
)
from birthreg.ward.checks import MAX_ATTENDANT_LENGTH
from birthreg.ward.context import (
    WARD_TIME_ZONE,
    SignedRecord,
    WardContext,
    WardError,
    signed_medical_record,
    staff_facility,
    ward_context,
)
from birthreg.ward.enrollments import (
    ENROLLMENT_LIFETIME,
    LOOKUP_ATTEMPTS,
    ShownEnrollment,
    StartedEnrollment,
    facility_enrollment,
    renew_enrollment,
    show_enrollment,
    start_enrollment,
)
from birthreg.ward.keyfile import (
    MAX_KEY_FILE_PASSWORD,
    MIN_KEY_FILE_PASSWORD,
    KeyFile,
    issue_pkcs12,
)
from birthreg.ward.records import (
    medical_record_document,
    record_birth,
)
from birthreg.ward.redeem import (
    ENROLL_ADDRESS,
    IssuedKey,
    _identity,
    _issued,
    _mark_used,
    enroll,
)
from birthreg.ward.revocation import (
    HOLDER_REVOCATION_REASONS,
    REVOCATION_REQUEST_TYPE,
    REVOCATION_REQUEST_WINDOW,
    STAFF_REVOCATION_REASONS,
    Revocation,
    revoke_by_holder,
    revoke_by_staff,
)

__all__ = [
    "ENROLLMENT_LIFETIME",
    "ENROLL_ADDRESS",
    "HOLDER_REVOCATION_REASONS",
    "LOOKUP_ATTEMPTS",
    "MAX_ATTENDANT_LENGTH",
    "MAX_KEY_FILE_PASSWORD",
    "MIN_KEY_FILE_PASSWORD",
    "REVOCATION_REQUEST_TYPE",
    "REVOCATION_REQUEST_WINDOW",
    "SAME_MOTHER_WINDOW",
    "STAFF_REVOCATION_REASONS",
    "WARD_TIME_ZONE",
    "BirthView",
    "EnrollmentState",
    "EnrollmentView",
    "IssuedKey",
    "KeyFile",
    "Revocation",
    "ShownEnrollment",
    "SignedRecord",
    "StartedEnrollment",
    "WardContext",
    "WardError",
    "_identity",
    "_issued",
    "_mark_used",
    "advance_progress",
    "earlier_births",
    "enroll",
    "enrollment_state",
    "facility_enrollment",
    "get_birth",
    "issue_pkcs12",
    "list_births",
    "medical_record_document",
    "note_certificate_issued",
    "note_rejected",
    "record_birth",
    "renew_enrollment",
    "revoke_by_holder",
    "revoke_by_staff",
    "set_progress",
    "show_enrollment",
    "signed_medical_record",
    "staff_facility",
    "start_enrollment",
    "ward_context",
    "ward_day",
]
