"""The CA's files (signing.ca.authority): saving and loading, never replacing."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing.ca import (
    CertificationAuthority,
    Individual,
    Profile,
)
from signing.errors import (
    BadPassphrase,
    CAError,
)

if TYPE_CHECKING:
    pass

MOMENT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PERSON = Individual(
    iin="940315400074", surname="Қасымова", given_name="Әйгерім", patronymic="Ерланқызы"
)


def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# -- saving and loading -----------------------------------------------------------------------

PASSPHRASE = b"correct horse battery staple"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertificationAuthority, Path]:
    ca = CertificationAuthority.create(base_url="http://birthreg.test", moment=MOMENT)
    directory = tmp_path_factory.mktemp("ca") / "keys"
    ca.save(directory, PASSPHRASE)
    return ca, directory


def test_save_and_load_round_trip(saved: tuple[CertificationAuthority, Path]) -> None:
    ca, directory = saved
    assert CertificationAuthority.exists(directory)
    loaded = CertificationAuthority.load(directory, PASSPHRASE, base_url="https://elsewhere.test")
    assert loaded.root_certificate == ca.root_certificate
    assert loaded.issuing_certificate == ca.issuing_certificate
    assert loaded.base_url == "https://elsewhere.test"
    certificate = loaded.issue(
        _p256().public_key(), PERSON, profile=Profile.INDIVIDUAL, moment=MOMENT
    )
    certificate.verify_directly_issued_by(ca.issuing_certificate)


def test_saved_files_are_private_and_keys_encrypted(
    saved: tuple[CertificationAuthority, Path],
) -> None:
    ca, directory = saved
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["ca-key.pem", "ca.pem", "root-key.pem", "root.pem"]  # no temp files left
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for key_file in ("root-key.pem", "ca-key.pem"):
        text = (directory / key_file).read_bytes()
        assert text.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
        with pytest.raises(TypeError):
            serialization.load_pem_private_key(text, password=None)
    assert (directory / "root.pem").read_bytes() == ca.root_certificate.public_bytes(
        serialization.Encoding.PEM
    )
    assert (directory / "ca.pem").read_bytes() == ca.issuing_certificate.public_bytes(
        serialization.Encoding.PEM
    )


def test_wrong_or_empty_passphrase(saved: tuple[CertificationAuthority, Path]) -> None:
    _, directory = saved
    with pytest.raises(BadPassphrase):
        CertificationAuthority.load(directory, b"wrong passphrase", base_url="http://x.test")
    with pytest.raises(BadPassphrase):
        CertificationAuthority.load(directory, b"", base_url="http://x.test")


def test_load_changes_nothing(saved: tuple[CertificationAuthority, Path]) -> None:
    _, directory = saved
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}
    CertificationAuthority.load(directory, PASSPHRASE, base_url="http://x.test")
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}
    assert before == after


def test_saving_over_an_existing_ca_is_refused(saved: tuple[CertificationAuthority, Path]) -> None:
    _, directory = saved
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    other = CertificationAuthority.create(base_url="http://x.test", moment=MOMENT)
    with pytest.raises(CAError):
        other.save(directory, PASSPHRASE)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before


def test_saving_over_a_partial_ca_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ca-key.pem").write_bytes(b"left over")
    ca = CertificationAuthority.create(base_url="http://x.test", moment=MOMENT)
    assert not CertificationAuthority.exists(tmp_path)
    with pytest.raises(CAError):
        ca.save(tmp_path, PASSPHRASE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca-key.pem"]


def test_empty_passphrase_is_refused_on_save(tmp_path: Path) -> None:
    ca = CertificationAuthority.create(base_url="http://x.test", moment=MOMENT)
    with pytest.raises(CAError):
        ca.save(tmp_path / "ca", b"")
    assert not (tmp_path / "ca").exists()


def test_load_of_missing_or_tampered_files(
    tmp_path: Path, saved: tuple[CertificationAuthority, Path]
) -> None:
    _, directory = saved
    assert not CertificationAuthority.exists(tmp_path)
    with pytest.raises(CAError):
        CertificationAuthority.load(tmp_path, PASSPHRASE, base_url="http://x.test")

    copy = tmp_path / "copy"
    copy.mkdir()
    for path in directory.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    # An unencrypted key in place of the encrypted one is refused, not used.
    plain = serialization.load_pem_private_key(
        (directory / "ca-key.pem").read_bytes(), password=PASSPHRASE
    ).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (copy / "ca-key.pem").write_bytes(plain)
    with pytest.raises(CAError, match="not an encrypted"):
        CertificationAuthority.load(copy, PASSPHRASE, base_url="http://x.test")
    # Another CA's issuing certificate does not match the keys.
    other = CertificationAuthority.create(base_url="http://x.test", moment=MOMENT)
    for path in directory.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    other_pem = other.issuing_certificate.public_bytes(serialization.Encoding.PEM)
    (copy / "ca.pem").write_bytes(other_pem)
    with pytest.raises(CAError):
        CertificationAuthority.load(copy, PASSPHRASE, base_url="http://x.test")


def test_save_tightens_an_existing_directory(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)  # noqa: S103 - the point of the test
    CertificationAuthority.create(base_url="http://x.test", moment=MOMENT).save(
        directory, PASSPHRASE
    )
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
