"""Revocation look-ups (signing.revocation) through the validator: OCSP first, the CRL as the
fallback, answers kept until stale, a CRL used only within its scope, and freshness: the
signer's status is taken only from information issued after the signature was made."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from conftest import MOTHER, PKI, Party
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fetchers import InProcessFetcher
from hierarchy import MOMENT, CRLFetcher, authority, leaf, signed

from signing import revocation
from signing.ca import Individual, InMemoryCertificateStatus, Profile
from signing.report import Indication, RevocationState, SignatureReport, SubIndication
from signing.revocation import RevocationCache, RevocationUnavailable
from signing.signature import VerifiedSignature
from signing.trust import TrustAnchors, Validator


class CountingFetcher:
    """The in-process CA's answers, counted, and either source switched off at will."""

    def __init__(
        self, inner: InProcessFetcher, *, ocsp_down: bool = False, crl_down: bool = False
    ) -> None:
        self.inner, self.ocsp_down, self.crl_down = inner, ocsp_down, crl_down
        self.crl_urls: list[str] = []
        self.ocsp_calls = 0

    @property
    def crl_calls(self) -> int:
        """CRLs fetched for end-entity certificates (the root's CRL, the ARL, is not counted)."""
        return sum(1 for url in self.crl_urls if url == self.inner.ca.crl_url)

    def fetch_crl(self, url: str) -> bytes:
        self.crl_urls.append(url)
        if self.crl_down and url == self.inner.ca.crl_url:
            raise ConnectionRefusedError("down")
        return self.inner.fetch_crl(url)

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        self.ocsp_calls += 1
        if self.ocsp_down:
            raise TimeoutError("down")
        return self.inner.post_ocsp(url, request_der)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _counting(
    pki: PKI,
    clock: Callable[[], datetime],
    statuses: InMemoryCertificateStatus | None = None,
    **down: bool,
) -> CountingFetcher:
    return CountingFetcher(InProcessFetcher(pki.ca, statuses or pki.statuses, clock=clock), **down)


def _validator(pki: PKI, fetcher: object, **kwargs: object) -> Validator:
    return Validator(TrustAnchors([pki.root]), fetcher, **kwargs)  # type: ignore[arg-type]


def _by(party: Party, at: datetime | None) -> VerifiedSignature:
    return signed(party.certificate, party.chain, at)


def _check(
    validator: Validator, signature: VerifiedSignature, moment: datetime, **kwargs: object
) -> SignatureReport:
    return validator.validate(signature, moment=moment, purpose="individual", **kwargs)  # type: ignore[arg-type]


def _new_mother(pki: PKI, statuses: InMemoryCertificateStatus, issued: datetime) -> Party:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = pki.ca.issue(key.public_key(), MOTHER, profile=Profile.INDIVIDUAL, moment=issued)
    statuses.add(certificate)
    return Party(key, certificate, pki.ca.chain, MOTHER)


# -- where answers come from ---------------------------------------------------------------------


def test_answers_are_kept_until_stale(pki: PKI) -> None:
    fetcher = _counting(pki, lambda: pki.moment)
    validator = _validator(pki, fetcher)
    signature = _by(pki.mother, pki.moment)
    for _ in range(3):
        assert _check(validator, signature, pki.moment).passed
    assert fetcher.ocsp_calls == 1
    assert fetcher.crl_urls == [pki.ca.arl_url]  # the issuing CA's status, once
    # Past the answer's nextUpdate (an hour) it is no longer used; the responder, whose clock
    # stayed behind, gives another stale answer, so the CRL (a day) decides.
    report = _check(validator, signature, pki.moment + timedelta(hours=2))
    assert report.passed, report.checks
    assert report.revocation.source == f"crl {pki.ca.crl_url}"
    assert (fetcher.ocsp_calls, fetcher.crl_calls) == (2, 1)


def test_crl_is_the_fallback_when_ocsp_is_down(pki: PKI) -> None:
    later = pki.moment + timedelta(days=2)
    fetcher = _counting(pki, lambda: later, ocsp_down=True)
    validator = _validator(pki, fetcher)
    report = _check(validator, _by(pki.revoked_signer, later), later)
    assert report.sub_indication is SubIndication.REVOKED
    assert report.revocation.source == f"crl {pki.ca.crl_url}"
    assert _check(validator, _by(pki.mother, later), later).passed
    assert fetcher.crl_calls == 1  # the CRL kept for the next certificate too


def test_no_revocation_answer_is_try_later(pki: PKI) -> None:
    fetcher = _counting(pki, lambda: pki.moment, ocsp_down=True, crl_down=True)
    report = _check(_validator(pki, fetcher), _by(pki.mother, pki.moment), pki.moment)
    assert (report.indication, report.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.TRY_LATER,
    )
    assert "OCSP responder unreachable" in report.checks[-1].detail


def test_answers_signed_by_another_ca_are_not_believed(pki: PKI) -> None:
    """An attacker answering "good" for the revoked signer, from a CA of their own with the
    same names, gets nowhere."""

    class Impostor:
        def fetch_crl(self, url: str) -> bytes:
            crl = pki.other_ca.build_crl([], number=1, moment=pki.moment + timedelta(days=2))
            return crl.public_bytes(serialization.Encoding.DER)

        def post_ocsp(self, url: str, request_der: bytes) -> bytes:
            from signing import ocsp

            return ocsp.respond(
                request_der,
                ca=pki.other_ca,
                statuses=pki.other_statuses,
                moment=pki.moment + timedelta(days=2),
            )

    later = pki.moment + timedelta(days=2)
    report = _check(_validator(pki, Impostor()), _by(pki.revoked_signer, later), later)
    assert report.sub_indication is SubIndication.TRY_LATER
    detail = report.checks[-1].detail
    assert "OCSP answered UNAUTHORIZED" in detail and "CRL signature is invalid" in detail


def test_an_ocsp_answer_under_an_unknown_digest_is_no_answer(pki: PKI) -> None:
    """A responder that names the certificate under a digest we do not know is not believed,
    and does not make `validate` raise: the CRL decides; without it, try later."""
    from asn1crypto import ocsp as asn1_ocsp

    class OddDigest(CountingFetcher):
        def post_ocsp(self, url: str, request_der: bytes) -> bytes:
            answer = asn1_ocsp.OCSPResponse.load(super().post_ocsp(url, request_der))
            basic = answer["response_bytes"]["response"].parsed
            data = basic["tbs_response_data"]
            for single in data["responses"]:
                single["cert_id"]["hash_algorithm"]["algorithm"] = "1.2.3.4.5"
            data = asn1_ocsp.ResponseData.load(data.dump(force=True))
            basic["tbs_response_data"] = data
            basic["signature"] = pki.ca._issuing_key.sign(data.dump(), ec.ECDSA(hashes.SHA256()))
            answer["response_bytes"]["response"] = asn1_ocsp.BasicOCSPResponse.load(
                basic.dump(force=True)
            )
            return bytes(answer.dump(force=True))

    inner = InProcessFetcher(pki.ca, pki.statuses, clock=lambda: pki.moment)
    fetcher = OddDigest(inner)
    report = _check(_validator(pki, fetcher), _by(pki.mother, pki.moment), pki.moment)
    assert report.passed, report.checks
    assert report.revocation.source == f"crl {pki.ca.crl_url}"
    assert (fetcher.ocsp_calls, fetcher.crl_calls) == (1, 1)
    without_crl = OddDigest(inner, crl_down=True)
    report = _check(_validator(pki, without_crl), _by(pki.mother, pki.moment), pki.moment)
    assert report.sub_indication is SubIndication.TRY_LATER
    assert "another certificate" in report.checks[-1].detail


def test_a_cache_can_be_shared_and_cleared(pki: PKI) -> None:
    cache = RevocationCache()
    fetcher = _counting(pki, lambda: pki.moment)
    signature = _by(pki.mother, pki.moment)
    assert _check(_validator(pki, fetcher, cache=cache), signature, pki.moment).passed
    assert _check(_validator(pki, fetcher, cache=cache), signature, pki.moment).passed
    assert fetcher.ocsp_calls == 1
    cache.clear()
    assert _check(_validator(pki, fetcher, cache=cache), signature, pki.moment).passed
    assert fetcher.ocsp_calls == 2


def test_the_cache_stays_bounded(pki: PKI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(revocation, "CACHE_ENTRIES", 3)
    cache = RevocationCache()
    for serial in range(10):
        cache.keep(
            ("http://x.test", pki.issuing, serial), serial, pki.moment, pki.moment, pki.moment
        )
    kept = [s for s in range(10) if cache.get(("http://x.test", pki.issuing, s), pki.moment, None)]
    assert kept == [7, 8, 9]


def test_crl_first_answers_many_signers_with_one_fetch(pki: PKI) -> None:
    fetcher = _counting(pki, lambda: pki.moment)
    validator = _validator(pki, fetcher, prefer="crl")
    for party in (pki.mother, pki.father, pki.rsa_signer):
        report = _check(validator, _by(party, pki.moment), pki.moment)
        assert report.passed
        assert report.revocation.source == f"crl {pki.ca.crl_url}"
    assert (fetcher.crl_calls, fetcher.ocsp_calls) == (1, 0)


def test_revocation_status_of_one_certificate(pki: PKI) -> None:
    later = pki.moment + timedelta(days=2)
    validator = _validator(pki, _counting(pki, lambda: later))
    status = validator.revocation.status(pki.revoked_signer.certificate, pki.issuing, later)
    assert (status.state, status.reason) == (RevocationState.REVOKED, "key_compromise")
    with pytest.raises(RevocationUnavailable, match="nothing newer yet"):
        validator.revocation.status(
            pki.mother.certificate, pki.issuing, later, since=later + timedelta(minutes=1)
        )


# -- the signer's status ---------------------------------------------------------------------------


def test_revoked_signer_before_and_after_the_signing_time(pki: PKI) -> None:
    revoked_at = pki.moment + timedelta(days=1)
    later = pki.moment + timedelta(days=2)
    validator = _validator(pki, _counting(pki, lambda: later))
    report = _check(validator, _by(pki.revoked_signer, revoked_at + timedelta(hours=6)), later)
    assert (report.indication, report.sub_indication) == (
        Indication.TOTAL_FAILED,
        SubIndication.REVOKED,
    )
    assert report.revocation.state is RevocationState.REVOKED
    assert report.revocation.reason == "key_compromise"
    assert report.revocation.revoked_at == revoked_at
    # Claims to have signed before the revocation: nothing proves it.
    report = _check(validator, _by(pki.revoked_signer, pki.moment), later)
    assert (report.indication, report.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.REVOKED_NO_POE,
    )


def test_revoked_signer_is_good_before_its_revocation(pki: PKI) -> None:
    validator = _validator(pki, _counting(pki, lambda: pki.moment))
    assert _check(validator, _by(pki.revoked_signer, pki.moment), pki.moment).passed


def test_signer_without_revocation_pointers_is_refused() -> None:
    root = authority("Pointless Root", issuer=None)
    bare = leaf(root, Individual("940315400014", "Әбілқасымова", "Гүлнұр")).certificate
    # The same certificate without its CRL pointer, signed again by the root.
    certificate = x509.CertificateBuilder(
        issuer_name=bare.issuer,
        subject_name=bare.subject,
        public_key=bare.public_key(),
        serial_number=bare.serial_number,
        not_valid_before=bare.not_valid_before_utc,
        not_valid_after=bare.not_valid_after_utc,
        extensions=[
            e for e in bare.extensions if not isinstance(e.value, x509.CRLDistributionPoints)
        ],
    ).sign(root.key, hashes.SHA256())
    report = Validator(TrustAnchors([root.certificate]), CRLFetcher()).validate(
        signed(certificate), moment=MOMENT
    )
    assert report.sub_indication is SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE
    assert "names no OCSP responder and no CRL" in report.checks[-1].detail


def test_certificate_unknown_to_the_ca(pki: PKI) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = pki.ca.issue(
        key.public_key(),
        Individual("940315400074", "Ахметова", "Сая"),
        profile=Profile.INDIVIDUAL,
        moment=pki.moment - timedelta(hours=1),
    )
    # Issued but never recorded: OCSP says "unknown", and that is not "good".
    validator = _validator(pki, _counting(pki, lambda: pki.moment))
    report = _check(validator, signed(certificate, pki.mother.chain, pki.moment), pki.moment)
    assert report.sub_indication is SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE
    assert "does not know" in report.checks[-1].detail


# -- freshness ------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefer", ["crl", "ocsp"])
def test_a_revoked_key_signing_two_seconds_later_is_refused(pki: PKI, prefer: str) -> None:
    """The attack of the issue: a mother's key is revoked; a dossier she signs two seconds
    later must be refused as REVOKED, not passed as "good" per the CRL kept from before."""
    statuses = InMemoryCertificateStatus()
    t0 = pki.moment
    mother = _new_mother(pki, statuses, t0 - timedelta(days=1))
    clock = Clock(t0)
    fetcher = _counting(pki, clock, statuses)
    validator = _validator(pki, fetcher, prefer=prefer)
    before = _check(validator, _by(mother, t0), t0)
    assert before.passed
    assert before.revocation.next_update is not None and before.revocation.next_update > t0
    revoked_at = t0 + timedelta(minutes=10)
    statuses.revoke(mother.certificate.serial_number, revoked_at, x509.ReasonFlags.key_compromise)
    signed_at = clock.now = revoked_at + timedelta(seconds=2)
    report = _check(validator, _by(mother, signed_at), signed_at)
    assert report.sub_indication is SubIndication.REVOKED, report.checks
    assert report.indication is Indication.TOTAL_FAILED
    assert report.revocation.state is RevocationState.REVOKED
    assert report.revocation.this_update is not None and report.revocation.this_update >= revoked_at


def test_a_kept_answer_older_than_the_signature_is_asked_again(pki: PKI) -> None:
    clock = Clock(pki.moment)
    fetcher = _counting(pki, clock)
    validator = _validator(pki, fetcher)
    assert _check(validator, _by(pki.mother, pki.moment), pki.moment).passed
    assert _check(validator, _by(pki.mother, pki.moment - timedelta(minutes=5)), pki.moment).passed
    assert fetcher.ocsp_calls == 1  # older signatures: the kept answer is fresh enough
    clock.now = later = pki.moment + timedelta(seconds=1)
    report = _check(validator, _by(pki.mother, later), later)
    assert report.passed
    assert fetcher.ocsp_calls == 2
    assert report.revocation.this_update == later


def test_a_crl_issued_before_the_signature_never_says_good(pki: PKI) -> None:
    """The ward's CRL is issued at each change and served as stored: for a signature made after
    its issue it is too old, and with OCSP down the answer is "try later", never "good"."""
    stored_at = pki.moment - timedelta(minutes=20)
    stored = pki.ca.build_crl(pki.statuses.revoked(), number=9, moment=stored_at)

    class Ward(CountingFetcher):
        def fetch_crl(self, url: str) -> bytes:
            if url == pki.ca.crl_url:
                self.crl_urls.append(url)
                return stored.public_bytes(serialization.Encoding.DER)
            return super().fetch_crl(url)

    fetcher = Ward(InProcessFetcher(pki.ca, pki.statuses, clock=lambda: pki.moment), ocsp_down=True)
    validator = _validator(pki, fetcher)
    report = _check(validator, _by(pki.mother, pki.moment), pki.moment)
    assert report.sub_indication is SubIndication.TRY_LATER
    assert "nothing newer yet" in report.checks[-1].detail
    # Asked again for the next signature (the kept CRL is not taken for newer information)...
    _check(validator, _by(pki.mother, pki.moment), pki.moment)
    assert fetcher.crl_calls == 2
    # ...and good for a signature made before its issue.
    older = stored_at - timedelta(minutes=1)
    assert _check(validator, _by(pki.mother, older), pki.moment).passed


def test_without_a_claimed_time_the_moment_is_the_signatures_time(pki: PKI) -> None:
    clock = Clock(pki.moment - timedelta(minutes=1))
    fetcher = _counting(pki, clock)
    validator = _validator(pki, fetcher)
    assert _check(validator, _by(pki.mother, clock.now), clock.now).passed
    clock.now = pki.moment
    assert _check(validator, _by(pki.mother, None), pki.moment).passed
    assert fetcher.ocsp_calls == 2


def test_a_signing_time_ahead_of_the_moment_needs_information_from_the_moment(pki: PKI) -> None:
    """A signer's clock a little ahead: the signature is in front of us, so information from
    the moment of validation is new enough."""
    fetcher = _counting(pki, lambda: pki.moment)
    ahead = pki.moment + timedelta(minutes=2)
    assert _check(_validator(pki, fetcher), _by(pki.mother, ahead), pki.moment).passed


def test_registration_can_ask_for_information_since_its_own_moment(pki: PKI) -> None:
    """A key revoked between intake and registration: the answer kept from intake is still
    current, so only `fresh_since` (the moment of registering) makes the validator look again."""
    statuses = InMemoryCertificateStatus()
    intake = pki.moment
    mother = _new_mother(pki, statuses, intake - timedelta(days=1))
    clock = Clock(intake)
    validator = _validator(pki, _counting(pki, clock, statuses))
    signature = _by(mother, intake - timedelta(minutes=1))
    assert _check(validator, signature, intake).passed
    statuses.revoke(mother.certificate.serial_number, intake + timedelta(minutes=5))
    clock.now = registering = intake + timedelta(minutes=10)
    assert _check(validator, signature, registering).passed  # the kept answer: still current
    report = _check(validator, signature, registering, fresh_since=registering)
    assert report.sub_indication is SubIndication.REVOKED_NO_POE
    assert report.revocation.state is RevocationState.REVOKED


def test_information_of_the_same_second_is_fresh(pki: PKI) -> None:
    """CRL and OCSP times are whole seconds: an answer made 200 ms after a signature made half
    a second into a second carries that second, and counts as issued after it."""
    signed_at = pki.moment + timedelta(milliseconds=500)
    answered = pki.moment + timedelta(milliseconds=700)
    fetcher = _counting(pki, lambda: answered)
    report = _check(_validator(pki, fetcher), _by(pki.mother, signed_at), answered)
    assert report.passed, report.checks
    assert report.revocation.this_update == pki.moment


def test_a_cas_status_need_not_follow_the_signature(pki: PKI) -> None:
    """The root's CRL (the ARL) is issued rarely: it must be current, not newer than the
    signature."""
    arl_at = pki.moment - timedelta(days=3)
    arl = pki.ca.build_arl(number=1, moment=arl_at, next_update=timedelta(days=7))

    class RareARL(CountingFetcher):
        def fetch_crl(self, url: str) -> bytes:
            if url == pki.ca.arl_url:
                return arl.public_bytes(serialization.Encoding.DER)
            return super().fetch_crl(url)

    fetcher = RareARL(InProcessFetcher(pki.ca, pki.statuses, clock=lambda: pki.moment))
    report = _check(_validator(pki, fetcher), _by(pki.mother, pki.moment), pki.moment)
    assert report.passed, report.checks


# -- a CRL's scope (its issuingDistributionPoint) -------------------------------------------------


def _scoped(publish: Callable[..., object]) -> tuple[Validator, VerifiedSignature]:
    """root → issuing CA → mother, with the CRLs `publish(fetcher, root, issuing)` makes."""
    root = authority("Scope Root", issuer=None)
    issuing = authority("Scope Issuing", issuer=root, path_length=0)
    fetcher = CRLFetcher()
    publish(fetcher, root, issuing)
    party = leaf(issuing, Individual("940315400014", "Әбілқасымова", "Гүлнұр"))
    validator = Validator(TrustAnchors([root.certificate]), fetcher)
    return validator, signed(party.certificate, (issuing.certificate,))


def test_crls_in_their_scope_are_used() -> None:
    def publish(fetcher: CRLFetcher, root, issuing) -> None:  # type: ignore[no-untyped-def]
        root.publish(fetcher, ca_certificates=True)
        issuing.publish(fetcher)

    validator, signature = _scoped(publish)
    assert validator.validate(signature, moment=MOMENT).passed


@pytest.mark.parametrize(
    ("case", "refusal"),
    [
        ("another distribution point", "CRL is for another distribution point"),
        ("ca-only CRL for the leaf", "CRL covers CA certificates only"),
        ("user-only CRL for the CA", "CRL covers end-entity certificates, not this CA"),
    ],
)
def test_a_crl_out_of_its_scope_is_not_used(case: str, refusal: str) -> None:
    def publish(fetcher: CRLFetcher, root, issuing) -> None:  # type: ignore[no-untyped-def]
        root.publish(fetcher, ca_certificates=case != "user-only CRL for the CA")
        if case == "another distribution point":
            crl = issuing.publish(fetcher, url="http://pki.test/elsewhere.crl")
            fetcher.crls[issuing.crl_url] = crl.public_bytes(serialization.Encoding.DER)
        else:
            issuing.publish(fetcher, ca_certificates=case == "ca-only CRL for the leaf")

    validator, signature = _scoped(publish)
    report = validator.validate(signature, moment=MOMENT)
    assert report.sub_indication is SubIndication.TRY_LATER
    assert refusal in report.checks[-1].detail


def test_a_partial_crl_is_not_used_and_one_without_scope_covers_all() -> None:
    def publish(fetcher: CRLFetcher, root, issuing, *, partial: bool) -> None:  # type: ignore[no-untyped-def]
        root.publish(fetcher, ca_certificates=True)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuing.certificate.subject)
            .last_update(MOMENT)
            .next_update(MOMENT + timedelta(days=1))
        )
        if partial:
            builder = builder.add_extension(
                x509.IssuingDistributionPoint(
                    full_name=None,
                    relative_name=None,
                    only_contains_user_certs=True,
                    only_contains_ca_certs=False,
                    only_some_reasons=frozenset({x509.ReasonFlags.key_compromise}),
                    indirect_crl=False,
                    only_contains_attribute_certs=False,
                ),
                critical=True,
            )
        crl = builder.sign(issuing.key, hashes.SHA256())
        fetcher.crls[issuing.crl_url] = crl.public_bytes(serialization.Encoding.DER)

    validator, signature = _scoped(lambda f, r, i: publish(f, r, i, partial=True))
    report = validator.validate(signature, moment=MOMENT)
    assert report.sub_indication is SubIndication.TRY_LATER
    assert "CRL is partial or indirect" in report.checks[-1].detail
    validator, signature = _scoped(lambda f, r, i: publish(f, r, i, partial=False))
    assert validator.validate(signature, moment=MOMENT).passed


def test_a_crl_that_cannot_be_read_is_no_answer() -> None:
    """Signed by its issuer, but with an extension twice: cryptography reads extensions only
    when asked, and the validator says "try later" instead of raising."""
    from asn1crypto import crl as asn1_crl

    def publish(fetcher: CRLFetcher, root, issuing) -> None:  # type: ignore[no-untyped-def]
        root.publish(fetcher, ca_certificates=True)
        crl = asn1_crl.CertificateList.load(issuing.publish(fetcher).public_bytes(
            serialization.Encoding.DER
        ))
        tbs = crl["tbs_cert_list"]
        tbs["crl_extensions"].append(tbs["crl_extensions"][0].copy())
        tbs = asn1_crl.TbsCertList.load(tbs.dump(force=True))
        crl["tbs_cert_list"] = tbs
        crl["signature"] = issuing.key.sign(tbs.dump(), ec.ECDSA(hashes.SHA256()))
        fetcher.crls[issuing.crl_url] = crl.dump(force=True)

    validator, signature = _scoped(publish)
    report = validator.validate(signature, moment=MOMENT)
    assert report.sub_indication is SubIndication.TRY_LATER
    assert "cannot be read" in report.checks[-1].detail
