"""PKCS#12 key files (signing.ca.pkcs12)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography.hazmat.primitives import serialization

from signing.ca import export_pkcs12, load_pkcs12
from signing.ca.pkcs12 import BadKeyFilePassword, InvalidKeyFile
from signing.errors import (
    CAError,
)

if TYPE_CHECKING:
    from conftest import PKI



# -- PKCS#12 ----------------------------------------------------------------------------------

PFX_PASSWORD = "пароль-1234".encode()


@pytest.fixture(scope="module")
def pfx(pki: PKI) -> bytes:
    return export_pkcs12(
        pki.mother.key, pki.mother.certificate, pki.mother.chain, password=PFX_PASSWORD,
        friendly_name="Әбілқасымова Гүлнұр".encode(),
    )


def test_pkcs12_round_trip(pki: PKI, pfx: bytes) -> None:
    key, certificate, chain = load_pkcs12(pfx, PFX_PASSWORD)
    assert certificate == pki.mother.certificate
    assert key.public_key() == pki.mother.certificate.public_key()
    assert chain == (pki.ca.issuing_certificate,)
    loaded = serialization.pkcs12.load_pkcs12(pfx, PFX_PASSWORD)
    assert loaded.cert is not None
    assert loaded.cert.friendly_name == "Әбілқасымова Гүлнұр".encode()


def test_pkcs12_uses_pbes2_pbkdf2_sha256_aes256_and_a_sha256_mac(pfx: bytes) -> None:
    parsed = asn1_pkcs12.Pfx.load(pfx)
    mac = parsed["mac_data"]
    assert mac["mac"]["digest_algorithm"]["algorithm"].native == "sha256"
    algorithms = []
    for content_info in parsed.authenticated_safe:
        if content_info["content_type"].native == "encrypted_data":
            algorithms.append(
                content_info["content"]["encrypted_content_info"]["content_encryption_algorithm"]
            )
        else:
            safe = asn1_pkcs12.SafeContents.load(content_info["content"].native)
            for bag in safe:
                assert bag["bag_id"].native == "pkcs8_shrouded_key_bag"
                algorithms.append(bag["bag_value"]["encryption_algorithm"])
    assert len(algorithms) == 2  # the certificates and the key
    for algorithm in algorithms:
        assert algorithm["algorithm"].native == "pbes2"
        kdf = algorithm["parameters"]["key_derivation_func"]
        assert kdf["algorithm"].native == "pbkdf2"
        assert kdf["parameters"]["iteration_count"].native >= 600_000
        assert kdf["parameters"]["prf"]["algorithm"].native == "sha256"
        assert algorithm["parameters"]["encryption_scheme"]["algorithm"].native == "aes256_cbc"


def test_pkcs12_wrong_password_and_garbage(pfx: bytes) -> None:
    with pytest.raises(BadKeyFilePassword) as raised:
        load_pkcs12(pfx, b"wrong password")
    assert raised.value.code == "bad_key_file_password"
    with pytest.raises(InvalidKeyFile) as garbage:
        load_pkcs12(b"not a key file", PFX_PASSWORD)
    assert not isinstance(garbage.value, BadKeyFilePassword)
    assert garbage.value.code == "invalid_key_file"


def test_pkcs12_refuses_short_passwords_and_mismatched_keys(pki: PKI) -> None:
    with pytest.raises(CAError, match="10 characters"):
        export_pkcs12(
            pki.mother.key, pki.mother.certificate, (), password=b"short", friendly_name=b"x"
        )
    # Ten Cyrillic letters are 20 bytes but still ten characters: counted as characters.
    with pytest.raises(CAError):
        export_pkcs12(
            pki.mother.key, pki.mother.certificate, (), password="пароль123".encode(),
            friendly_name=b"x",
        )
    with pytest.raises(CAError):
        export_pkcs12(
            pki.father.key, pki.mother.certificate, (), password=PFX_PASSWORD, friendly_name=b"x"
        )


@pytest.mark.parametrize(
    "password", ["\0" * 12, "password\0\0\0\0", "pass\tword-12", "pass\u202eword-12"]
)
def test_pkcs12_refuses_control_characters_in_passwords(pki: PKI, password: str) -> None:
    with pytest.raises(CAError, match="control"):
        export_pkcs12(
            pki.mother.key, pki.mother.certificate, (), password=password.encode(),
            friendly_name=b"x",
        )


def test_a_made_key_file_opens_only_with_its_password(pfx: bytes) -> None:
    for wrong in (b"", b"\0", PFX_PASSWORD[:-1]):
        with pytest.raises(BadKeyFilePassword):
            load_pkcs12(pfx, wrong)
    assert load_pkcs12(pfx, PFX_PASSWORD)[0] is not None
