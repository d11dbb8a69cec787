"""Path validation (cryptography.x509.verification) and our own revocation step.

cryptography builds and checks the path (signatures, validity, CA constraints) but does no
revocation checking, so that is done here: every certificate below the trust anchor that names a
responder or a CRL is looked up, OCSP first and the CRL when OCSP cannot be had, through a
`RevocationFetcher`. Answers are kept in a `RevocationCache` until their nextUpdate. The moment of
validation is always passed in; nothing here reads a clock.

The verdict follows ETSI EN 319 102-1: a signature made (by the signer's own claim) after its
certificate expired or was revoked is TOTAL_FAILED; one that claims an earlier time has no proof of
existence before the event, so it is INDETERMINATE (OUT_OF_BOUNDS_NO_POE / REVOKED_NO_POE). Both
are refused by the registry; the distinction tells a clerk what happened.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal, Protocol, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    ClientVerifier,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from signing._algorithms import HashName, ecdsa_for
from signing._certs import (
    cert_id_hashes,
    extensions_by_oid,
    per_certificate,
    public_key,
    sha256_fingerprint,
    subject_text,
    subject_values,
    validity,
)
from signing.ca import POLICY_TEST_INDIVIDUAL_SIGNING, POLICY_TEST_ORGANISATION_SEAL
from signing.errors import SigningError, WeakKey
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
from signing.signature import VerifiedSignature

#: Clock skew tolerated between us and the CA when judging revocation data.
CLOCK_SKEW = timedelta(minutes=5)
#: The longest we keep revocation data that has no nextUpdate (RFC 6960 allows that for OCSP).
MAX_AGE_WITHOUT_NEXT_UPDATE = timedelta(minutes=10)
#: Paths remembered per validator (oldest forgotten first).
CHAIN_CACHE_SIZE = 4096


class RevocationFetcher(Protocol):
    """How revocation data is reached: over HTTP, or in-process where the CA lives."""

    def fetch_crl(self, url: str) -> bytes:
        """DER CRL at url; raise OSError (or a subclass) when it cannot be had."""
        ...

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        """DER OCSPResponse for request_der from the responder at url; raise OSError on failure."""
        ...


class RevocationUnavailable(SigningError):
    """No usable revocation answer for a certificate (unreachable, stale or badly signed)."""

    code = "revocation_unavailable"


@dataclass(frozen=True)
class _CachedAnswer:
    status: RevocationStatus
    good_until: datetime


@dataclass(frozen=True)
class _CachedCRL:
    crl: x509.CertificateRevocationList
    good_until: datetime
    #: What this CRL says of each serial number looked up so far (a pure function of the CRL,
    #: so it lives and dies with it).
    answers: dict[int, RevocationStatus]
    #: What it says of every serial number it does not list (one object for all of them).
    good: RevocationStatus


#: Serial numbers whose answer is remembered per CRL (beyond that, looked up each time).
CRL_ANSWERS_KEPT = 65536


class RevocationCache:
    """CRLs and OCSP answers kept until their nextUpdate (thread-safe).

    CRLs are kept parsed and already checked against their issuer, with what they said about
    each serial number looked up; OCSP answers per certificate.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._crls: dict[tuple[str, bytes], _CachedCRL] = {}
        self._ocsp: dict[tuple[str, bytes, int], _CachedAnswer] = {}

    def crl(
        self, url: str, issuer_key_id: bytes, moment: datetime
    ) -> x509.CertificateRevocationList | None:
        with self._lock:
            found = self._crls.get((url, issuer_key_id))
        if found is None or moment > found.good_until:
            return None
        return found.crl

    def keep_crl(
        self,
        url: str,
        issuer_key_id: bytes,
        crl: x509.CertificateRevocationList,
        good_until: datetime,
    ) -> None:
        with self._lock:
            self._crls[(url, issuer_key_id)] = _CachedCRL(
                crl, good_until, {}, _good_status(crl, url)
            )

    def crl_answer(
        self, url: str, issuer_key_id: bytes, serial: int, moment: datetime
    ) -> RevocationStatus | None:
        """What the cached CRL, if still good at `moment`, said of `serial` when last asked."""
        found = self._crls.get((url, issuer_key_id))
        if found is None or moment > found.good_until:
            return None
        return found.answers.get(serial)

    def crl_good(
        self, url: str, issuer_key_id: bytes, crl: x509.CertificateRevocationList
    ) -> RevocationStatus:
        """What `crl` says of the serial numbers it does not list (kept with it if cached)."""
        found = self._crls.get((url, issuer_key_id))
        if found is not None and found.crl is crl:
            return found.good
        return _good_status(crl, url)

    def keep_crl_answer(
        self,
        url: str,
        issuer_key_id: bytes,
        crl: x509.CertificateRevocationList,
        serial: int,
        status: RevocationStatus,
    ) -> None:
        """Remember `status` for `serial`, if `crl` is still the one cached (not replaced)."""
        with self._lock:
            found = self._crls.get((url, issuer_key_id))
            if found is not None and found.crl is crl and len(found.answers) < CRL_ANSWERS_KEPT:
                found.answers[serial] = status

    def ocsp(
        self, url: str, issuer_key_id: bytes, serial: int, moment: datetime
    ) -> RevocationStatus | None:
        with self._lock:
            found = self._ocsp.get((url, issuer_key_id, serial))
        if found is None or moment > found.good_until:
            return None
        return found.status

    def keep_ocsp(
        self,
        url: str,
        issuer_key_id: bytes,
        serial: int,
        status: RevocationStatus,
        good_until: datetime,
    ) -> None:
        with self._lock:
            self._ocsp[(url, issuer_key_id, serial)] = _CachedAnswer(status, good_until)

    def clear(self) -> None:
        with self._lock:
            self._crls.clear()
            self._ocsp.clear()


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(_extension(certificate, x509.BasicConstraints).ca)
    except x509.ExtensionNotFound:
        return False


class TrustAnchors:
    """Configured roots and known intermediates.

    Only CA certificates may be roots: cryptography treats every certificate in its `Store` as a
    trust anchor, so a leaf placed there would vouch for itself.
    """

    def __init__(
        self, roots: Iterable[x509.Certificate], intermediates: Iterable[x509.Certificate] = ()
    ) -> None:
        self.roots = tuple(roots)
        self.intermediates = tuple(intermediates)
        if not self.roots:
            raise ValueError("at least one trust root is needed")
        for certificate in (*self.roots, *self.intermediates):
            if not _is_ca(certificate):
                raise ValueError(
                    f"{certificate.subject.rfc4514_string()} is not a CA certificate "
                    "and cannot be a trust anchor or intermediate"
                )
        self.store = Store(list(self.roots))


Purpose = Literal["individual", "organisation"]

_POLICY_OF: dict[Purpose, x509.ObjectIdentifier] = {
    "individual": POLICY_TEST_INDIVIDUAL_SIGNING,
    "organisation": POLICY_TEST_ORGANISATION_SEAL,
}


def _attribute(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(value) for value in subject_values(certificate, oid.dotted_string)]


@per_certificate
def signer_iin(certificate: x509.Certificate) -> str | None:
    """The IIN from SERIALNUMBER=IIN<12 digits>, as the national profile puts it."""
    for value in _attribute(certificate, NameOID.SERIAL_NUMBER):
        if value.startswith("IIN") and len(value) == 15 and value[3:].isdigit():
            return value[3:]
    return None


@per_certificate
def signer_bin(certificate: x509.Certificate) -> str | None:
    """The BIN from OU=BIN<12 digits>."""
    for value in _attribute(certificate, NameOID.ORGANIZATIONAL_UNIT_NAME):
        if value.startswith("BIN") and len(value) == 15 and value[3:].isdigit():
            return value[3:]
    return None


@per_certificate
def chain_entry(certificate: x509.Certificate) -> ChainEntry:
    not_before, not_after = validity(certificate)
    return ChainEntry(
        subject=subject_text(certificate),
        serial=_serial_hex(certificate),
        not_before=not_before,
        not_after=not_after,
        sha256=sha256_fingerprint(certificate).hex(),
    )


class _Failed(Exception):
    def __init__(self, sub_indication: SubIndication, check: Check) -> None:
        super().__init__(check.detail)
        self.sub_indication = sub_indication
        self.check = check


def _responder_key_hash(certificate: x509.Certificate) -> bytes:
    """The certificate's key as an OCSP ResponderID names it: RFC 6960's KeyHash, which is
    SHA-1 by definition (the key half of a SHA-1 CertID's issuer hashes)."""
    return cert_id_hashes(certificate, _SHA1)[1]


_SHA1 = hashes.SHA1()  # noqa: S303


@per_certificate
def _key_id(certificate: x509.Certificate) -> bytes:
    return hashlib.sha256(
        certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).digest()


#: The digests for which one shared ECDSA object serves (see `_algorithms.ecdsa_for`).
_HASH_NAMES: dict[type[hashes.HashAlgorithm], HashName] = {
    hashes.SHA256: "SHA-256",
    hashes.SHA384: "SHA-384",
    hashes.SHA512: "SHA-512",
}


def _verify_signed_by(
    issuer: x509.Certificate, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> None:
    """Raise InvalidSignature unless issuer's key signed data (for CRLs and OCSP answers)."""
    key = public_key(issuer)
    if algorithm is None:
        raise InvalidSignature("no hash algorithm")
    if isinstance(key, ec.EllipticCurvePublicKey):
        name = _HASH_NAMES.get(type(algorithm))
        key.verify(signature, data, ec.ECDSA(algorithm) if name is None else ecdsa_for(name))
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    else:
        raise InvalidSignature(f"unsupported issuer key {describe_key(key)}")


class Validator:
    """Decides whether a cryptographically valid signature is also trusted at a given moment."""

    def __init__(
        self,
        anchors: TrustAnchors,
        fetcher: RevocationFetcher,
        cache: RevocationCache | None = None,
        *,
        prefer: Literal["ocsp", "crl"] = "ocsp",
        max_cache_age: timedelta | None = None,
    ) -> None:
        """`prefer` says which revocation source is asked first (the other is the fallback):
        OCSP answers one certificate at a time and is the freshest; one CRL answers for every
        certificate of its issuer, which suits a registry verifying many signers. Answers are
        reused until their nextUpdate, or for at most `max_cache_age` after they were fetched
        when that is shorter (how late a revocation may be noticed)."""
        self.anchors = anchors
        self.fetcher = fetcher
        self.cache = cache if cache is not None else RevocationCache()
        self.prefer = prefer
        self.max_cache_age = max_cache_age
        self._chains: dict[tuple[bytes, tuple[bytes, ...]], tuple[x509.Certificate, ...]] = {}
        self._chains_lock = threading.Lock()
        # Issuing CAs whose own path to a root has been validated, by SHA-256 fingerprint.
        self._issuers: dict[bytes, _KnownIssuer] = {}
        self._root_subjects = frozenset(root.subject.public_bytes() for root in self.anchors.roots)

    # -- the whole verdict --------------------------------------------------------------------

    def validate(
        self,
        signature: VerifiedSignature,
        *,
        moment: datetime,
        purpose: Purpose | None = None,
        role: str = "",
    ) -> SignatureReport:
        """The report on one signature: chain, constraints, validity, revocation at `moment`.

        `purpose` says which certificate policy (and which identity attribute) the signer must
        have; None accepts either. Never raises for a bad certificate: the report says why.
        """
        leaf = signature.signer
        checks: list[Check] = list(signature.checks)
        chain: tuple[x509.Certificate, ...] = (leaf,)
        revocation = NOT_CHECKED
        sub: SubIndication | None = None
        try:
            chain = self._build_chain(signature, moment, checks)
            self._check_constraints(leaf, purpose, checks)
            sub = self._check_validity(chain, signature.signing_time, moment, checks)
            if sub is None or INDICATION_OF[sub] is not Indication.TOTAL_FAILED:
                revocation, revoked_sub = self._check_revocation(
                    chain, signature.signing_time, moment, checks
                )
                sub = revoked_sub or sub
        except _Failed as failure:
            checks.append(failure.check)
            sub = failure.sub_indication
        indication = Indication.TOTAL_PASSED if sub is None else INDICATION_OF[sub]
        return SignatureReport(
            format=signature.format,
            indication=indication,
            sub_indication=sub,
            checks=tuple(checks),
            role=role,
            signer_subject=subject_text(leaf),
            signer_iin=signer_iin(leaf),
            signer_bin=signer_bin(leaf),
            signer_serial=_serial_hex(leaf),
            signing_time=signature.signing_time,
            algorithm=signature.algorithm,
            chain=_chain_entries(chain),
            revocation=revocation,
        )

    # -- steps --------------------------------------------------------------------------------

    def _build_chain(
        self, signature: VerifiedSignature, moment: datetime, checks: list[Check]
    ) -> tuple[x509.Certificate, ...]:
        leaf = signature.signer
        leaf_print = sha256_fingerprint(leaf)
        intermediates = [
            c
            for c in (*signature.certificates, *self.anchors.intermediates)
            if c is not leaf and sha256_fingerprint(c) != leaf_print
        ]
        # A path, once built, stays built: its signatures and CA constraints do not depend on
        # time, and every certificate's validity at `moment` is checked afresh afterwards.
        key = (leaf_print, tuple(sorted(sha256_fingerprint(c) for c in intermediates)))
        cached = self._chains.get(key)
        if cached is not None:
            checks.append(_chain_check(cached))
            return cached
        # Validity is judged separately (to tell EXPIRED from NOT_YET_VALID from a missing
        # chain), so the path is built at a time inside the leaf's own validity window.
        not_before, not_after = validity(leaf)
        at = min(max(moment, not_before), not_after)
        chain = self._through_known_issuer(leaf, intermediates, key[1], at)
        if chain is None:
            try:
                built = _verifier(self.anchors.store, at).verify(leaf, intermediates)
            except VerificationError as error:
                raise _Failed(
                    SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                    Check("certificate_chain", False, f"no path to a configured root: {error}"),
                ) from error
            chain = tuple(built.chain)
            self._remember_issuer(chain)
        with self._chains_lock:
            if len(self._chains) >= CHAIN_CACHE_SIZE:
                self._chains.pop(next(iter(self._chains)))
            self._chains[key] = chain
        checks.append(_chain_check(chain))
        return chain

    def _through_known_issuer(
        self,
        leaf: x509.Certificate,
        intermediates: Sequence[x509.Certificate],
        intermediate_prints: tuple[bytes, ...],
        at: datetime,
    ) -> tuple[x509.Certificate, ...] | None:
        """The path through an issuing CA whose own path was validated before, checking only
        what depends on the leaf; None when there is no such CA (or it does not verify the
        leaf), and the full path is to be built.

        cryptography builds the path leaf → issuing CA → root by checking, step by step, each
        issuer as a CA at its depth and its signature on the certificate below. Only the first
        step involves the leaf; the steps above it involve the CA certificates alone, at the
        same depths, and depend on the time only through their validity. So the first step is
        run for real (cryptography's verifier with that CA as the one anchor: the leaf's own
        profile checks, the CA's profile checks, the leaf's signature), the validity of the
        certificates above it is checked at the same time the full path would use, and the
        path above is taken as remembered. What a CA may impose on descendants beyond that
        (name constraints, policy constraints, anything unusual) makes `_remember_issuer`
        refuse to remember it, so such paths are always built in full. As for the full path,
        only certificates the signature (or the configured intermediates) presents may be used:
        the issuing CA, and any CA between it and the root.
        """
        tried: set[bytes] = set()
        for candidate in intermediates:
            candidate_print = sha256_fingerprint(candidate)
            known = self._issuers.get(candidate_print)
            if known is None or candidate_print in tried:
                continue
            # Each known CA is tried once, however often the signature repeats it.
            tried.add(candidate_print)
            if not all(p in intermediate_prints for p in known.between):
                continue
            if not known.valid_from <= at <= known.valid_until:
                continue
            try:
                _verifier(known.store, at).verify(leaf, [])
            except VerificationError:
                # Not this CA's (or not acceptable under it): the full path decides, and says
                # why in its own words.
                continue
            return (leaf, *known.chain)
        return None

    def _remember_issuer(self, chain: tuple[x509.Certificate, ...]) -> None:
        """Remember the issuing CA of a path cryptography built in full, with the path above it,
        when nothing in that part constrains descendants beyond what `_through_known_issuer`
        checks again."""
        if len(chain) < 3:
            return  # issued by a root directly: there is nothing above to skip
        issuer = chain[1]
        above = chain[1:]
        if issuer.subject.public_bytes() in self._root_subjects:
            # A root of the same name would be tried first by the full path; stay with it.
            return
        if not all(_imposes_nothing(certificate) for certificate in above):
            return
        with self._chains_lock:
            if len(self._issuers) >= CHAIN_CACHE_SIZE:
                self._issuers.pop(next(iter(self._issuers)))
            self._issuers[sha256_fingerprint(issuer)] = _KnownIssuer.of(above)

    @staticmethod
    def _check_constraints(
        leaf: x509.Certificate, purpose: Purpose | None, checks: list[Check]
    ) -> None:
        passed, failure = _leaf_constraints(leaf, purpose)
        checks.extend(passed)
        if failure is not None:
            # A fresh exception each time: the remembered one must not collect tracebacks.
            raise _Failed(failure.sub_indication, failure.check)

    def _check_validity(
        self,
        chain: Sequence[x509.Certificate],
        signing_time: datetime | None,
        moment: datetime,
        checks: list[Check],
    ) -> SubIndication | None:
        for certificate in chain:
            not_before, not_after = validity(certificate)
            if not_before <= moment <= not_after:
                continue
            who = "signer" if certificate is chain[0] else subject_text(certificate)
            if moment < not_before:
                raise _Failed(
                    SubIndication.NOT_YET_VALID,
                    Check(
                        "validity_period",
                        False,
                        f"{who} certificate not valid before {not_before.isoformat()}",
                    ),
                )
            claimed_after = signing_time is not None and signing_time > not_after
            raise _Failed(
                SubIndication.EXPIRED if claimed_after else SubIndication.OUT_OF_BOUNDS_NO_POE,
                Check(
                    "validity_period",
                    False,
                    f"{who} certificate expired {not_after.isoformat()}"
                    + (
                        "; the signature claims a later signing time"
                        if claimed_after
                        else "; nothing proves the signature existed before that"
                    ),
                ),
            )
        if signing_time is not None and not (
            validity(chain[0])[0] - CLOCK_SKEW <= signing_time <= moment + CLOCK_SKEW
        ):
            raise _Failed(
                SubIndication.SIG_CONSTRAINTS_FAILURE,
                Check(
                    "signing_time",
                    False,
                    "the claimed signing time is outside the certificate's validity"
                    " or in the future",
                ),
            )
        checks.append(_valid_at(moment.isoformat()))
        return None

    def _check_revocation(
        self,
        chain: Sequence[x509.Certificate],
        signing_time: datetime | None,
        moment: datetime,
        checks: list[Check],
    ) -> tuple[RevocationStatus, SubIndication | None]:
        leaf_status = NOT_CHECKED
        # Every certificate below the anchor, leaf first; the anchor itself is trusted as such.
        for index, certificate in enumerate(chain[:-1]):
            issuer = chain[index + 1]
            who = "signer" if index == 0 else subject_text(certificate)
            ocsp_urls = _ocsp_urls(certificate)
            crl_urls = _crl_urls(certificate)
            if not (ocsp_urls or crl_urls):
                if index == 0:
                    raise _Failed(
                        SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
                        Check(
                            "revocation",
                            False,
                            "the signer certificate names no OCSP responder and no CRL",
                        ),
                    )
                checks.append(_no_pointers(who))
                continue
            try:
                status = self._status(certificate, issuer, moment, ocsp_urls, crl_urls)
            except RevocationUnavailable as error:
                raise _Failed(
                    SubIndication.TRY_LATER, Check("revocation", False, f"{who}: {error.detail}")
                ) from error
            if index == 0:
                leaf_status = status
            if status.state is RevocationState.UNKNOWN:
                raise _Failed(
                    SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
                    Check("revocation", False, f"{who}: the CA does not know this certificate"),
                )
            if (
                status.state is RevocationState.REVOKED
                and status.revoked_at is not None
                and (status.revoked_at <= moment)
            ):
                detail = (
                    f"{who} certificate revoked {status.revoked_at.isoformat()}"
                    f" ({status.reason or 'unspecified'}) per {status.source}"
                )
                if signing_time is not None and signing_time < status.revoked_at:
                    checks.append(
                        Check(
                            "revocation",
                            False,
                            detail + "; the signature claims an earlier time, without proof",
                        )
                    )
                    return leaf_status, SubIndication.REVOKED_NO_POE
                checks.append(Check("revocation", False, detail))
                return leaf_status, SubIndication.REVOKED
            checks.append(_good_per(who, status.source))
        return leaf_status, None

    # -- revocation lookups -------------------------------------------------------------------

    def revocation_status(
        self, certificate: x509.Certificate, issuer: x509.Certificate, moment: datetime
    ) -> RevocationStatus:
        """The certificate's status at `moment`, from the preferred source and then the other.
        Raises RevocationUnavailable when neither gives a fresh, correctly signed answer."""
        return self._status(
            certificate, issuer, moment, _ocsp_urls(certificate), _crl_urls(certificate)
        )

    def _status(
        self,
        certificate: x509.Certificate,
        issuer: x509.Certificate,
        moment: datetime,
        ocsp_urls: tuple[str, ...],
        crl_urls: tuple[str, ...],
    ) -> RevocationStatus:
        problems: list[str] = []
        ocsp_source = (self._ocsp_status, ocsp_urls)
        crl_source = (self._crl_status, crl_urls)
        sources = (crl_source, ocsp_source) if self.prefer == "crl" else (ocsp_source, crl_source)
        for lookup, urls in sources:
            for url in urls:
                try:
                    return lookup(url, certificate, issuer, moment)
                except RevocationUnavailable as error:
                    problems.append(error.detail)
        raise RevocationUnavailable("; ".join(problems) or "no revocation source")

    def _reuse_until(self, next_update: datetime, moment: datetime) -> datetime:
        if self.max_cache_age is None:
            return next_update
        return min(next_update, moment + self.max_cache_age)

    def _ocsp_status(
        self, url: str, certificate: x509.Certificate, issuer: x509.Certificate, moment: datetime
    ) -> RevocationStatus:
        key_id = _key_id(issuer)
        cached = self.cache.ocsp(url, key_id, certificate.serial_number, moment)
        if cached is not None:
            return cached
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(certificate, issuer, hashes.SHA256())
            .build()
            .public_bytes(serialization.Encoding.DER)
        )
        try:
            answer = self.fetcher.post_ocsp(url, request)
        except OSError as error:
            raise RevocationUnavailable(f"OCSP responder unreachable: {error}") from error
        try:
            response = ocsp.load_der_ocsp_response(answer)
        except ValueError as error:
            raise RevocationUnavailable("OCSP answer is not DER") from error
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise RevocationUnavailable(f"OCSP answered {response.response_status.name}")
        self._check_ocsp_signer(response, issuer, moment)
        single = None
        serial = certificate.serial_number
        for candidate in response.responses:
            if candidate.serial_number != serial:
                continue
            try:
                algorithm = candidate.hash_algorithm
            except UnsupportedAlgorithm:
                continue  # a CertID under a digest we do not know names no certificate of ours
            key_hash = candidate.issuer_key_hash
            name_hash, issuer_key_hash = cert_id_hashes(issuer, algorithm)
            if key_hash == issuer_key_hash and candidate.issuer_name_hash == name_hash:
                single = candidate
        if single is None:
            raise RevocationUnavailable("OCSP answer is about another certificate")
        this_update = single.this_update_utc
        next_update = single.next_update_utc
        if this_update > moment + CLOCK_SKEW:
            raise RevocationUnavailable("OCSP answer is dated in the future")
        good_until = next_update or this_update + MAX_AGE_WITHOUT_NEXT_UPDATE
        if moment > good_until:
            raise RevocationUnavailable("OCSP answer is stale")
        state = _OCSP_STATES[single.certificate_status]
        status = RevocationStatus(
            state,
            source=f"ocsp {url}",
            revoked_at=single.revocation_time_utc,
            reason=None if single.revocation_reason is None else single.revocation_reason.name,
            this_update=this_update,
            next_update=next_update,
        )
        self.cache.keep_ocsp(
            url, key_id, certificate.serial_number, status, self._reuse_until(good_until, moment)
        )
        return status

    def _check_ocsp_signer(
        self, response: ocsp.OCSPResponse, issuer: x509.Certificate, moment: datetime
    ) -> None:
        """The answer must be signed by the issuer itself or by a responder certificate that the
        issuer gave the OCSPSigning purpose (RFC 6960 section 4.2.2.2)."""
        signer = issuer
        responder_key_hash = response.responder_key_hash
        if responder_key_hash is not None:
            by_issuer = responder_key_hash == _responder_key_hash(issuer)
        else:
            by_issuer = response.responder_name == issuer.subject
        if not by_issuer:
            delegated = [
                c
                for c in response.certificates
                if (
                    responder_key_hash is not None
                    and _responder_key_hash(c) == responder_key_hash
                )
                or (response.responder_name is not None and c.subject == response.responder_name)
            ]
            if not delegated:
                raise RevocationUnavailable("OCSP answer signed by an unknown responder")
            signer = delegated[0]
            try:
                signer.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature) as error:
                raise RevocationUnavailable(
                    "OCSP responder certificate not issued by the CA"
                ) from error
            try:
                eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except x509.ExtensionNotFound:
                eku = None
            if eku is None or ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
                raise RevocationUnavailable(
                    "OCSP responder certificate lacks the OCSPSigning purpose"
                )
            if not (signer.not_valid_before_utc <= moment <= signer.not_valid_after_utc):
                raise RevocationUnavailable("OCSP responder certificate is not valid now")
        try:
            _verify_signed_by(
                signer,
                response.signature,
                response.tbs_response_bytes,
                response.signature_hash_algorithm,
            )
        except InvalidSignature as error:
            raise RevocationUnavailable("OCSP answer signature is invalid") from error

    def _crl_status(
        self, url: str, certificate: x509.Certificate, issuer: x509.Certificate, moment: datetime
    ) -> RevocationStatus:
        key_id = _key_id(issuer)
        serial = certificate.serial_number
        known = self.cache.crl_answer(url, key_id, serial, moment)
        if known is not None:
            return known
        crl = self.cache.crl(url, key_id, moment)
        if crl is None:
            try:
                data = self.fetcher.fetch_crl(url)
            except OSError as error:
                raise RevocationUnavailable(f"CRL unreachable: {error}") from error
            try:
                crl = (
                    x509.load_der_x509_crl(data)
                    if data[:1] == b"\x30"
                    else x509.load_pem_x509_crl(data)
                )
            except ValueError as error:
                raise RevocationUnavailable("CRL is not DER or PEM") from error
            if crl.issuer != issuer.subject:
                raise RevocationUnavailable("CRL is from another issuer")
            issuer_key = public_key(issuer)
            if not isinstance(issuer_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)) or not (
                crl.is_signature_valid(issuer_key)
            ):
                raise RevocationUnavailable("CRL signature is invalid")
            next_update = crl.next_update_utc
            if next_update is None:
                raise RevocationUnavailable("CRL has no nextUpdate")
            if crl.last_update_utc > moment + CLOCK_SKEW:
                raise RevocationUnavailable("CRL is dated in the future")
            if moment > next_update:
                raise RevocationUnavailable("CRL is stale")
            self.cache.keep_crl(url, key_id, crl, self._reuse_until(next_update, moment))
        status = _crl_says(crl, serial, url, self.cache.crl_good(url, key_id, crl))
        self.cache.keep_crl_answer(url, key_id, crl, serial, status)
        return status


def _crl_says(
    crl: x509.CertificateRevocationList, serial: int, url: str, good: RevocationStatus
) -> RevocationStatus:
    """What a (checked) CRL says of one serial number (`good`, what it says of every serial
    number it does not list): a pure function of the two."""
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    if entry is None:
        return good
    try:
        reason: str | None = entry.extensions.get_extension_for_class(
            x509.CRLReason
        ).value.reason.name
    except x509.ExtensionNotFound:
        reason = None
    return RevocationStatus(
        RevocationState.REVOKED,
        source=f"crl {url}",
        revoked_at=entry.revocation_date_utc,
        reason=reason,
        this_update=crl.last_update_utc,
        next_update=crl.next_update_utc,
    )


def _good_status(crl: x509.CertificateRevocationList, url: str) -> RevocationStatus:
    return RevocationStatus(
        RevocationState.GOOD,
        source=f"crl {url}",
        this_update=crl.last_update_utc,
        next_update=crl.next_update_utc,
    )


_OCSP_STATES = {
    ocsp.OCSPCertStatus.GOOD: RevocationState.GOOD,
    ocsp.OCSPCertStatus.REVOKED: RevocationState.REVOKED,
    ocsp.OCSPCertStatus.UNKNOWN: RevocationState.UNKNOWN,
}


_Outcome = tuple[tuple[Check, ...], _Failed | None]


@per_certificate
def _constraint_outcomes(leaf: x509.Certificate) -> dict[Purpose | None, _Outcome]:
    """Per purpose, the outcome of `_leaf_constraints`, filled in as asked."""
    return {}


def _leaf_constraints(leaf: x509.Certificate, purpose: Purpose | None) -> _Outcome:
    """The signer certificate's own constraints: the checks passed, and the failure if any.
    A pure function of the certificate and the purpose, so it is remembered."""
    outcomes = _constraint_outcomes(leaf)
    outcome = outcomes.get(purpose)
    if outcome is None:
        checks: list[Check] = []
        try:
            _constraints(leaf, purpose, checks)
        except _Failed as failure:
            outcome = (tuple(checks), failure)
        else:
            outcome = (tuple(checks), None)
        outcomes[purpose] = outcome
    return outcome


def _constraints(leaf: x509.Certificate, purpose: Purpose | None, checks: list[Check]) -> None:
    def fail(name: str, detail: str) -> _Failed:
        return _Failed(SubIndication.CHAIN_CONSTRAINTS_FAILURE, Check(name, False, detail))

    if _is_ca(leaf):
        raise fail("signer_not_ca", "the signer certificate is a CA certificate")
    checks.append(_passed("signer_not_ca", "end-entity certificate"))

    try:
        check_key_strength(public_key(leaf))
    except WeakKey as error:
        raise _Failed(
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE, Check("signer_key", False, error.detail)
        ) from error
    checks.append(_passed("signer_key", describe_key(public_key(leaf))))

    try:
        usage = _extension(leaf, x509.KeyUsage)
    except x509.ExtensionNotFound:
        raise fail("key_usage", "the certificate has no keyUsage extension") from None
    if not (usage.digital_signature or usage.content_commitment):
        raise fail("key_usage", "keyUsage allows neither digitalSignature nor nonRepudiation")
    checks.append(_passed("key_usage", "digitalSignature/nonRepudiation"))

    try:
        eku = _extension(leaf, x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None and not (
        ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
        or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku
    ):
        raise fail("extended_key_usage", "extendedKeyUsage does not allow document signing")
    checks.append(_passed("extended_key_usage", "absent or emailProtection"))

    if purpose is not None:
        wanted = _POLICY_OF[purpose]
        try:
            policies = _extension(leaf, x509.CertificatePolicies)
            present = {p.policy_identifier for p in policies}
        except x509.ExtensionNotFound:
            present = set()
        if wanted not in present:
            raise fail(
                "certificate_policy",
                f"the certificate lacks the TEST {purpose} policy {wanted.dotted_string}",
            )
        checks.append(_passed("certificate_policy", f"{purpose} {wanted.dotted_string}"))
        number = signer_iin(leaf) if purpose == "individual" else signer_bin(leaf)
        if number is None:
            raise fail(
                "signer_identity",
                "no IIN in SERIALNUMBER" if purpose == "individual" else "no BIN in OU",
            )
        checks.append(
            _passed("signer_identity", "IIN present" if purpose == "individual" else "BIN present")
        )


@lru_cache(maxsize=256)
def _passed(name: str, detail: str) -> Check:
    """A passed check (immutable, so one object serves every report that has it)."""
    return Check(name, True, detail)


def _chain_check(chain: Sequence[x509.Certificate]) -> Check:
    return _chains_to(chain[-1])


@per_certificate
def _chains_to(root: x509.Certificate) -> Check:
    return Check("certificate_chain", True, "chains to " + subject_text(root))


@lru_cache(maxsize=256)
def _valid_at(moment: str) -> Check:
    """The passed validity check at `moment` (one object for every report made at it). Keyed
    by the text: equal datetimes in two offsets are one key, but read differently."""
    return Check("validity_period", True, f"valid at {moment}")


@lru_cache(maxsize=256)
def _no_pointers(who: str) -> Check:
    return Check("revocation", True, f"{who}: no revocation pointers (CA certificate)")


@lru_cache(maxsize=1024)
def _good_per(who: str, source: str) -> Check:
    return Check("revocation", True, f"{who}: good per {source}")


@per_certificate
def _serial_hex(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "x")


@per_certificate
def _chain_entries(chain: tuple[x509.Certificate, ...]) -> tuple[ChainEntry, ...]:
    """The report's chain; keyed by the path object, which `_build_chain` hands out again."""
    return tuple(chain_entry(c) for c in chain)


#: Extensions a CA certificate may carry and still be remembered as a validated issuer: none of
#: them constrains the certificates below it in a way that depends on those certificates
#: (cryptography does no certificate-policy processing, and our policy check reads the leaf).
_HARMLESS_CA_EXTENSIONS = frozenset(
    {
        x509.BasicConstraints.oid,
        x509.KeyUsage.oid,
        x509.SubjectKeyIdentifier.oid,
        x509.AuthorityKeyIdentifier.oid,
        x509.CRLDistributionPoints.oid,
        x509.AuthorityInformationAccess.oid,
        x509.CertificatePolicies.oid,
    }
)


def _imposes_nothing(certificate: x509.Certificate) -> bool:
    """True when the CA certificate carries only extensions that put no constraint on its
    descendants' contents (so no NameConstraints, PolicyConstraints, InhibitAnyPolicy,
    extendedKeyUsage or anything we do not know)."""
    return all(oid in _HARMLESS_CA_EXTENSIONS for oid in extensions_by_oid(certificate))


_CA_POLICY = ExtensionPolicy.webpki_defaults_ca()
# Signature certificates carry no SAN and no TLS EKU; the leaf's own constraints are checked in
# _check_constraints with named checks.
_EE_POLICY = ExtensionPolicy.permit_all()


@lru_cache(maxsize=256)
def _verifier(store: Store, at: datetime) -> ClientVerifier:
    """The verifier for this store (by identity) at this time; kept, as a verifier is
    immutable and every signature verified at one moment asks for the same one."""
    return (
        PolicyBuilder()
        .store(store)
        .time(at)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
        .build_client_verifier()
    )


@dataclass(frozen=True)
class _KnownIssuer:
    """An issuing CA whose path to a root was validated: a store with it as the only anchor,
    and that path (the CA first, the root last), with what `_through_known_issuer` asks of it
    every time worked out once."""

    store: Store
    chain: tuple[x509.Certificate, ...]
    #: The SHA-256 fingerprints of the CAs between the issuing CA and the root.
    between: tuple[bytes, ...]
    #: When every certificate of the path is valid: the latest notBefore, the earliest notAfter.
    valid_from: datetime
    valid_until: datetime

    @classmethod
    def of(cls, chain: tuple[x509.Certificate, ...]) -> _KnownIssuer:
        windows = [validity(certificate) for certificate in chain]
        return cls(
            Store([chain[0]]),
            chain,
            tuple(sha256_fingerprint(certificate) for certificate in chain[1:-1]),
            max(not_before for not_before, _ in windows),
            min(not_after for _, not_after in windows),
        )


_E = TypeVar("_E", bound=x509.ExtensionType)


def _extension(certificate: x509.Certificate, kind: type[_E]) -> _E:
    """The value of the certificate's extension of this kind; raises x509.ExtensionNotFound
    (as `get_extension_for_class` does)."""
    extension = extensions_by_oid(certificate).get(kind.oid)
    if extension is None or not isinstance(extension.value, kind):
        raise x509.ExtensionNotFound(f"No {kind.__name__} extension was found", kind.oid)
    return extension.value


def _ocsp_urls(certificate: x509.Certificate) -> tuple[str, ...]:
    return _ocsp_urls_in(extensions_by_oid(certificate).get(x509.AuthorityInformationAccess.oid))


def _crl_urls(certificate: x509.Certificate) -> tuple[str, ...]:
    return _crl_urls_in(extensions_by_oid(certificate).get(x509.CRLDistributionPoints.oid))


# The URLs are read per extension object: certificates of one CA share theirs (see
# _certs.load_certificate), so each is read once, not once per certificate.


@per_certificate
def _ocsp_urls_in(extension: x509.Extension[x509.ExtensionType] | None) -> tuple[str, ...]:
    if extension is None or not isinstance(extension.value, x509.AuthorityInformationAccess):
        return ()
    return tuple(
        d.access_location.value
        for d in extension.value
        if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    )


@per_certificate
def _crl_urls_in(extension: x509.Extension[x509.ExtensionType] | None) -> tuple[str, ...]:
    if extension is None or not isinstance(extension.value, x509.CRLDistributionPoints):
        return ()
    return tuple(
        name.value
        for point in extension.value
        for name in (point.full_name or [])
        if isinstance(name, x509.UniformResourceIdentifier)
    )
