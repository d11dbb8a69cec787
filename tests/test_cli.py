"""The `birthreg` command line: init, serve's refusal, sign and verify, with their exit codes."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import PKI, Party
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from birthreg.cli import app
from signing import cms, jws
from signing.ca import export_pkcs12
from signing.canonical import canonicalize, sha256_hex

P12_PASSWORD = "Ward-desk pass 2026"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A development environment with its own data dir; no BIRTHREG_* from outside."""
    for name in list(os.environ):
        if name.startswith("BIRTHREG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return {"BIRTHREG_DATA_DIR": str(tmp_path / "var"), "BIRTHREG_ENV": "development"}


def snapshot(directory: Path) -> dict[str, tuple[int, str, int]]:
    """Every file under directory with its mtime, SHA-256 and mode."""
    return {
        str(path.relative_to(directory)): (
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mode,
        )
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


# --- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["init"], ["serve"], ["sign"], ["verify"]])
def test_help(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_no_command_shows_help(runner: CliRunner) -> None:
    result = runner.invoke(app, [])
    assert "init" in result.output and "verify" in result.output


# --- init ---------------------------------------------------------------------------------------


def test_init_is_idempotent(runner: CliRunner, environment: dict[str, str], tmp_path: Path) -> None:
    first = runner.invoke(app, ["init"], env=environment)
    assert first.exit_code == 0, first.output
    assert "made   TEST CA" in first.output
    assert "generated" in first.output
    data_dir = tmp_path / "var"
    before = snapshot(data_dir)
    assert "ca-passphrase" in before and "secret-key" in before
    # No secret is ever printed.
    for name in ("ca-passphrase", "secret-key"):
        assert (data_dir / name).read_text().strip() not in first.output
    assert "PRIVATE KEY" not in first.output

    second = runner.invoke(app, ["init"], env=environment)
    assert second.exit_code == 0, second.output
    assert "nothing was changed" in second.output
    assert "made" not in second.output
    assert snapshot(data_dir) == before


def test_init_in_production_refuses_placeholders(
    runner: CliRunner, environment: dict[str, str], tmp_path: Path
) -> None:
    production = {
        **environment,
        "BIRTHREG_ENV": "production",
        "BIRTHREG_CA_PASSPHRASE": "changeme",
        "BIRTHREG_SECRET_KEY": "placeholder-placeholder",
    }
    for command in (["init"], ["serve"]):
        result = runner.invoke(app, command, env=production)
        assert result.exit_code == 2
        assert "BIRTHREG_CA_PASSPHRASE is refused" in result.output
        assert "BIRTHREG_SECRET_KEY is refused" in result.output
        assert "changeme" not in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "var" / "ca").exists()

    missing = {**environment, "BIRTHREG_ENV": "production"}
    result = runner.invoke(app, ["serve"], env=missing)
    assert result.exit_code == 2
    assert "BIRTHREG_CA_PASSPHRASE is not set" in result.output


def test_init_in_production_takes_secrets_from_the_environment(
    runner: CliRunner, environment: dict[str, str], tmp_path: Path
) -> None:
    production = {
        **environment,
        "BIRTHREG_ENV": "production",
        "BIRTHREG_CA_PASSPHRASE": "v7Qm-2Lx9-Rk4p-Zt8w",
        "BIRTHREG_SECRET_KEY": "Hb3nYc5Jq1Wd7Ks0Pf6G",
    }
    result = runner.invoke(app, ["init"], env=production)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "var" / "ca-passphrase").exists()
    assert not (tmp_path / "var" / "secret-key").exists()
    wrong = {**production, "BIRTHREG_CA_PASSPHRASE": "another-Zt8w-Rk4p-v7Qm"}
    result = runner.invoke(app, ["init"], env=wrong)
    assert result.exit_code == 2
    assert "cannot be opened" in result.output


# --- sign ---------------------------------------------------------------------------------------


def write_p12(directory: Path, party: Party) -> Path:
    path = directory / "mother.p12"
    path.write_bytes(
        export_pkcs12(
            party.key, party.certificate, party.chain,
            password=P12_PASSWORD.encode(), friendly_name=b"mother",
        )
    )
    return path


DOCUMENT = {
    "type": "birthreg.application/1",
    "child": {"given_name": "Айым", "surname": "Әбілқасымова"},
    "n": 1.0,
}


@pytest.fixture(scope="module")
def p12_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("p12")


@pytest.fixture(scope="module")
def mother_p12(pki: PKI, p12_dir: Path) -> Path:
    return write_p12(p12_dir, pki.mother)


@pytest.mark.parametrize("signature_format", ["cms", "jws"])
def test_sign_prints_a_signature_object_that_verifies(
    runner: CliRunner, pki: PKI, mother_p12: Path, tmp_path: Path, signature_format: str
) -> None:
    document = tmp_path / "application.json"
    # Not canonical on disk (spacing, key order, 1.0): what is signed is the canonical form.
    document.write_text(json.dumps(DOCUMENT, indent=2, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(
        app,
        ["sign", str(document), "--p12", str(mother_p12), "--password-stdin",
         "--format", signature_format],
        input=P12_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    signature = json.loads(result.stdout)
    assert signature["format"] == signature_format
    content = canonicalize(DOCUMENT)
    if signature_format == "cms":
        verified = cms.verify_detached(base64.b64decode(signature["value"]), content)
    else:
        assert signature["value"].count(".") == 2 and ".." in signature["value"]
        verified = jws.verify_detached(signature["value"], content)
    assert verified.signer == pki.mother.certificate
    assert pki.issuing in verified.certificates
    assert P12_PASSWORD not in result.output


def test_sign_defaults_to_cms(runner: CliRunner, mother_p12: Path, tmp_path: Path) -> None:
    document = tmp_path / "d.json"
    document.write_text('{"a": 1}')
    result = runner.invoke(
        app, ["sign", str(document), "--p12", str(mother_p12), "--password-stdin"],
        input=P12_PASSWORD + "\r\n",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["format"] == "cms"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong password", "wrong password or not a PKCS#12"),
        ("not a key file", "wrong password or not a PKCS#12"),
        ("missing document", "cannot read"),
        ("invalid JSON", "not an acceptable JSON document"),
        ("duplicate keys", "not an acceptable JSON document"),
        ("not an object", "must hold a JSON object"),
        ("no --password-stdin", "--password-stdin"),
        ("empty stdin", "no password"),
    ],
)
def test_sign_input_errors(
    runner: CliRunner, mother_p12: Path, tmp_path: Path, case: str, expected: str
) -> None:
    document = tmp_path / "d.json"
    document.write_text('{"a": 1}')
    key_file = mother_p12
    password: str | None = P12_PASSWORD + "\n"
    flags = ["--password-stdin"]
    if case == "wrong password":
        password = "not the password\n"
    elif case == "not a key file":
        key_file = document
    elif case == "missing document":
        document = tmp_path / "absent.json"
    elif case == "invalid JSON":
        document.write_text('{"a": ')
    elif case == "duplicate keys":
        document.write_text('{"a": 1, "a": 2}')
    elif case == "not an object":
        document.write_text("[1, 2]")
    elif case == "no --password-stdin":
        flags = []
    elif case == "empty stdin":
        password = ""
    result = runner.invoke(
        app, ["sign", str(document), "--p12", str(key_file), *flags], input=password
    )
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert result.stdout == ""


# --- verify -------------------------------------------------------------------------------------


def sign_cms(party: Party, content: bytes, pki: PKI) -> dict[str, str]:
    assert isinstance(party.key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    der = cms.sign_detached(
        content, party.certificate, party.key, signing_time=pki.moment - timedelta(hours=2),
        chain=party.chain,
    )
    return {"format": "cms", "value": base64.b64encode(der).decode("ascii")}


def sign_jws(party: Party, content: bytes, pki: PKI) -> dict[str, str]:
    assert isinstance(party.key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    value = jws.sign_detached(
        content, party.certificate, party.key, signing_time=pki.moment - timedelta(hours=1),
        chain=party.chain,
    )
    return {"format": "jws", "value": value}


def make_dossier(pki: PKI, *, mother: Party | None = None) -> dict[str, Any]:
    """A complete dossier: the facility's sealed record and the mother's signed application."""
    mother_subject = pki.mother.subject
    assert mother_subject is not None and pki.mother.iin is not None
    born = pki.moment - timedelta(days=2)
    record = {
        "type": "birthreg.medical-record/1",
        "id": str(uuid.UUID(int=0x1D)),
        "facility": {"bin": pki.facility.bin, "name": pki.facility.name},
        "mother": {
            "iin": pki.mother.iin,
            "surname": mother_subject.surname,  # type: ignore[union-attr]
            "given_name": mother_subject.given_name,  # type: ignore[union-attr]
            "patronymic": mother_subject.patronymic,  # type: ignore[union-attr]
        },
        "child": {
            "sex": "F", "born_at": born.isoformat(), "weight_g": 3400, "length_cm": 51,
            "plurality": 1, "birth_order": 1,
        },
        "attendant": "Серікова Әсел",
        "recorded_at": (born + timedelta(hours=2)).isoformat(),
    }
    application = {
        "type": "birthreg.application/1",
        "id": str(uuid.UUID(int=0xA1)),
        "medical_record_sha256": sha256_hex(record),
        "child": {"surname": "Әбілқасымова", "given_name": "Айым", "patronymic": "Ерланқызы"},
        "mother": {"iin": pki.mother.iin},
        "father": None,
        "address": {
            "region": "Шығыс Қазақстан облысы", "locality": "Өскемен", "street": "Абай даңғылы",
            "building": "12", "flat": "34",
        },
        "contact": {"phone": "+77051234567", "email": "mother@example.kz"},
        "language": "kk",
    }
    return {
        "medical_record": {
            "document": record, "signature": sign_cms(pki.facility, canonicalize(record), pki),
        },
        "application": {
            "document": application,
            "signatures": [sign_jws(mother or pki.mother, canonicalize(application), pki)],
        },
    }


@pytest.fixture(scope="module")
def verify_files(pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("verify")
    files = {
        "roots": directory / "roots.pem",
        "crl": directory / "crl.der",
        "crl_pem": directory / "crl.pem",
        "arl": directory / "root.crl",
        "good": directory / "good.json",
        "tampered": directory / "tampered.json",
        "revoked": directory / "revoked.json",
    }
    files["roots"].write_bytes(pki.root.public_bytes(Encoding.PEM))
    crl = pki.ca.build_crl(pki.statuses.revoked(), number=1, moment=pki.moment)
    files["crl"].write_bytes(crl.public_bytes(Encoding.DER))
    files["crl_pem"].write_bytes(crl.public_bytes(Encoding.PEM))
    # The root's own CRL: the issuing CA's revocation is checked too.
    arl = pki.ca.build_arl(number=2, moment=pki.moment)
    files["arl"].write_bytes(arl.public_bytes(Encoding.DER))
    good = make_dossier(pki)
    files["good"].write_text(json.dumps(good, ensure_ascii=False), encoding="utf-8")
    tampered = copy.deepcopy(good)
    tampered["medical_record"]["document"]["child"]["weight_g"] = 3900
    tampered["application"]["document"]["medical_record_sha256"] = sha256_hex(
        tampered["medical_record"]["document"]
    )
    files["tampered"].write_text(json.dumps(tampered, ensure_ascii=False), encoding="utf-8")
    return files


def verify_args(files: dict[str, Path], pki: PKI, dossier: str, *extra: str) -> list[str]:
    return [
        "verify", str(files[dossier]), "--roots", str(files["roots"]), "--crl", str(files["crl"]),
        "--crl", str(files["arl"]), "--at", pki.moment.isoformat(), *extra,
    ]


def test_verify_passes_a_good_dossier(
    runner: CliRunner, pki: PKI, verify_files: dict[str, Path]
) -> None:
    result = runner.invoke(app, verify_args(verify_files, pki, "good"))
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.stdout
    assert "TOTAL_PASSED" in result.stdout


def test_verify_json_and_pem_crl(
    runner: CliRunner, pki: PKI, verify_files: dict[str, Path]
) -> None:
    args = verify_args(verify_files, pki, "good", "--json")
    args[args.index(str(verify_files["crl"]))] = str(verify_files["crl_pem"])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["passed"] is True
    assert report["indication"] == "TOTAL_PASSED"
    roles = [s["role"] for d in report["documents"] for s in d["signatures"]]
    assert roles == ["facility", "mother"]


def test_verify_fails_a_tampered_dossier(
    runner: CliRunner, pki: PKI, verify_files: dict[str, Path]
) -> None:
    result = runner.invoke(app, verify_args(verify_files, pki, "tampered", "--json"))
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["passed"] is False
    seal = report["documents"][0]["signatures"][0]
    assert seal["indication"] == "TOTAL_FAILED"
    assert seal["format"] == "cms"
    assert seal["sub_indication"] == "HASH_FAILURE"


def test_verify_fails_a_revoked_signer(
    runner: CliRunner, pki: PKI, verify_files: dict[str, Path], tmp_path: Path
) -> None:
    dossier = make_dossier(pki, mother=pki.revoked_signer)
    path = tmp_path / "revoked.json"
    path.write_text(json.dumps(dossier, ensure_ascii=False), encoding="utf-8")
    later = (pki.moment + timedelta(days=2)).isoformat()
    crl = pki.ca.build_crl(
        pki.statuses.revoked(), number=2, moment=pki.moment + timedelta(days=2)
    )
    crl_path = tmp_path / "crl-later.der"
    crl_path.write_bytes(crl.public_bytes(Encoding.DER))
    result = runner.invoke(
        app,
        ["verify", str(path), "--roots", str(verify_files["roots"]), "--crl", str(crl_path),
         "--crl", str(verify_files["arl"]), "--at", later],
    )
    assert result.exit_code == 1, result.output
    assert "REVOKED" in result.stdout


def test_verify_with_the_data_dir_ca(
    runner: CliRunner, environment: dict[str, str], pki: PKI, verify_files: dict[str, Path]
) -> None:
    # The data dir's own TEST CA is not the test PKI's: the dossier is not trusted.
    assert runner.invoke(app, ["init"], env=environment).exit_code == 0
    result = runner.invoke(
        app,
        ["verify", str(verify_files["good"]), "--crl", str(verify_files["crl"]),
         "--at", pki.moment.isoformat()],
        env=environment,
    )
    assert result.exit_code == 1, result.output
    assert "NO_CERTIFICATE_CHAIN_FOUND" in result.stdout


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing dossier", "cannot read"),
        ("not JSON", "cannot be read as a dossier"),
        ("bad --at", "not an RFC 3339 time"),
        ("naive --at", "needs an offset"),
        ("missing roots", "cannot read"),
        ("roots not PEM", "holds no PEM certificates"),
        ("CRL not a CRL", "not a CRL"),
        ("no CA in the data dir", "birthreg init"),
    ],
)
def test_verify_input_errors(
    runner: CliRunner, environment: dict[str, str], pki: PKI, verify_files: dict[str, Path],
    tmp_path: Path, case: str, expected: str,
) -> None:
    args = verify_args(verify_files, pki, "good")
    garbage = tmp_path / "garbage"
    garbage.write_text("{not json")
    if case == "missing dossier":
        args[1] = str(tmp_path / "absent.json")
    elif case == "not JSON":
        args[1] = str(garbage)
    elif case == "bad --at":
        args[args.index("--at") + 1] = "yesterday"
    elif case == "naive --at":
        args[args.index("--at") + 1] = "2026-06-01T12:00:00"
    elif case == "missing roots":
        args[args.index("--roots") + 1] = str(tmp_path / "absent.pem")
    elif case == "roots not PEM":
        args[args.index("--roots") + 1] = str(garbage)
    elif case == "CRL not a CRL":
        args[args.index("--crl") + 1] = str(garbage)
    elif case == "no CA in the data dir":
        index = args.index("--roots")
        del args[index:index + 2]
    result = runner.invoke(app, args, env=environment)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_verify_usage_error_is_2(runner: CliRunner) -> None:
    assert runner.invoke(app, ["verify"]).exit_code == 2
    assert runner.invoke(app, ["verify", "x.json", "--no-such-option"]).exit_code == 2
