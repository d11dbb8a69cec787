"""The TEST certification authority: hierarchy, profiles, issuance, PKCS#12, revocation, CRL.

Every name it issues says TEST: the CA names carry "TEST" and "NOT FOR PRODUCTION", and every
end-entity subject has the extra attribute `OU=TEST - NOT FOR PRODUCTION` (organisations keep their
`OU=BIN…` as well, so look for the OU that starts with "BIN", never at "the" OU).

It is stateless about what it issued: the caller keeps the list of issued and revoked certificates
(a `CertificateStatusSource`) and hands it in for CRLs and OCSP.

OCSP responses are signed by the issuing CA itself (RFC 6960 section 4.2.2.2, first case), not by a
delegated responder: a delegated responder certificate with id-pkix-ocsp-nocheck cannot itself be
revoked, would have to be renewed, and would give verifiers one more certificate to judge, while
here it would live on the same machine under the same passphrase as the issuing key anyway.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import tempfile
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from signing.errors import (
    BadPassphrase,
    CAError,
    InvalidCertificateRequest,
    ProofOfPossessionFailed,
    SigningError,
    WeakKey,
)
from signing.identity import validate_bin, validate_iin
from signing.keys import check_key_strength
from signing.names import validate_person_name
from signing.report import RevocationState

#: Our OID arc: a UUID OID (ITU-T X.667, "2.25.<uuid as integer>"), which needs no registration.
#: The UUID is 5726a319-077e-4107-bd35-eca923182d3f, generated once (uuid4) for birthreg.
OID_ARC = "2.25.115843450929700489290006433803567377727"
#: Certificate policies (arc.1): a TEST individual's signing key, a TEST organisation seal.
POLICY_TEST_INDIVIDUAL_SIGNING = x509.ObjectIdentifier(f"{OID_ARC}.1.1")
POLICY_TEST_ORGANISATION_SEAL = x509.ObjectIdentifier(f"{OID_ARC}.1.2")

ENROLL_CHALLENGE_PREFIX = b"birthreg-enroll:"

#: The attribute that marks every end-entity name as TEST.
TEST_MARKER = "TEST - NOT FOR PRODUCTION"
ROOT_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "birthreg TEST Root CA - NOT FOR PRODUCTION"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "birthreg TEST"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
    ]
)
ISSUING_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "birthreg TEST Issuing CA - NOT FOR PRODUCTION"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "birthreg TEST"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
    ]
)

ROOT_VALIDITY = timedelta(days=7305)  # 20 years
ISSUING_VALIDITY = timedelta(days=3653)  # 10 years
INDIVIDUAL_VALIDITY = timedelta(days=365)
SEAL_VALIDITY = timedelta(days=3 * 365)
TLS_SERVER_VALIDITY = timedelta(days=365)
#: notBefore is set this far before the moment of issue, so that a verifier whose clock is a
#: little behind ours does not see a brand-new certificate as not yet valid.
CLOCK_SKEW = timedelta(minutes=5)
#: Upper bound of serial numbers: 128 random bits (RFC 5280 allows up to 20 octets; CA/B asks for
#: at least 64 bits of randomness).
SERIAL_BITS = 128
MIN_PKCS12_PASSWORD_CHARS = 10
PKCS12_KDF_ROUNDS = 600_000

_ROOT_CERT_FILE = "root.pem"
_ISSUING_CERT_FILE = "ca.pem"
_ROOT_KEY_FILE = "root-key.pem"
_ISSUING_KEY_FILE = "ca-key.pem"
_CA_FILES = (_ROOT_KEY_FILE, _ISSUING_KEY_FILE, _ROOT_CERT_FILE, _ISSUING_CERT_FILE)


class InvalidKeyFile(SigningError):
    """A PKCS#12 key file that cannot be read at all (not PKCS#12, or without key/certificate)."""

    code = "invalid_key_file"


class BadKeyFilePassword(InvalidKeyFile):
    """A well-formed PKCS#12 key file that the password does not open."""

    code = "bad_key_file_password"


def enrollment_challenge(code: str) -> bytes:
    """The bytes a WebCrypto key signs to prove possession: b"birthreg-enroll:" + code."""
    return ENROLL_CHALLENGE_PREFIX + code.encode("utf-8")


@dataclass(frozen=True)
class Individual:
    """A person: CN=SURNAME GIVENNAME, SURNAME, GIVENNAME=<patronymic>, SERIALNUMBER=IIN…, C=KZ."""

    iin: str
    surname: str
    given_name: str
    patronymic: str | None = None


@dataclass(frozen=True)
class Organisation:
    """An organisation seal: CN=<name>, O=<name>, OU=BIN…, C=KZ."""

    bin: str
    name: str


@dataclass(frozen=True)
class TLSServer:
    """A web server: the host names and IP addresses it answers to (the first is its CN)."""

    hosts: tuple[str, ...]


class Profile(StrEnum):
    INDIVIDUAL = "individual"
    ORGANISATION_SEAL = "organisation_seal"
    #: HTTPS for the service itself (`birthreg serve --tls`): serverAuth, SAN, one year.
    TLS_SERVER = "tls_server"
    #: Not issued: OCSP responses are signed by the issuing CA itself (see the module docstring).
    OCSP_RESPONDER = "ocsp_responder"


@dataclass(frozen=True)
class CertificateStatus:
    state: RevocationState  # GOOD, REVOKED or UNKNOWN (never issued by this CA)
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None


@dataclass(frozen=True)
class RevokedCertificate:
    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags = x509.ReasonFlags.unspecified


class CertificateStatusSource(Protocol):
    """What the CA issued and revoked; the service keeps it in its database."""

    def status(self, serial: int) -> CertificateStatus: ...

    def revoked(self) -> Iterable[RevokedCertificate]: ...


# -- helpers ----------------------------------------------------------------------------------


def _require_aware(moment: datetime, what: str = "moment") -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CAError(f"{what} must be timezone-aware")


def random_serial() -> int:
    """A positive, non-zero serial number of at most 128 random bits (`secrets`)."""
    while True:
        serial = secrets.randbits(SERIAL_BITS)
        if serial:
            return serial


def _attribute(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute[str]:
    try:
        return x509.NameAttribute(oid, value)
    except ValueError as error:  # e.g. CN longer than 64 characters (X.520 upper bound)
        raise CAError(f"cannot put this name in a certificate: {error}") from error


def _organisation_name(name: str) -> str:
    """Organisation names are free text (NFC), but must fit X.520's 64 characters and hold no
    control, format or unusual space characters."""
    if not isinstance(name, str):
        raise CAError("organisation name must be a string")
    name = unicodedata.normalize("NFC", name)
    if not name or name != name.strip() or "  " in name:
        raise CAError("organisation name must be non-empty, without outer or double spaces")
    if len(name) > 64:
        raise CAError("organisation name longer than 64 characters")
    if any(not c.isprintable() for c in name):
        raise CAError("organisation name contains control or invisible characters")
    return name


def _signing_key_usage(*, non_repudiation: bool) -> x509.KeyUsage:
    """digitalSignature, and nonRepudiation (content commitment) for document signatures."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def subject_name(subject: Individual | Organisation) -> x509.Name:
    """The X.509 subject for a person or an organisation, after validating every part.

    Individuals: CN=SURNAME GIVENNAME, SURNAME=, GIVENNAME=<patronymic> (only when there is one),
    SERIALNUMBER=IIN<12 digits>, OU=TEST - NOT FOR PRODUCTION, C=KZ. Organisations: CN=<name>,
    O=<name>, OU=BIN<12 digits>, OU=TEST - NOT FOR PRODUCTION, C=KZ. Attributes are in that order
    in the DER (the order the national profile shows them). Names are taken in their NFC form and
    case is kept as given. Raises InvalidIdentityNumber, InvalidName or CAError.
    """
    if isinstance(subject, Individual):
        validate_iin(subject.iin)
        surname = validate_person_name(subject.surname, field="surname")
        given_name = validate_person_name(subject.given_name, field="given_name")
        attributes = [
            _attribute(NameOID.COMMON_NAME, f"{surname} {given_name}"),
            _attribute(NameOID.SURNAME, surname),
        ]
        if subject.patronymic is not None and subject.patronymic != "":
            patronymic = validate_person_name(subject.patronymic, field="patronymic")
            # The national profile puts the patronymic in GIVENNAME; the given name is in CN only.
            attributes.append(_attribute(NameOID.GIVEN_NAME, patronymic))
        attributes.append(_attribute(NameOID.SERIAL_NUMBER, f"IIN{subject.iin}"))
    elif isinstance(subject, Organisation):
        validate_bin(subject.bin)
        name = _organisation_name(subject.name)
        attributes = [
            _attribute(NameOID.COMMON_NAME, name),
            _attribute(NameOID.ORGANIZATION_NAME, name),
            _attribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"BIN{subject.bin}"),
        ]
    else:
        raise CAError(f"cannot issue to a {type(subject).__name__}")
    attributes.append(_attribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TEST_MARKER))
    attributes.append(_attribute(NameOID.COUNTRY_NAME, "KZ"))
    return x509.Name(attributes)


_DNS_LABEL_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def _server_names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    """The subjectAltName entries for a server's hosts: iPAddress for addresses, dNSName (lower
    case ASCII letters, digits and hyphens; a leading "*." wildcard is refused) for the rest."""
    if not hosts:
        raise CAError("a TLS server certificate names at least one host")
    names: list[x509.GeneralName] = []
    for host in hosts:
        if not isinstance(host, str) or not host:
            raise CAError("a host is a non-empty string")
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
            continue
        except ValueError:
            pass
        name = host.lower().rstrip(".")
        labels = name.split(".")
        if len(name) > 253 or any(
            not label
            or len(label) > 63
            or label.startswith("-")
            or label.endswith("-")
            or not set(label) <= _DNS_LABEL_CHARACTERS
            for label in labels
        ):
            raise CAError(f"{host!r} is neither an IP address nor an ASCII DNS name")
        names.append(x509.DNSName(name))
    return names


def _ca_certificate(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Name,
    issuer_public_key: ec.EllipticCurvePublicKey,
    signing_key: ec.EllipticCurvePrivateKey,
    not_before: datetime,
    not_after: datetime,
    path_length: int,
    signs_ocsp: bool,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                # The issuing CA signs OCSP responses itself, which is a digital signature.
                digital_signature=signs_ocsp,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), critical=False
        )
        .sign(signing_key, hashes.SHA256())
    )


def _write_new_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file, fsync, then link into place), mode 0600.

    The final step never replaces an existing file: os.link fails if `path` exists, so two
    processes racing to create a CA cannot overwrite each other. Where the file system has no
    hard links, os.replace is used after checking that nothing is there.
    """
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            raise CAError(f"{path} already exists; refusing to replace a CA file") from None
        except OSError:
            if path.exists():
                raise CAError(f"{path} already exists; refusing to replace a CA file") from None
            os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _load_ca_key(path: Path, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    data = path.read_bytes()
    if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" not in data:
        raise CAError(f"{path} is not an encrypted PKCS#8 key; refusing to use it")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError) as error:
        raise BadPassphrase(f"cannot decrypt {path.name}: wrong CA passphrase?") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CAError(f"{path.name} is not an ECDSA key")
    return key


def _load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as error:
        raise CAError(f"{path.name} is not a PEM certificate") from error


def _check_base_url(base_url: str) -> str:
    url = base_url.rstrip("/")
    if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
        raise CAError("base_url must be an http(s) URL without spaces")
    return url


# -- the CA -----------------------------------------------------------------------------------


class CertificationAuthority:
    """A root and an issuing CA, ECDSA P-256 throughout; the issuing CA also signs OCSP answers.

    Security caveats: both private keys live in this object, unencrypted in memory. The root key
    is needed only to re-issue the issuing CA; it is kept so that `save` can write the pair.
    """

    root_certificate: x509.Certificate
    issuing_certificate: x509.Certificate
    base_url: str

    def __init__(
        self,
        *,
        root_key: ec.EllipticCurvePrivateKey,
        root_certificate: x509.Certificate,
        issuing_key: ec.EllipticCurvePrivateKey,
        issuing_certificate: x509.Certificate,
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
        minutes of clock skew). Names say TEST and NOT FOR PRODUCTION.

        Security caveat: the keys exist only in memory until `save` writes them encrypted.
        """
        _require_aware(moment)
        not_before = moment - CLOCK_SKEW
        root_key = ec.generate_private_key(ec.SECP256R1())
        issuing_key = ec.generate_private_key(ec.SECP256R1())
        root_certificate = _ca_certificate(
            subject=ROOT_NAME,
            public_key=root_key.public_key(),
            issuer=ROOT_NAME,
            issuer_public_key=root_key.public_key(),
            signing_key=root_key,
            not_before=not_before,
            not_after=moment + ROOT_VALIDITY,
            path_length=1,
            signs_ocsp=False,
        )
        issuing_certificate = _ca_certificate(
            subject=ISSUING_NAME,
            public_key=issuing_key.public_key(),
            issuer=ROOT_NAME,
            issuer_public_key=root_key.public_key(),
            signing_key=root_key,
            not_before=not_before,
            not_after=moment + ISSUING_VALIDITY,
            path_length=0,
            signs_ocsp=True,
        )
        return cls(
            root_key=root_key,
            root_certificate=root_certificate,
            issuing_key=issuing_key,
            issuing_certificate=issuing_certificate,
            base_url=base_url,
        )

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
        present = [name for name in _CA_FILES if (directory / name).exists()]
        if present:
            raise CAError(
                f"{directory} already holds CA files ({', '.join(present)}); "
                "refusing to replace a CA"
            )
        encryption = serialization.BestAvailableEncryption(passphrase)
        pkcs8 = serialization.PrivateFormat.PKCS8
        pem = serialization.Encoding.PEM
        _write_new_file(
            directory / _ROOT_KEY_FILE, self._root_key.private_bytes(pem, pkcs8, encryption)
        )
        _write_new_file(
            directory / _ISSUING_KEY_FILE, self._issuing_key.private_bytes(pem, pkcs8, encryption)
        )
        _write_new_file(directory / _ROOT_CERT_FILE, self.root_certificate.public_bytes(pem))
        _write_new_file(directory / _ISSUING_CERT_FILE, self.issuing_certificate.public_bytes(pem))
        _fsync_directory(directory)

    @classmethod
    def load(cls, directory: Path, passphrase: bytes, *, base_url: str) -> CertificationAuthority:
        """Read a CA that `save` wrote. Never generates anything.

        Raises BadPassphrase when the passphrase does not decrypt the keys (or is empty), CAError
        when files are missing, unencrypted or do not belong together.
        """
        if not passphrase:
            raise BadPassphrase("an empty CA passphrase is never valid")
        missing = [name for name in _CA_FILES if not (directory / name).is_file()]
        if missing:
            raise CAError(f"no complete CA in {directory} (missing {', '.join(missing)})")
        return cls(
            root_key=_load_ca_key(directory / _ROOT_KEY_FILE, passphrase),
            root_certificate=_load_certificate(directory / _ROOT_CERT_FILE),
            issuing_key=_load_ca_key(directory / _ISSUING_KEY_FILE, passphrase),
            issuing_certificate=_load_certificate(directory / _ISSUING_CERT_FILE),
            base_url=base_url,
        )

    @staticmethod
    def exists(directory: Path) -> bool:
        """True when every CA file is present in `directory` (says nothing of the passphrase)."""
        return all((directory / name).is_file() for name in _CA_FILES)

    @property
    def crl_url(self) -> str:
        return f"{self.base_url}/pki/crl"

    @property
    def ocsp_url(self) -> str:
        return f"{self.base_url}/pki/ocsp"

    @property
    def ca_issuers_url(self) -> str:
        return f"{self.base_url}/pki/ca.pem"

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """What goes with an end-entity certificate: the issuing CA (the root is the anchor)."""
        return (self.issuing_certificate,)

    def issue(
        self,
        public_key: PublicKeyTypes,
        subject: Individual | Organisation | TLSServer,
        *,
        profile: Profile,
        moment: datetime,
        validity: timedelta | None = None,
    ) -> x509.Certificate:
        """Issue an end-entity certificate for `public_key` with `subject` under `profile`.

        INDIVIDUAL (subject an Individual, 1 year) or ORGANISATION_SEAL (an Organisation, 3
        years); `validity` overrides the length. notBefore is `moment` less 5 minutes, notAfter is
        clamped to the issuing CA's. keyUsage digitalSignature+nonRepudiation (critical), EKU
        emailProtection, the profile's TEST policy, CRL and OCSP pointers, SKI/AKI, CA:FALSE.

        Security caveats: the caller must have checked who `subject` is and that the key holder
        possesses the private key (`issue_from_csr` / `issue_from_spki` do the latter). The key
        must be ECDSA P-256/P-384 or RSA ≥ 2048 (WeakKey otherwise). Issued certificates are not
        recorded here: add them to the status source, or OCSP will answer "unknown".

        TLS_SERVER (subject a TLSServer, 1 year) is the exception to the above: see
        `_issue_tls_server`.
        """
        _require_aware(moment)
        if profile is Profile.TLS_SERVER:
            if not isinstance(subject, TLSServer):
                raise CAError("the TLS server profile needs a TLSServer subject")
            return self._issue_tls_server(public_key, subject, moment=moment, validity=validity)
        if isinstance(subject, TLSServer):
            raise CAError("a TLSServer subject is issued only under the TLS server profile")
        if profile is Profile.INDIVIDUAL:
            if not isinstance(subject, Individual):
                raise CAError("the individual profile needs an Individual subject")
            policy = POLICY_TEST_INDIVIDUAL_SIGNING
            default_validity = INDIVIDUAL_VALIDITY
        elif profile is Profile.ORGANISATION_SEAL:
            if not isinstance(subject, Organisation):
                raise CAError("the organisation seal profile needs an Organisation subject")
            policy = POLICY_TEST_ORGANISATION_SEAL
            default_validity = SEAL_VALIDITY
        else:
            raise CAError(
                f"profile {profile!s} is not issued: the issuing CA signs OCSP answers itself"
            )
        if validity is None:
            validity = default_validity
        return (
            self._end_entity(public_key, subject_name(subject), moment, validity)
            .add_extension(_signing_key_usage(non_repudiation=True), critical=True)
            # emailProtection, as the national CA does, so that S/MIME tools (openssl cms
            # -verify) accept the certificate for signing without being told to ignore purpose.
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
            )
            .add_extension(
                x509.CertificatePolicies(
                    [
                        x509.PolicyInformation(
                            policy,
                            [x509.UserNotice(None, "TEST certificate - NOT FOR PRODUCTION use")],
                        )
                    ]
                ),
                critical=False,
            )
            .sign(self._issuing_key, hashes.SHA256())
        )

    def _end_entity(
        self,
        public_key: PublicKeyTypes,
        name: x509.Name,
        moment: datetime,
        validity: timedelta,
    ) -> x509.CertificateBuilder:
        """What every end-entity certificate shares: the key checks, a random serial, validity
        clamped to the issuing CA's, CA:FALSE, the CRL and OCSP/caIssuers pointers, SKI/AKI."""
        check_key_strength(public_key)
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise WeakKey("only ECDSA and RSA keys are certified")  # check_key_strength says so too
        ca_keys = (self.root_certificate.public_key(), self.issuing_certificate.public_key())
        if public_key in ca_keys:
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
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(self.issuing_certificate.subject)
            .public_key(public_key)
            .serial_number(random_serial())
            .not_valid_before(max(moment - CLOCK_SKEW, ca_not_before))
            .not_valid_after(min(moment + validity, ca_not_after))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            full_name=[x509.UniformResourceIdentifier(self.crl_url)],
                            relative_name=None,
                            reasons=None,
                            crl_issuer=None,
                        )
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier(self.ocsp_url),
                        ),
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier(self.ca_issuers_url),
                        ),
                    ]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuing_ski),
                critical=False,
            )
        )

    def issue_from_csr(
        self, csr: bytes, subject: Individual | Organisation, *, moment: datetime,
        profile: Profile = Profile.INDIVIDUAL,
    ) -> x509.Certificate:
        """Issue for the key in a PKCS#10 request (PEM or DER) once its signature proves that the
        requester holds the private key.

        Security caveats: everything the CSR asks for apart from its public key is ignored; the
        subject comes only from `subject` (the identity the ward checked), never from the CSR, so
        a CSR naming another IIN still gets the caller's identity. CSRs signed with SHA-1 or MD5
        are refused. Raises InvalidCertificateRequest (unparseable), WeakKey,
        ProofOfPossessionFailed (signature does not verify).
        """
        try:
            if csr.lstrip().startswith(b"-----BEGIN"):
                request = x509.load_pem_x509_csr(csr)
            else:
                request = x509.load_der_x509_csr(csr)
        except (ValueError, TypeError) as error:
            raise InvalidCertificateRequest("not a PKCS#10 certificate request") from error
        try:
            public_key = request.public_key()
        except (ValueError, UnsupportedAlgorithm) as error:
            raise InvalidCertificateRequest("the request's public key cannot be read") from error
        check_key_strength(public_key)
        try:
            algorithm = request.signature_hash_algorithm
        except UnsupportedAlgorithm as error:
            raise InvalidCertificateRequest("unknown signature algorithm in the request") from error
        if not isinstance(algorithm, hashes.SHA256 | hashes.SHA384 | hashes.SHA512):
            raise InvalidCertificateRequest("the request must be signed with SHA-256 or stronger")
        try:
            valid = request.is_signature_valid
        except (ValueError, UnsupportedAlgorithm) as error:
            raise ProofOfPossessionFailed("the request's signature cannot be checked") from error
        if not valid:
            raise ProofOfPossessionFailed("the request's signature does not verify")
        return self.issue(public_key, subject, profile=profile, moment=moment)

    def issue_from_spki(
        self, spki_der: bytes, proof: bytes, challenge: bytes, subject: Individual, *,
        moment: datetime,
    ) -> x509.Certificate:
        """Issue an individual certificate for a WebCrypto key: `spki_der` is its DER
        SubjectPublicKeyInfo (exportKey("spki")), `proof` its raw r‖s ECDSA signature (IEEE P1363,
        64 bytes for P-256) over `challenge` (see `enrollment_challenge`), hashed with SHA-256 for
        P-256 and SHA-384 for P-384 (as JWS ES256/ES384 pair them).

        Security caveats: `challenge` must be bound to this enrollment and single use (the caller
        checks the one-time code); the proof shows possession, not identity. Raises
        InvalidCertificateRequest (unparseable or not an EC key), WeakKey (other curves),
        ProofOfPossessionFailed (wrong length or invalid signature).
        """
        try:
            public_key = serialization.load_der_public_key(spki_der)
        except (ValueError, TypeError, UnsupportedAlgorithm) as error:
            raise InvalidCertificateRequest("not a DER SubjectPublicKeyInfo") from error
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise InvalidCertificateRequest("an ECDSA P-256 public key is expected")
        check_key_strength(public_key)
        size = (public_key.curve.key_size + 7) // 8
        algorithm: hashes.HashAlgorithm = (
            hashes.SHA256() if isinstance(public_key.curve, ec.SECP256R1) else hashes.SHA384()
        )
        if len(proof) != 2 * size:
            raise ProofOfPossessionFailed(
                f"the proof must be a raw r‖s signature of {2 * size} bytes, not {len(proof)}"
            )
        r = int.from_bytes(proof[:size], "big")
        s = int.from_bytes(proof[size:], "big")
        try:
            public_key.verify(encode_dss_signature(r, s), challenge, ec.ECDSA(algorithm))
        except InvalidSignature as error:
            raise ProofOfPossessionFailed("the proof of possession does not verify") from error
        return self.issue(public_key, subject, profile=Profile.INDIVIDUAL, moment=moment)

    def issue_with_new_key(
        self,
        subject: Individual | Organisation | TLSServer,
        *,
        profile: Profile,
        moment: datetime,
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """Make a fresh P-256 key and issue its certificate (ward desk PKCS#12, seals).

        Security caveat: the server has held this private key; hand it over once and keep no copy.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        return key, self.issue(key.public_key(), subject, profile=profile, moment=moment)

    def _issue_tls_server(
        self,
        public_key: PublicKeyTypes,
        subject: TLSServer,
        *,
        moment: datetime,
        validity: timedelta | None,
    ) -> x509.Certificate:
        """A TLS server certificate: CN=<first host>, O=birthreg TEST, OU=TEST - NOT FOR
        PRODUCTION, C=KZ; subjectAltName with a dNSName or iPAddress per host; keyUsage
        digitalSignature (critical); EKU serverAuth; CA:FALSE; CRL and OCSP pointers; SKI/AKI;
        1 year unless `validity` says otherwise (clamped to the issuing CA's).

        Security caveats: the caller decides which hosts the server may claim; nothing here
        checks that it owns them. Browsers trust the certificate only where the TEST root was
        installed by hand, which is the point: it is for trials on a ward's own network.
        """
        names = _server_names(subject.hosts)
        attributes = [
            _attribute(NameOID.COMMON_NAME, subject.hosts[0]),
            _attribute(NameOID.ORGANIZATION_NAME, "birthreg TEST"),
            _attribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TEST_MARKER),
            _attribute(NameOID.COUNTRY_NAME, "KZ"),
        ]
        return (
            self._end_entity(
                public_key,
                x509.Name(attributes),
                moment,
                TLS_SERVER_VALIDITY if validity is None else validity,
            )
            .add_extension(_signing_key_usage(non_repudiation=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(self._issuing_key, hashes.SHA256())
        )

    def sign_ocsp_response(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse:
        """Sign an OCSP response with the issuing CA key (ECDSA-SHA256); used by `signing.ocsp`.

        Security caveat: this signs whatever the builder says; only `signing.ocsp.respond`, which
        answers for this CA's own certificates, should call it.
        """
        return builder.sign(self._issuing_key, hashes.SHA256())

    def build_crl(
        self, revoked: Iterable[RevokedCertificate], *, number: int, moment: datetime,
        next_update: timedelta = timedelta(hours=24),
    ) -> x509.CertificateRevocationList:
        """A v2 CRL signed by the issuing CA: thisUpdate `moment`, nextUpdate `moment` +
        `next_update`, the CRL number and AKI, one entry per revoked certificate with its date and
        reason (no reason extension for `unspecified`, as RFC 5280 section 5.3.1 asks).

        Security caveats: `number` must grow with every CRL published (the caller keeps it);
        relying parties treat the CRL as complete, so pass every revoked certificate that has not
        expired.
        """
        _require_aware(moment)
        if number < 0:
            raise CAError("the CRL number must not be negative")
        if next_update <= timedelta(0):
            raise CAError("next_update must be positive")
        issuing_ski = self.issuing_certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.issuing_certificate.subject)
            .last_update(moment)
            .next_update(moment + next_update)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuing_ski),
                critical=False,
            )
        )
        for entry in revoked:
            _require_aware(entry.revoked_at, "revoked_at")
            revoked_builder = (
                x509.RevokedCertificateBuilder()
                .serial_number(entry.serial)
                .revocation_date(entry.revoked_at)
            )
            if entry.reason is not x509.ReasonFlags.unspecified:
                revoked_builder = revoked_builder.add_extension(
                    x509.CRLReason(entry.reason), critical=False
                )
            builder = builder.add_revoked_certificate(revoked_builder.build())
        return builder.sign(self._issuing_key, hashes.SHA256())


class InMemoryCertificateStatus:
    """A `CertificateStatusSource` kept in memory (tests, benchmarks, the CLI). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._issued: dict[int, x509.Certificate] = {}
        self._revoked: dict[int, RevokedCertificate] = {}

    def add(self, certificate: x509.Certificate) -> None:
        """Record an issued certificate; adding it again is harmless, a different certificate
        with the same serial is refused (CAError)."""
        with self._lock:
            known = self._issued.get(certificate.serial_number)
            if known is not None and known != certificate:
                raise CAError(f"serial {certificate.serial_number:x} is already taken")
            self._issued[certificate.serial_number] = certificate

    def revoke(
        self, serial: int, moment: datetime, reason: x509.ReasonFlags = x509.ReasonFlags.unspecified
    ) -> RevokedCertificate:
        """Revoke an issued certificate and return its revocation. Revoking again keeps the first
        revocation (date and reason) and returns it. Unknown serials and `removeFromCRL` (not a
        revocation reason) raise CAError."""
        _require_aware(moment)
        if reason is x509.ReasonFlags.remove_from_crl:
            raise CAError("removeFromCRL is not a revocation reason")
        with self._lock:
            if serial not in self._issued:
                raise CAError(f"serial {serial:x} was never issued")
            first = self._revoked.get(serial)
            if first is not None:
                return first
            revocation = RevokedCertificate(serial, moment, reason)
            self._revoked[serial] = revocation
            return revocation

    def status(self, serial: int) -> CertificateStatus:
        with self._lock:
            revocation = self._revoked.get(serial)
            issued = serial in self._issued
        if revocation is not None:
            return CertificateStatus(
                RevocationState.REVOKED, revocation.revoked_at, revocation.reason
            )
        if issued:
            return CertificateStatus(RevocationState.GOOD)
        return CertificateStatus(RevocationState.UNKNOWN)

    def revoked(self) -> list[RevokedCertificate]:
        with self._lock:
            return list(self._revoked.values())


# -- PKCS#12 ----------------------------------------------------------------------------------


def export_pkcs12(
    private_key: CertificateIssuerPrivateKeyTypes, certificate: x509.Certificate,
    chain: Iterable[x509.Certificate], *, password: bytes, friendly_name: bytes,
) -> bytes:
    """A PKCS#12 key file: key and certificates encrypted with PBES2 (PBKDF2-HMAC-SHA256,
    600,000 rounds, AES-256-CBC), MAC HMAC-SHA256.

    Security caveats: the password must be UTF-8 and at least 10 characters (CAError otherwise),
    but nothing here judges it further; the MAC's own iteration count stays at OpenSSL's 2048
    (cryptography does not set it), the encryption rounds are what protect the key.
    """
    try:
        characters = len(password.decode("utf-8"))
    except UnicodeDecodeError:
        raise CAError("the key file password must be UTF-8 text") from None
    if characters < MIN_PKCS12_PASSWORD_CHARS:
        raise CAError(
            f"the key file password must have at least {MIN_PKCS12_PASSWORD_CHARS} characters"
        )
    if not isinstance(
        private_key,
        ec.EllipticCurvePrivateKey
        | rsa.RSAPrivateKey
        | dsa.DSAPrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise CAError(f"a {type(private_key).__name__} cannot go in a PKCS#12 file")
    if private_key.public_key() != certificate.public_key():
        raise CAError("the private key does not belong to the certificate")
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    return pkcs12.serialize_key_and_certificates(
        friendly_name or None, private_key, certificate, list(chain), encryption
    )


def load_pkcs12(
    data: bytes, password: bytes
) -> tuple[CertificateIssuerPrivateKeyTypes, x509.Certificate, tuple[x509.Certificate, ...]]:
    """Open a PKCS#12 key file: (private key, its certificate, the other certificates).

    Raises BadKeyFilePassword when the file is PKCS#12 but the password does not open it,
    InvalidKeyFile when it is not PKCS#12 or lacks a key or certificate, or they do not match.
    Security caveat: nothing here checks the certificate's chain, validity or key strength.
    """
    try:
        loaded = pkcs12.load_pkcs12(data, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        if _looks_like_pkcs12(data):
            raise BadKeyFilePassword(
                "the key file password is wrong (or the file is damaged)"
            ) from error
        raise InvalidKeyFile("not a PKCS#12 key file") from error
    key = loaded.key
    if loaded.cert is None or key is None:
        raise InvalidKeyFile("the key file must hold a private key and its certificate")
    if not isinstance(
        key,
        ec.EllipticCurvePrivateKey
        | rsa.RSAPrivateKey
        | dsa.DSAPrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise InvalidKeyFile("the key file holds a key that cannot sign")
    certificate = loaded.cert.certificate
    if key.public_key() != certificate.public_key():
        raise InvalidKeyFile("the key file's private key does not match its certificate")
    return key, certificate, tuple(c.certificate for c in loaded.additional_certs)


def _looks_like_pkcs12(data: bytes) -> bool:
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        return bool(pfx["version"].native == "v3" and pfx["auth_safe"]["content_type"].native)
    except (ValueError, TypeError, KeyError):
        return False
