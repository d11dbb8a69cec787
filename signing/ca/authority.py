"""The TEST certification authority: a root and an issuing CA, their files, issuance and CRLs."""

from __future__ import annotations

import contextlib
import os
import tempfile
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

from signing.ca.crl import (
    LEGACY_PARTITION,
    CRLScope,
    RevokedCertificate,
    build_crl,
    check_partition,
)
from signing.ca.profiles import (
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
from signing.revocation import crl_urls
from signing.signature import CLOCK_SKEW

#: How long relying parties may keep a CRL that `build_crl` or `build_arl` makes, unless told.
DEFAULT_CRL_PERIOD = timedelta(hours=24)

# -- the CA's files: keys encrypted under a passphrase, certificates in PEM, never overwritten --

ROOT_CERT_FILE = "root.pem"
ISSUING_CERT_FILE = "ca.pem"
ROOT_KEY_FILE = "root-key.pem"
ISSUING_KEY_FILE = "ca-key.pem"
CA_FILES = (ROOT_KEY_FILE, ISSUING_KEY_FILE, ROOT_CERT_FILE, ISSUING_CERT_FILE)


def write_new_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file, fsync, then link into place), mode 0600.
    os.link never replaces a file, so two processes racing to create a CA cannot overwrite each
    other (without hard links: os.replace, once nothing is there)."""
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
        except OSError as error:
            if isinstance(error, FileExistsError) or path.exists():
                raise CAError(f"{path} already exists; refusing to replace a CA file") from None
            os.replace(temporary, path)  # no hard links here, and nothing there yet
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def fsync_directory(directory: Path) -> None:
    """Make the directory's new entries durable (the files themselves are fsynced apart)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def encrypted_key(key: ec.EllipticCurvePrivateKey, passphrase: bytes) -> bytes:
    """PKCS#8 PEM, encrypted with the passphrase (cryptography's best available scheme)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def load_key(path: Path, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    """An encrypted PKCS#8 ECDSA key. Raises CAError (unencrypted or not ECDSA) or
    BadPassphrase."""
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


def load_certificate(path: Path) -> x509.Certificate:
    """A PEM certificate; CAError when it is not one. Nothing here checks what it certifies."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as error:
        raise CAError(f"{path.name} is not a PEM certificate") from error


#: The profiles issued: the subject each needs and its default validity.
_PROFILES: dict[Profile, tuple[type, timedelta]] = {
    Profile.INDIVIDUAL: (Individual, INDIVIDUAL_VALIDITY),
    Profile.ORGANISATION_SEAL: (Organisation, SEAL_VALIDITY),
    Profile.TLS_SERVER: (TLSServer, TLS_SERVER_VALIDITY),
}
_POLICIES = {
    Profile.INDIVIDUAL: POLICY_TEST_INDIVIDUAL_SIGNING,
    Profile.ORGANISATION_SEAL: POLICY_TEST_ORGANISATION_SEAL,
}


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
        """Make a new root (20 years) and issuing CA (10 years), valid from `moment` less the
        clock skew. Security caveat: the keys exist only in memory until `save` encrypts them."""
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
        into `directory` (mode 0700; files 0600, each written atomically). Refuses (CAError) an
        empty passphrase and a directory holding any CA file: a CA is never silently replaced. A
        crash half-way leaves some files and no CA that `exists`: look, then clear by hand.
        """
        if not passphrase:
            raise CAError("refusing to save CA keys under an empty passphrase")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        present = [name for name in CA_FILES if (directory / name).exists()]
        if present:
            held = ", ".join(present)
            raise CAError(f"{directory} holds CA files already ({held}); refusing to replace a CA")
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
        """Read a CA that `save` wrote (one made before the issuing certificate named the ARL
        keeps working). Raises BadPassphrase when the passphrase does not decrypt the keys,
        CAError when files are missing, unencrypted or do not belong together.
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
        urls = crl_urls(self.issuing_certificate)
        return next((url.removesuffix(suffix) for url in urls if url.endswith(suffix)), None)

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

    # -- where relying parties look (see `signing.ca.profiles`) ---------------------------------

    @property
    def crl_url(self) -> str:
        """The CRL of certificates issued before CRL partitions (partition 0), at /pki/crl."""
        return f"{self.base_url}/pki/crl"

    def partition_crl_url(self, partition: int) -> str:
        """Where partition `partition`'s CRL is published: /pki/crl/<n>, or /pki/crl for 0."""
        check_partition(partition)
        return self.crl_url if partition == LEGACY_PARTITION else f"{self.crl_url}/{partition}"

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
    def chain(self) -> tuple[x509.Certificate, ...]:
        """What goes with an end-entity certificate: the issuing CA (the root is the anchor)."""
        return (self.issuing_certificate,)

    # -- issuance ------------------------------------------------------------------------------

    def issue(
        self, public_key: PublicKeyTypes, subject: Individual | Organisation | TLSServer, *,
        profile: Profile, moment: datetime, validity: timedelta | None = None,
        crl_partition: int = LEGACY_PARTITION,
    ) -> x509.Certificate:
        """Issue an end-entity certificate for `public_key` with `subject` under `profile`,
        its CRL distribution point naming the CRL of `crl_partition` (see `signing.ca.crl`).

        The signing profiles get EKU emailProtection (as the national CA does, so that `openssl
        cms -verify` accepts it) and their TEST policy; a TLS server gets serverAuth, its hosts
        and the pointers over http. notAfter is clamped to the issuing CA's.

        Security caveats: the caller must have checked who `subject` is and that the key holder
        possesses the private key (`issue_from_csr` / `issue_from_spki` do the latter); nothing
        checks that a server owns the hosts it names. WeakKey for a key outside our policy.
        Issued certificates are not recorded here: add them to the status source, or OCSP will
        answer "unknown".
        """
        require_aware(moment)
        kind, default_validity = _PROFILES[profile]
        if not isinstance(subject, kind):
            raise CAError(f"the {profile!s} profile needs a {kind.__name__} subject")
        validity = default_validity if validity is None else validity
        crl = self.partition_crl_url(crl_partition)
        pointers = Pointers(crl, self.ocsp_url, self.ca_issuers_url)
        if isinstance(subject, TLSServer):
            name, pointers = server_name(subject), pointers.over_http()
            usage, commits = ExtendedKeyUsageOID.SERVER_AUTH, False
            hosts = server_alternative_names(subject.hosts)
            extra: x509.ExtensionType = x509.SubjectAlternativeName(hosts)
        else:
            name, usage, commits = subject_name(subject), ExtendedKeyUsageOID.EMAIL_PROTECTION, True
            extra = policies(_POLICIES[profile])
        return (
            self._end_entity(public_key, name, moment, validity, pointers)
            .add_extension(key_usage(signs=True, commits=commits), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(extra, critical=False)
            .sign(self._issuing_key, hashes.SHA256())
        )

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
        not_before, not_after = self.validity(moment, validity)
        issuing_ski = self.issuing_certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(self.issuing_certificate.subject)
            .public_key(public_key)
            .serial_number(random_serial())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
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

    def validity(self, moment: datetime, validity: timedelta) -> tuple[datetime, datetime]:
        """An end-entity certificate's notBefore and notAfter when issued at `moment` for
        `validity`: back by the clock skew, and within the issuing CA's own. CAError when the
        CA is not valid at `moment` or validity is not positive."""
        if validity <= timedelta(0):
            raise CAError("validity must be positive")
        ca_not_before = self.issuing_certificate.not_valid_before_utc
        ca_not_after = self.issuing_certificate.not_valid_after_utc
        if not ca_not_before <= moment < ca_not_after:
            raise CAError("the issuing CA is not valid at the moment of issue")
        return max(moment - CLOCK_SKEW, ca_not_before), min(moment + validity, ca_not_after)

    def issue_from_csr(
        self, csr: bytes, subject: Individual | Organisation, *, moment: datetime,
        profile: Profile = Profile.INDIVIDUAL, crl_partition: int = LEGACY_PARTITION,
    ) -> x509.Certificate:
        """Issue for the key in a PKCS#10 request (PEM or DER) once its signature proves that the
        requester holds the private key. Security caveat: all but the CSR's key is ignored; the
        subject comes only from `subject` (the identity the ward checked). Raises
        InvalidCertificateRequest, WeakKey, ProofOfPossessionFailed.
        """
        return self.issue(csr_public_key(csr), subject, profile=profile, moment=moment,
                          crl_partition=crl_partition)

    def issue_from_spki(
        self, spki_der: bytes, proof: bytes, challenge: bytes, subject: Individual, *,
        moment: datetime, crl_partition: int = LEGACY_PARTITION,
    ) -> x509.Certificate:
        """Issue an individual certificate for a WebCrypto key whose proof of possession over
        `challenge` verifies (see `signing.ca.requests.spki_public_key` and its caveats)."""
        public_key = spki_public_key(spki_der, proof, challenge)
        return self.issue(public_key, subject, profile=Profile.INDIVIDUAL, moment=moment,
                          crl_partition=crl_partition)

    def issue_with_new_key(
        self, subject: Individual | Organisation | TLSServer, *, profile: Profile,
        moment: datetime, crl_partition: int = LEGACY_PARTITION,
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """Make a fresh P-256 key and issue its certificate (ward desk PKCS#12, seals). Security
        caveat: the server has held this private key; hand it over once and keep no copy."""
        key = ec.generate_private_key(ec.SECP256R1())
        return key, self.issue(key.public_key(), subject, profile=profile, moment=moment,
                               crl_partition=crl_partition)

    # -- revocation ----------------------------------------------------------------------------

    def sign_ocsp_response(self, builder: ocsp.OCSPResponseBuilder) -> ocsp.OCSPResponse:
        """Sign an OCSP response with the issuing CA key. Security caveat: this signs whatever
        the builder says; only `signing.ocsp.respond` should call it."""
        return builder.sign(self._issuing_key, hashes.SHA256())

    def build_crl(
        self, revoked: Iterable[RevokedCertificate], *, number: int, moment: datetime,
        next_update: timedelta = DEFAULT_CRL_PERIOD, previous_update: datetime | None = None,
        partition: int = LEGACY_PARTITION,
    ) -> x509.CertificateRevocationList:
        """The issuing CA's CRL of the end-entity certificates of `partition`, under the profile
        in `signing.ca.crl` (its security caveats apply; pass only that partition's
        revocations): thisUpdate `moment`, nextUpdate `moment` + `next_update`, certificates
        expired before `previous_update` left out."""
        url = self.partition_crl_url(partition)
        scope = CRLScope(self.issuing_certificate, self._issuing_key, url, False)
        return build_crl(scope, revoked, number=number, moment=moment, next_update=next_update,
                         previous_update=previous_update)

    def build_arl(
        self, revoked: Iterable[RevokedCertificate] = (), *, number: int, moment: datetime,
        next_update: timedelta = DEFAULT_CRL_PERIOD,
    ) -> x509.CertificateRevocationList:
        """The root's CRL of CA certificates (the ARL), under the profile in `signing.ca.crl`:
        naming no URL, it covers the root itself (which `openssl verify -crl_check_all` checks
        too) and an issuing CA made before it pointed here."""
        scope = CRLScope(self.root_certificate, self._root_key, None, True)
        return build_crl(scope, revoked, number=number, moment=moment, next_update=next_update)


def _root_pointers(base_url: str) -> Pointers:
    return Pointers(f"{base_url}/pki/root.crl", None, f"{base_url}/pki/root.cer")
