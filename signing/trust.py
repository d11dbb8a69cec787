"""Is the signer of an intact signature trusted at a moment? Path, constraints, revocation.

Paths are cryptography's verifier, called plainly for every signature: a `Store` of the
configured roots only (a certificate in a Store is a trust anchor: a leaf there would vouch for
itself), the signature's certificates and the configured intermediates as candidates. Before the
path, the signer's own certificate gets named checks (CA or not, key strength, which the
verifier leaves to us for leaves, key usage, policy, identity): the report says which failed.

Freshness (DESIGN.md, "Revocation is fresh"): the signer's certificate is judged only on
revocation information issued (thisUpdate, in whole seconds) after the signing time it claims
(or the moment of validation, when it claims none or a later one; or a later `fresh_since`).
When nothing newer can be had, the verdict is INDETERMINATE / TRY_LATER. A thief with a
compromised key may claim a time before its revocation: newer information still says "revoked"
(REVOKED_NO_POE), but a "good" answer kept from before the revocation passes while current; a
caller that must close that window (registration) passes its moment as `fresh_since`. OCSP is
the fresh path (the ward answers with thisUpdate the moment it is asked); the CRL the fallback.
CA certificates below the root are judged on information current at the moment: revoking a CA
is not a race against a signature.

The verdict follows ETSI EN 319 102-1: a signature claimed after its certificate expired or was
revoked is TOTAL_FAILED; one claimed before has no proof of existence before the event, so it is
INDETERMINATE (OUT_OF_BOUNDS_NO_POE / REVOKED_NO_POE). Nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from signing.ca.profiles import POLICY_TEST_INDIVIDUAL_SIGNING, POLICY_TEST_ORGANISATION_SEAL
from signing.errors import WeakKey
from signing.identity import signer_bin, signer_iin
from signing.keys import check_key_strength, describe_key
from signing.report import (
    INDICATION_OF,
    NOT_CHECKED,
    ChainEntry,
    Check,
    Indication,
    RevocationState,
    RevocationStatus,
    SignatureReport,
    SubIndication,
)
from signing.revocation import (
    RevocationCache,
    RevocationChecker,
    RevocationFetcher,
    RevocationUnavailable,
    Source,
    crl_urls,
    ocsp_urls,
)
from signing.signature import CLOCK_SKEW, VerifiedSignature, extension, is_ca

Purpose = Literal["individual", "organisation"]

_GENERAL = SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE

_POLICY_OF: dict[Purpose, x509.ObjectIdentifier] = {
    "individual": POLICY_TEST_INDIVIDUAL_SIGNING,
    "organisation": POLICY_TEST_ORGANISATION_SEAL,
}


class TrustAnchors:
    """Configured roots and known intermediates, CA certificates only; only the roots go into
    the verifier's `Store` (cryptography treats every certificate there as a trust anchor)."""

    def __init__(
        self, roots: Iterable[x509.Certificate], intermediates: Iterable[x509.Certificate] = ()
    ) -> None:
        self.roots = tuple(roots)
        self.intermediates = tuple(intermediates)
        if not self.roots:
            raise ValueError("at least one trust root is needed")
        for certificate in (*self.roots, *self.intermediates):
            if not is_ca(certificate):
                name = certificate.subject.rfc4514_string()
                raise ValueError(f"{name} is not a CA certificate, so no anchor or intermediate")
        self.store = Store(list(self.roots))


# -- what a signature certificate must be --------------------------------------------------------


def _signs(usage: x509.KeyUsage) -> bool:
    return usage.digital_signature or usage.content_commitment


def _signs_documents(usage: x509.ExtendedKeyUsage | None) -> bool:
    purposes = (ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)
    return usage is None or any(purpose in usage for purpose in purposes)


def _require_signing(_: Policy, __: x509.Certificate, usage: x509.KeyUsage) -> None:
    if not _signs(usage):
        raise ValueError("keyUsage allows neither digitalSignature nor nonRepudiation")


def _require_document_signing(
    _: Policy, __: x509.Certificate, usage: x509.ExtendedKeyUsage | None
) -> None:
    if not _signs_documents(usage):
        raise ValueError("extendedKeyUsage does not allow document signing")


def _require_end_entity(
    _: Policy, __: x509.Certificate, constraints: x509.BasicConstraints | None
) -> None:
    if constraints is not None and constraints.ca:
        raise ValueError("a CA certificate is no signer")


#: The verifier's policy for the signer's certificate: what `_leaf_checks` names, enforced again
#: by the verifier itself; anything else not critical may be present (critical extensions it
#: does not know are refused).
SIGNATURE_POLICY = (
    ExtensionPolicy.permit_all()
    .require_present(x509.KeyUsage, Criticality.AGNOSTIC, _require_signing)
    .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _require_document_signing)
    .may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, _require_end_entity)
)
CA_POLICY = ExtensionPolicy.webpki_defaults_ca()


class _Failed(Exception):
    """The check `name` failed: the signature's verdict is `sub_indication`."""

    def __init__(self, sub_indication: SubIndication, name: str, detail: str) -> None:
        super().__init__(detail)
        self.sub_indication = sub_indication
        self.check = Check(name, False, detail)


def _constraint(name: str, detail: str) -> _Failed:
    return _Failed(SubIndication.CHAIN_CONSTRAINTS_FAILURE, name, detail)


def _leaf_checks(leaf: x509.Certificate, purpose: Purpose | None) -> list[Check]:
    """The signer certificate's own constraints, each a named check; raises _Failed."""
    if is_ca(leaf):
        raise _constraint("signer_not_ca", "the signer certificate is a CA certificate")
    checks = [Check("signer_not_ca", True, "end-entity certificate")]
    key = leaf.public_key()
    try:
        check_key_strength(key)
    except WeakKey as error:
        crypto = SubIndication.CRYPTO_CONSTRAINTS_FAILURE
        raise _Failed(crypto, "signer_key", error.detail) from error
    checks.append(Check("signer_key", True, describe_key(key)))
    usage = extension(leaf, x509.KeyUsage)
    if usage is None:
        raise _constraint("key_usage", "the certificate has no keyUsage extension")
    if not _signs(usage):
        raise _constraint("key_usage", "keyUsage allows no digitalSignature, no nonRepudiation")
    checks.append(Check("key_usage", True, "digitalSignature/nonRepudiation"))
    if not _signs_documents(extension(leaf, x509.ExtendedKeyUsage)):
        raise _constraint("extended_key_usage", "extendedKeyUsage does not allow document signing")
    checks.append(Check("extended_key_usage", True, "absent or emailProtection"))
    if purpose is not None:
        checks.extend(_purpose_checks(leaf, purpose))
    return checks


def _purpose_checks(leaf: x509.Certificate, purpose: Purpose) -> list[Check]:
    wanted = _POLICY_OF[purpose]
    present = extension(leaf, x509.CertificatePolicies) or ()
    if wanted not in {p.policy_identifier for p in present}:
        detail = f"the certificate lacks the TEST {purpose} policy {wanted.dotted_string}"
        raise _constraint("certificate_policy", detail)
    individual = purpose == "individual"
    number = signer_iin(leaf) if individual else signer_bin(leaf)
    if number is None:
        missing = "no IIN in SERIALNUMBER" if individual else "no BIN in OU"
        raise _constraint("signer_identity", missing)
    return [
        Check("certificate_policy", True, f"{purpose} {wanted.dotted_string}"),
        Check("signer_identity", True, "IIN present" if individual else "BIN present"),
    ]


def _validity(
    chain: Sequence[x509.Certificate], signing_time: datetime | None, moment: datetime
) -> Check:
    """Every certificate of the path valid at `moment`, and a signing time the signer's
    certificate could have made; raises _Failed."""
    for certificate in chain:
        not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
        if not_before <= moment <= not_after:
            continue
        who = "signer" if certificate is chain[0] else certificate.subject.rfc4514_string()
        if moment < not_before:
            detail = f"{who} certificate not valid before {not_before.isoformat()}"
            raise _Failed(SubIndication.NOT_YET_VALID, "validity_period", detail)
        detail = f"{who} certificate expired {not_after.isoformat()}"
        if signing_time is not None and signing_time > not_after:
            detail += "; the signature claims a later signing time"
            raise _Failed(SubIndication.EXPIRED, "validity_period", detail)
        detail += "; nothing proves the signature existed before that"
        raise _Failed(SubIndication.OUT_OF_BOUNDS_NO_POE, "validity_period", detail)
    if signing_time is not None and not (
        chain[0].not_valid_before_utc - CLOCK_SKEW <= signing_time <= moment + CLOCK_SKEW
    ):
        detail = "the claimed signing time is outside the certificate's validity or in the future"
        raise _Failed(SubIndication.SIG_CONSTRAINTS_FAILURE, "signing_time", detail)
    return Check("validity_period", True, f"valid at {moment.isoformat()}")


def _chain_entry(certificate: x509.Certificate) -> ChainEntry:
    return ChainEntry(
        subject=certificate.subject.rfc4514_string(),
        serial=format(certificate.serial_number, "x"),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        sha256=certificate.fingerprint(hashes.SHA256()).hex(),
    )


class Validator:
    """Decides whether a cryptographically valid signature is also trusted at a given moment."""

    def __init__(
        self, anchors: TrustAnchors, fetcher: RevocationFetcher,
        cache: RevocationCache | None = None, *, prefer: Source = "ocsp",
    ) -> None:
        """`prefer` is the revocation source asked first: OCSP, the fresh one, or "crl" for
        offline checks against CRL files. `cache` may be shared between validators."""
        self.anchors = anchors
        self.cache = cache if cache is not None else RevocationCache()
        self.revocation = RevocationChecker(fetcher, self.cache, prefer)

    def validate(
        self, signature: VerifiedSignature, *, moment: datetime, purpose: Purpose | None = None,
        role: str = "", fresh_since: datetime | None = None,
    ) -> SignatureReport:
        """The report on one signature: constraints, path, validity, revocation at `moment`.
        `purpose` names the policy (and identity attribute) the signer must have, None either.
        Never raises for a bad certificate: the report says why."""
        leaf = signature.signer
        unreadable = _unreadable(leaf)
        if unreadable is not None:
            failure = SubIndication.FORMAT_FAILURE
            return SignatureReport(
                signature.format, INDICATION_OF[failure], failure, (*signature.checks, unreadable),
                role=role, signing_time=signature.signing_time, algorithm=signature.algorithm,
            )
        checks: list[Check] = list(signature.checks)
        entries: tuple[ChainEntry, ...] = (_chain_entry(leaf),)
        revocation = NOT_CHECKED
        sub: SubIndication | None = None
        try:
            checks.extend(_leaf_checks(leaf, purpose))
            chain = self._path(signature, moment)
            entries = tuple(_chain_entry(c) for c in chain)
            checks.append(Check("certificate_chain", True, "chains to " + entries[-1].subject))
            checks.append(_validity(chain, signature.signing_time, moment))
            since = _signers_time(signature.signing_time, moment, fresh_since)
            revocation, sub = self._revocation(
                chain, [e.subject for e in entries], signature.signing_time, moment, since, checks
            )
        except _Failed as failure:
            checks.append(failure.check)
            sub = failure.sub_indication
        return SignatureReport(
            format=signature.format,
            indication=Indication.TOTAL_PASSED if sub is None else INDICATION_OF[sub],
            sub_indication=sub,
            checks=tuple(checks),
            role=role,
            signer_subject=entries[0].subject,
            signer_iin=signer_iin(leaf),
            signer_bin=signer_bin(leaf),
            signer_serial=format(leaf.serial_number, "x"),
            signing_time=signature.signing_time,
            algorithm=signature.algorithm,
            chain=entries,
            revocation=revocation,
        )

    def _path(self, signature: VerifiedSignature, moment: datetime) -> tuple[x509.Certificate, ...]:
        leaf = signature.signer
        offered = (*signature.certificates, *self.anchors.intermediates)
        candidates = list(dict.fromkeys(c for c in offered if c != leaf))
        # Validity is judged afterwards (to tell EXPIRED from NOT_YET_VALID from a missing
        # chain), so the path is built at a time inside the signer certificate's own validity.
        at = min(max(moment, leaf.not_valid_before_utc), leaf.not_valid_after_utc)
        verifier = (
            PolicyBuilder()
            .store(self.anchors.store)
            .time(at)
            .extension_policies(ca_policy=CA_POLICY, ee_policy=SIGNATURE_POLICY)
            .build_client_verifier()
        )
        try:
            return tuple(verifier.verify(leaf, candidates).chain)
        except VerificationError as error:
            detail = f"no path to a configured root: {error}"
            no_chain = SubIndication.NO_CERTIFICATE_CHAIN_FOUND
            raise _Failed(no_chain, "certificate_chain", detail) from error

    def _revocation(
        self, chain: Sequence[x509.Certificate], subjects: Sequence[str],
        signing_time: datetime | None, moment: datetime, since: datetime, checks: list[Check],
    ) -> tuple[RevocationStatus, SubIndication | None]:
        """Every certificate below the root, the signer first (the root is trusted as such);
        `subjects` are their names as the report gives them."""
        signer_status = NOT_CHECKED
        for index, certificate in enumerate(chain[:-1]):
            who = "signer" if index == 0 else subjects[index]
            if not (ocsp_urls(certificate) or crl_urls(certificate)):
                if index == 0:
                    detail = "the signer certificate names no OCSP responder and no CRL"
                    raise _Failed(_GENERAL, "revocation", detail)
                checks.append(Check("revocation", True, f"{who}: no revocation pointers (CA)"))
                continue
            try:
                status = self.revocation.status(
                    certificate, chain[index + 1], moment, since if index == 0 else None
                )
            except RevocationUnavailable as error:
                detail = f"{who}: {error.detail}"
                raise _Failed(SubIndication.TRY_LATER, "revocation", detail) from error
            if index == 0:
                signer_status = status
            verdict = _verdict(status, who, signing_time, moment)
            checks.append(verdict[0])
            if verdict[1] is not None:
                return signer_status, verdict[1]
        return signer_status, None


def _unreadable(leaf: x509.Certificate) -> Check | None:
    """A failed check when the signer's certificate has a part cryptography cannot read (it
    parses names and extensions only when asked), so that nothing below raises on it."""
    try:
        leaf.subject.rfc4514_string()
        len(leaf.extensions)
        leaf.public_key()
    except (ValueError, x509.DuplicateExtension, UnsupportedAlgorithm) as error:
        detail = f"the signer certificate cannot be read: {error}"
        return Check("signer_certificate", False, detail)
    return None


def _signers_time(
    signing_time: datetime | None, moment: datetime, fresh_since: datetime | None
) -> datetime:
    """The time the signer's revocation information must follow (see the module docstring)."""
    since = moment if signing_time is None else min(signing_time, moment)
    return since if fresh_since is None else max(since, fresh_since)


def _verdict(
    status: RevocationStatus, who: str, signing_time: datetime | None, moment: datetime
) -> tuple[Check, SubIndication | None]:
    if status.state is RevocationState.UNKNOWN:
        detail = f"{who}: the CA does not know this certificate"
        raise _Failed(_GENERAL, "revocation", detail)
    revoked_at = status.revoked_at
    if status.state is not RevocationState.REVOKED or revoked_at is None or revoked_at > moment:
        return Check("revocation", True, f"{who}: good per {status.source}"), None
    detail = (
        f"{who} certificate revoked {revoked_at.isoformat()}"
        f" ({status.reason or 'unspecified'}) per {status.source}"
    )
    if signing_time is not None and signing_time < revoked_at:
        detail += "; the signature claims an earlier time, without proof"
        return Check("revocation", False, detail), SubIndication.REVOKED_NO_POE
    return Check("revocation", False, detail), SubIndication.REVOKED
