"""What the TEST CA writes into certificates: names, policies, key usages and pointers.

Every name it issues says TEST: the CA names carry "TEST" and "NOT FOR PRODUCTION", and every
end-entity subject has `OU=TEST - NOT FOR PRODUCTION` (beside an organisation's `OU=BIN…`).

Pointers: an end-entity certificate names the issuing CA's CRL, OCSP responder and certificate
(caIssuers, DER); the issuing CA certificate names the root's CRL (the ARL) and certificate. A TLS
server certificate gets them over plain http: a client checking that very certificate cannot
fetch its revocation over https first (RFC 5280 section 4.2.1.13, the CA/Browser Forum).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from signing.errors import CAError
from signing.identity import validate_bin, validate_iin
from signing.names import validate_person_name

#: Our OID arc: a UUID OID (ITU-T X.667, "2.25.<uuid as integer>"), which needs no registration.
#: The UUID is 5726a319-077e-4107-bd35-eca923182d3f, generated once (uuid4) for birthreg.
OID_ARC = "2.25.115843450929700489290006433803567377727"
#: Certificate policies (arc.1): a TEST individual's signing key, a TEST organisation seal.
POLICY_TEST_INDIVIDUAL_SIGNING = x509.ObjectIdentifier(f"{OID_ARC}.1.1")
POLICY_TEST_ORGANISATION_SEAL = x509.ObjectIdentifier(f"{OID_ARC}.1.2")

ENROLL_CHALLENGE_PREFIX = b"birthreg-enroll:"

#: The attribute that marks every end-entity name as TEST.
TEST_MARKER = "TEST - NOT FOR PRODUCTION"


def _ca_name(common_name: str) -> x509.Name:
    pairs = ((NameOID.COMMON_NAME, common_name), (NameOID.ORGANIZATION_NAME, "birthreg TEST"),
             (NameOID.COUNTRY_NAME, "KZ"))
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


ROOT_NAME = _ca_name("birthreg TEST Root CA - NOT FOR PRODUCTION")
ISSUING_NAME = _ca_name("birthreg TEST Issuing CA - NOT FOR PRODUCTION")

ROOT_VALIDITY = timedelta(days=7305)  # 20 years
ISSUING_VALIDITY = timedelta(days=3653)  # 10 years
INDIVIDUAL_VALIDITY = timedelta(days=365)
SEAL_VALIDITY = timedelta(days=3 * 365)
TLS_SERVER_VALIDITY = timedelta(days=365)
#: Upper bound of serial numbers: 128 random bits (RFC 5280 allows up to 20 octets; CA/B asks for
#: at least 64 bits of randomness).
SERIAL_BITS = 128


def enrollment_challenge(code: str) -> bytes:
    """The bytes a WebCrypto key signs to prove possession: b"birthreg-enroll:" + code."""
    return ENROLL_CHALLENGE_PREFIX + code.encode("utf-8")


@dataclass(frozen=True)
class Individual:
    """A person: CN=SURNAME GIVENNAME, SURNAME, GIVENNAME=<patronymic, if any>, SERIALNUMBER=IIN…"""

    iin: str
    surname: str
    given_name: str
    patronymic: str | None = None


@dataclass(frozen=True)
class Organisation:
    """An organisation seal: CN=<name>, O=<name>, OU=BIN…"""

    bin: str
    name: str


@dataclass(frozen=True)
class TLSServer:
    """A web server: the host names and IP addresses it answers to (the first is its CN)."""

    hosts: tuple[str, ...]


class Profile(StrEnum):
    INDIVIDUAL = "individual"
    ORGANISATION_SEAL = "organisation_seal"
    #: HTTPS for the service itself (`birthreg serve --tls`): serverAuth, SAN, one year. There
    #: is no OCSP responder profile: the issuing CA signs OCSP answers itself (see `signing.ca`).
    TLS_SERVER = "tls_server"


@dataclass(frozen=True)
class Pointers:
    """Where relying parties find a certificate's revocation data and its issuer."""

    crl: str
    ocsp: str | None
    ca_issuers: str

    def over_http(self) -> Pointers:
        """The same addresses over plain http (for TLS server certificates)."""
        ocsp = None if self.ocsp is None else _http(self.ocsp)
        return Pointers(_http(self.crl), ocsp, _http(self.ca_issuers))

    def extensions(self) -> list[x509.ExtensionType]:
        """CRLDistributionPoints and AuthorityInformationAccess (OCSP, caIssuers)."""
        uri = x509.UniformResourceIdentifier
        methods = AuthorityInformationAccessOID
        access = [x509.AccessDescription(methods.OCSP, uri(self.ocsp))] if self.ocsp else []
        access.append(x509.AccessDescription(methods.CA_ISSUERS, uri(self.ca_issuers)))
        point = x509.DistributionPoint([uri(self.crl)], None, None, None)
        return [x509.CRLDistributionPoints([point]), x509.AuthorityInformationAccess(access)]


def _http(url: str) -> str:
    return "http://" + url.removeprefix("https://") if url.startswith("https://") else url


def require_aware(moment: datetime, what: str = "moment") -> None:
    """Raise CAError for a naive datetime: certificates and CRLs are dated in UTC."""
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


def subject_name(subject: Individual | Organisation) -> x509.Name:
    """The X.509 subject for a person or an organisation (see their classes), after validating
    every part, with OU=TEST - NOT FOR PRODUCTION before C=KZ; attributes in the national
    profile's order, names in NFC. Raises InvalidIdentityNumber, InvalidName or CAError.
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


def server_name(subject: TLSServer) -> x509.Name:
    """CN=<first host>, O=birthreg TEST, OU=TEST - NOT FOR PRODUCTION, C=KZ."""
    pairs = ((NameOID.COMMON_NAME, subject.hosts[0]), (NameOID.ORGANIZATION_NAME, "birthreg TEST"),
             (NameOID.ORGANIZATIONAL_UNIT_NAME, TEST_MARKER), (NameOID.COUNTRY_NAME, "KZ"))
    return x509.Name([_attribute(oid, value) for oid, value in pairs])


#: Lower-case ASCII DNS labels of 1 to 63 letters, digits and inner hyphens (RFC 1123).
_DNS_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*")


def server_alternative_names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
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
        if len(name) > 253 or not _DNS_NAME.fullmatch(name):
            raise CAError(f"{host!r} is neither an IP address nor an ASCII DNS name")
        names.append(x509.DNSName(name))
    return names


def key_usage(*, signs: bool, commits: bool = False, certifies: bool = False) -> x509.KeyUsage:
    """digitalSignature (`signs`), nonRepudiation (`commits`, document signatures),
    keyCertSign and cRLSign (`certifies`, CAs); nothing else."""
    return x509.KeyUsage(
        digital_signature=signs, content_commitment=commits, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=certifies,
        crl_sign=certifies, encipher_only=False, decipher_only=False,
    )


def policies(policy: x509.ObjectIdentifier) -> x509.CertificatePolicies:
    """The one TEST policy, with a user notice that says so."""
    notice = x509.UserNotice(None, "TEST certificate - NOT FOR PRODUCTION use")
    return x509.CertificatePolicies([x509.PolicyInformation(policy, [notice])])


@dataclass(frozen=True)
class CAProfile:
    """A CA certificate to make: its name and key, its issuer's, and where it points."""

    subject: x509.Name
    public_key: ec.EllipticCurvePublicKey
    issuer: x509.Name
    issuer_key: ec.EllipticCurvePrivateKey
    not_before: datetime
    not_after: datetime
    path_length: int
    #: The issuing CA signs OCSP responses itself, which is a digital signature.
    signs_ocsp: bool
    #: The root's CRL and certificate, for the issuing CA; None for the root itself.
    pointers: Pointers | None = None


def ca_certificate(profile: CAProfile) -> x509.Certificate:
    """A CA certificate: basicConstraints (critical), keyUsage keyCertSign and cRLSign
    (critical; digitalSignature too when it signs OCSP answers), SKI/AKI, and for a CA below the
    root the root's CRL (the ARL) and certificate. Signed with ECDSA-SHA256."""
    public_key, issuer_key = profile.public_key, profile.issuer_key
    builder = (
        x509.CertificateBuilder()
        .subject_name(profile.subject)
        .issuer_name(profile.issuer)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(profile.not_before)
        .not_valid_after(profile.not_after)
        .add_extension(x509.BasicConstraints(True, profile.path_length), critical=True)
        .add_extension(key_usage(signs=profile.signs_ocsp, certifies=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )
    if profile.pointers is not None:
        for extension in profile.pointers.extensions():
            builder = builder.add_extension(extension, critical=False)
    return builder.sign(profile.issuer_key, hashes.SHA256())
