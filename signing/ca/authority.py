"""The TEST certification authority: a root and an issuing CA, their files, issuance and CRLs."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from signing.ca.crl import CRLScope, RevokedCertificate, build_crl
from signing.ca.files import (
    CA_FILES,
    ISSUING_CERT_FILE,
    ISSUING_KEY_FILE,
    ROOT_CERT_FILE,
    ROOT_KEY_FILE,
    encrypted_key,
    fsync_directory,
    load_certificate,
    load_key,
    write_new_file,
)
from signing.ca.profiles import (
    CLOCK_SKEW,
    INDIVIDUAL_VALIDITY,
    ISSUING_NAME,
    ISSUING_VALIDITY,
    POLICY_TEST_INDIVIDUAL_SIGNING,
    POLICY_TEST_ORGANISATION_SEAL,
    ROOT_NAME,
    ROOT_VALIDITY,
    SEAL_VALIDITY,
    TLS_SERVER_VALIDITY,
    CAProfile,
    Individual,
    Organisation,
    Pointers,
    Profile,
    TLSServer,
    ca_certificate,
    key_usage,
    policies,
    random_serial,
    require_aware,
    server_alternative_names,
    server_name,
    subject_name,
)
from signing.ca.requests import csr_public_key, spki_public_key
from signing.errors import BadPassphrase, CAError, WeakKey
from signing.keys import check_key_strength

#: How long relying parties may keep a CRL that `build_crl` or `build_arl` makes, unless told.
DEFAULT_CRL_PERIOD = timedelta(hours=24)


def _check_base_url(base_url: str) -> str:
    url = base_url.rstrip("/")
    if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
        raise CAError("base_url must be an http(s) URL without spaces")
    return url


class CertificationAuthority:
    """A root and an issuing CA, ECDSA P-256 throughout; the issuing CA also signs OCSP answers.

    Security caveats: both private keys live in this object, unencrypted in memory. The root key
    re-issues the issuing CA and signs the root's own CRL (the ARL).
    """

    root_certificate: x509.Certificate
    issuing_certificate: x509.Certificate
    base_url: str

    def __init__(
        self, *, root_key: ec.EllipticCurvePrivateKey, root_certificate: x509.Certificate,
        issuing_key: ec.EllipticCurvePrivateKey, issuing_certificate: x509.Certificate,
        base_url: str,
    ) -> None:
        """Prefer `create` and `load`; this checks that keys, certificates and chain agree."""
        if root_key.public_key() != root_certificate.public_key():
            raise CAError("the root key does not match the root certificate")
        if issuing_key.public_key() != issuing_certificate.public_key():
            raise CAError("the issuing key does not match the issuing certificate")
        try:
            root_certificate.verify_directly_issued_by(root_certificate)
            issuing_certificate.verify_directly_issued_by(root_certificate)
        except (ValueError, TypeError, InvalidSignature) as error:
            raise CAError("the issuing certificate is not signed by the root") from error
        self._root_key = root_key
        self._issuing_key = issuing_key
        self.root_certificate = root_certificate
        self.issuing_certificate = issuing_certificate
        self.base_url = _check_base_url(base_url)

    @classmethod
    def create(cls, *, base_url: str, moment: datetime) -> CertificationAuthority:
        """Make a new root (20 years) and issuing CA (10 years), valid from `moment` (less a few
        minutes of clock skew). Names say TEST and NOT FOR PRODUCTION; the issuing CA names the
        root's CRL (the ARL) and the root certificate.

        Security caveat: the keys exist only in memory until `save` writes them encrypted.
        """
        require_aware(moment)
        base_url = _check_base_url(base_url)
        root_key = ec.generate_private_key(ec.SECP256R1())
        issuing_key = ec.generate_private_key(ec.SECP256R1())
        start = moment - CLOCK_SKEW
        root = CAProfile(ROOT_NAME, root_key.public_key(), ROOT_NAME, root_key, start,
                         moment + ROOT_VALIDITY, path_length=1, signs_ocsp=False)
        issuing = CAProfile(ISSUING_NAME, issuing_key.public_key(), ROOT_NAME, root_key, start,
                            moment + ISSUING_VALIDITY, path_length=0, signs_ocsp=True,
                            pointers=_root_pointers(base_url))
        return cls(root_key=root_key, root_certificate=ca_certificate(root),
                   issuing_key=issuing_key, issuing_certificate=ca_certificate(issuing),
                   base_url=base_url)

    def save(self, directory: Path, passphrase: bytes) -> None:
        """Write the certificates (PEM) and the keys (PKCS#8 PEM encrypted with the passphrase)
        into `directory` (made mode 0700; files 0600, each written atomically).

        Refuses (CAError) an empty passphrase and a directory that already holds any CA file:
        a CA is never silently replaced. A crash half-way leaves some files and no CA that
        `exists`; clear it by hand after looking at what is there.
        """
        if not passphrase:
            raise CAError("refusing to save CA keys under an empty passphrase")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        present = [name for name in CA_FILES if (directory / name).exists()]
        if present:
            raise CAError(
                f"{directory} already holds CA files ({', '.join(present)}); "
                "refusing to replace a CA"
            )
        pem = serialization.Encoding.PEM
        for name, data in (
            (ROOT_KEY_FILE, encrypted_key(self._root_key, passphrase)),
            (ISSUING_KEY_FILE, encrypted_key(self._issuing_key, passphrase)),
            (ROOT_CERT_FILE, self.root_certificate.public_bytes(pem)),
            (ISSUING_CERT_FILE, self.issuing_certificate.public_bytes(pem)),
        ):
            write_new_file(directory / name, data)
        fsync_directory(directory)

    @classmethod
    def load(cls, directory: Path, passphrase: bytes, *, base_url: str) -> CertificationAuthority:
        """Read a CA that `save` wrote. Never generates anything; a CA made before the issuing
        certificate named the ARL is loaded as it is, and keeps working (see `build_arl`).

        Raises BadPassphrase when the passphrase does not decrypt the keys (or is empty), CAError
        when files are missing, unencrypted or do not belong together.
        """
        if not passphrase:
            raise BadPassphrase("an empty CA passphrase is never valid")
        missing = [name for name in CA_FILES if not (directory / name).is_file()]
        if missing:
            raise CAError(f"no complete CA in {directory} (missing {', '.join(missing)})")
        return cls(root_key=load_key(directory / ROOT_KEY_FILE, passphrase),
                   root_certificate=load_certificate(directory / ROOT_CERT_FILE),
                   issuing_key=load_key(directory / ISSUING_KEY_FILE, passphrase),
                   issuing_certificate=load_certificate(directory / ISSUING_CERT_FILE),
                   base_url=base_url)

    @property
    def created_base_url(self) -> str | None:
        """The base URL that the issuing certificate's own pointers name (the one the CA was
        created with), or None when it names none (a CA from before the ARL)."""
        suffix = _root_pointers("").crl
        try:
            points = self.issuing_certificate.extensions.get_extension_for_class(
                x509.CRLDistributionPoints
            ).value
        except x509.ExtensionNotFound:
            return None
        for point in points:
            for name in point.full_name or ():
                if isinstance(name, x509.UniformResourceIdentifier) and name.value.endswith(
                    suffix
                ):
                    return name.value.removesuffix(suffix)
        return None

    def with_base_url(self, base_url: str) -> CertificationAuthority:
        """The same CA, naming its CRL, OCSP responder and certificate under another base URL
        in what it issues and signs from now on."""
        return CertificationAuthority(
            root_key=self._root_key, root_certificate=self.root_certificate,
            issuing_key=self._issuing_key, issuing_certificate=self.issuing_certificate,
            base_url=base_url,
        )

    @staticmethod
    def exists(directory: Path) -> bool:
        """True when every CA file is present in `directory` (says nothing of the passphrase)."""
        return all((directory / name).is_file() for name in CA_FILES)

    # -- where relying parties look ------------------------------------------------------------

    # End-entity certificates name the issuing CA's CRL, OCSP responder and certificate (DER,
    # application/pkix-cert, as RFC 5280 section 4.2.2.1 asks of an http caIssuers address); the
    # issuing CA certificate names the root's own CRL (the ARL) and the root certificate.

    @property
    def crl_url(self) -> str:
        return f"{self.base_url}/pki/crl"

    @property
    def ocsp_url(self) -> str:
        return f"{self.base_url}/pki/ocsp"

    @property
    def ca_issuers_url(self) -> str:
        return f"{self.base_url}/pki/ca.cer"

    @property
    def arl_url(self) -> str:
        return _root_pointers(self.base_url).crl

    @property
    def root_issuers_url(self) -> str:
        return _root_pointers(self.base_url).ca_issuers

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """What goes with an end-entity certificate: the issuing CA (the root is the anchor)."""
        return (self.issuing_certificate,)

    # -- issuance ------------------------------------------------------------------------------

    def issue(
        self, public_key: PublicKeyTypes, subject: Individual | Organisation | TLSServer, *,
        profile: Profile, moment: datetime, validity: timedelta | None = None,
    ) -> x509.Certificate:
        """Issue an end-entity certificate for `public_key` with `subject` under `profile`.

        INDIVIDUAL (subject an Individual, 1 year) or ORGANISATION_SEAL (an Organisation, 3
        years); `validity` overrides the length. notBefore is `moment` less 5 minutes, notAfter is
        clamped to the issuing CA's. keyUsage digitalSignature+nonRepudiation (critical), EKU
        emailProtection (as the national CA does, so that S/MIME tools such as `openssl cms
        -verify` accept it for signing), the profile's TEST policy, CRL, OCSP and caIssuers
        pointers, SKI/AKI, CA:FALSE.

        TLS_SERVER (subject a TLSServer, 1 year): CN=<first host>, O=birthreg TEST, OU=TEST - NOT
        FOR PRODUCTION, C=KZ; a dNSName or iPAddress per host; keyUsage digitalSignature; EKU
        serverAuth; the pointers over http (see `signing.ca.profiles`).

        Security caveats: the caller must have checked who `subject` is and that the key holder
        possesses the private key (`issue_from_csr` / `issue_from_spki` do the latter); for a
        server, nothing here checks that it owns the hosts it names. The key must be ECDSA
        P-256/P-384 or RSA ≥ 2048 (WeakKey otherwise). Issued certificates are not recorded
        here: add them to the status source, or OCSP will answer "unknown".
        """
        require_aware(moment)
        if profile is Profile.TLS_SERVER:
            if not isinstance(subject, TLSServer):
                raise CAError("the TLS server profile needs a TLSServer subject")
            return self._issue_tls_server(public_key, subject, moment, validity)
        if isinstance(subject, TLSServer):
            raise CAError("a TLSServer subject is issued only under the TLS server profile")
        policy, default_validity = _signing_profile(profile, subject)
        validity = default_validity if validity is None else validity
        builder = self._end_entity(public_key, subject_name(subject), moment, validity,
                                   self._pointers())
        usage = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION])
        return (
            builder.add_extension(key_usage(signs=True, commits=True), critical=True)
            .add_extension(usage, critical=False)
            .add_extension(policies(policy), critical=False)
            .sign(self._issuing_key, hashes.SHA256())
        )

    def _issue_tls_server(
        self, public_key: PublicKeyTypes, subject: TLSServer, moment: datetime,
        validity: timedelta | None,
    ) -> x509.Certificate:
        names = x509.SubjectAlternativeName(server_alternative_names(subject.hosts))
        validity = TLS_SERVER_VALIDITY if validity is None else validity
        builder = self._end_entity(public_key, server_name(subject), moment, validity,
                                   self._pointers().over_http())
        usage = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
        return (
            builder.add_extension(key_usage(signs=True), critical=True)
            .add_extension(usage, critical=False)
            .add_extension(names, critical=False)
            .sign(self._issuing_key, hashes.SHA256())
        )

    def _pointers(self) -> Pointers:
        return Pointers(crl=self.crl_url, ocsp=self.ocsp_url, ca_issuers=self.ca_issuers_url)

    def _end_entity(
        self, public_key: PublicKeyTypes, name: x509.Name, moment: datetime,
        validity: timedelta, pointers: Pointers,
    ) -> x509.CertificateBuilder:
        """What every end-entity certificate shares: the key checks, a random serial, validity
        clamped to the issuing CA's, CA:FALSE, the pointers, SKI/AKI."""
        check_key_strength(public_key)
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise WeakKey("only ECDSA and RSA keys are certified")  # check_key_strength says so too
        if public_key in (self.root_certificate.public_key(), self._issuing_key.public_key()):
            raise CAError("refusing to certify a CA key as an end entity")
        if validity <= timedelta(0):
            raise CAError("validity must be positive")
        ca_not_before = self.issuing_certificate.not_valid_before_utc
        ca_not_after = self.issuing_certificate.not_valid_after_utc
        if not ca_not_before <= moment < ca_not_after:
            raise CAError("the issuing CA is not valid at the moment of issue")
        issuing_ski = self.issuing_certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(self.issuing_certificate.subject)
            .public_key(public_key)
            .serial_number(random_serial())
            .not_valid_before(max(moment - CLOCK_SKEW, ca_not_before))
            .not_valid_after(min(moment + validity, ca_not_after))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        for extension in pointers.extensions():
            builder = builder.add_extension(extension, critical=False)
        return builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuing_ski),
            critical=False,
        )

    def issue_from_csr(
        self,
        csr: bytes,
        subject: Individual | Organisation,
        *,
        moment: datetime,
        profile: Profile = Profile.INDIVIDUAL,
    ) -> x509.Certificate:
        """Issue for the key in a PKCS#10 request (PEM or DER) once its signature proves that the
        requester holds the private key (`signing.ca.requests.csr_public_key`).

        Security caveats: everything the CSR asks for apart from its public key is ignored; the
        subject comes only from `subject` (the identity the ward checked), never from the CSR, so
        a CSR naming another IIN still gets the caller's identity. Raises
        InvalidCertificateRequest, WeakKey, ProofOfPossessionFailed.
        """
        return self.issue(csr_public_key(csr), subject, profile=profile, moment=moment)

    def issue_from_spki(
        self, spki_der: bytes, proof: bytes, challenge: bytes, subject: Individual, *,
        moment: datetime,
    ) -> x509.Certificate:
        """Issue an individual certificate for a WebCrypto key whose proof of possession over
        `challenge` verifies (see `signing.ca.requests.spki_public_key` and its caveats)."""
        public_key = spki_public_key(spki_der, proof, challenge)
        return self.issue(public_key, subject, profile=Profile.INDIVIDUAL, moment=moment)

    def issue_with_new_key(
        self, subject: Individual | Organisation | TLSServer, *, profile: Profile,
        moment: datetime,
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """Make a fresh P-256 key and issue its certificate (ward desk PKCS#12, seals).

        Security caveat: the server has held this private key; hand it over once and keep no copy.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        return key, self.issue(key.public_key(), subject, profile=profile, moment=moment)

    # -- revocation ----------------------------------------------------------------------------

    def sign_ocsp_response(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse:
        """Sign an OCSP response with the issuing CA key (ECDSA-SHA256); used by `signing.ocsp`.

        Security caveat: this signs whatever the builder says; only `signing.ocsp.respond`, which
        answers for this CA's own certificates, should call it.
        """
        return builder.sign(self._issuing_key, hashes.SHA256())

    def build_crl(
        self, revoked: Iterable[RevokedCertificate], *, number: int, moment: datetime,
        next_update: timedelta = DEFAULT_CRL_PERIOD, previous_update: datetime | None = None,
    ) -> x509.CertificateRevocationList:
        """The issuing CA's CRL of end-entity certificates, under the profile in
        `signing.ca.crl` (its security caveats apply): thisUpdate `moment`, nextUpdate
        `moment` + `next_update`, certificates expired before `previous_update` left out."""
        scope = CRLScope(self.issuing_certificate, self._issuing_key, self.crl_url, False)
        return build_crl(scope, revoked, number=number, moment=moment, next_update=next_update,
                         previous_update=previous_update)

    def build_arl(
        self, revoked: Iterable[RevokedCertificate] = (), *, number: int, moment: datetime,
        next_update: timedelta = DEFAULT_CRL_PERIOD,
    ) -> x509.CertificateRevocationList:
        """The root's CRL of CA certificates (the ARL), signed by the root, under the profile in
        `signing.ca.crl`. Its issuingDistributionPoint names no URL: it covers every CA
        certificate of the root, the root's own included (which names no CRL, and which `openssl
        verify -crl_check_all` checks too), and an issuing CA made before it pointed here."""
        scope = CRLScope(self.root_certificate, self._root_key, None, True)
        return build_crl(scope, revoked, number=number, moment=moment, next_update=next_update)


def _root_pointers(base_url: str) -> Pointers:
    return Pointers(f"{base_url}/pki/root.crl", None, f"{base_url}/pki/root.cer")


def _signing_profile(
    profile: Profile, subject: Individual | Organisation
) -> tuple[x509.ObjectIdentifier, timedelta]:
    """The policy and default validity of a signing profile, once the subject fits it."""
    if profile is Profile.INDIVIDUAL:
        if not isinstance(subject, Individual):
            raise CAError("the individual profile needs an Individual subject")
        return POLICY_TEST_INDIVIDUAL_SIGNING, INDIVIDUAL_VALIDITY
    if profile is Profile.ORGANISATION_SEAL:
        if not isinstance(subject, Organisation):
            raise CAError("the organisation seal profile needs an Organisation subject")
        return POLICY_TEST_ORGANISATION_SEAL, SEAL_VALIDITY
    raise CAError(f"profile {profile!s} is not issued: the issuing CA signs OCSP answers itself")
