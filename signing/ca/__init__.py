"""The TEST certification authority: hierarchy, profiles, issuance, PKCS#12, revocation, CRL.

The names below are the public face. The CA is stateless: the caller keeps what it issued and
revoked (a `CertificateStatusSource`). OCSP responses are signed by the issuing CA itself: a
delegated responder (id-pkix-ocsp-nocheck) could not be revoked and would live beside its key.
"""

# Re-exported for callers, each `as` itself so that type checkers take it as public.
from signing.ca.authority import CertificationAuthority as CertificationAuthority
from signing.ca.crl import LEGACY_PARTITION as LEGACY_PARTITION
from signing.ca.crl import PARTITION_SIZE as PARTITION_SIZE
from signing.ca.crl import CertificateStatus as CertificateStatus
from signing.ca.crl import CertificateStatusSource as CertificateStatusSource
from signing.ca.crl import InMemoryCertificateStatus as InMemoryCertificateStatus
from signing.ca.crl import RevokedCertificate as RevokedCertificate
from signing.ca.crl import crl_partition_of as crl_partition_of
from signing.ca.pkcs12 import export_pkcs12 as export_pkcs12
from signing.ca.pkcs12 import load_pkcs12 as load_pkcs12
from signing.ca.profiles import ISSUING_NAME as ISSUING_NAME
from signing.ca.profiles import POLICY_TEST_INDIVIDUAL_SIGNING as POLICY_TEST_INDIVIDUAL_SIGNING
from signing.ca.profiles import POLICY_TEST_ORGANISATION_SEAL as POLICY_TEST_ORGANISATION_SEAL
from signing.ca.profiles import ROOT_NAME as ROOT_NAME
from signing.ca.profiles import TLS_SERVER_VALIDITY as TLS_SERVER_VALIDITY
from signing.ca.profiles import Individual as Individual
from signing.ca.profiles import Organisation as Organisation
from signing.ca.profiles import Profile as Profile
from signing.ca.profiles import TLSServer as TLSServer
from signing.ca.profiles import enrollment_challenge as enrollment_challenge
from signing.ca.profiles import random_serial as random_serial
from signing.ca.profiles import subject_name as subject_name
