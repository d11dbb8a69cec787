"""Settings: environment, defaults, and the refusal of placeholder secrets in production."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from birthreg.config import (
    CA_PASSPHRASE_FILE,
    SECRET_KEY_FILE,
    ConfigurationError,
    Settings,
    make_data_dir,
    placeholder_reason,
)

GOOD_SECRET = "q8W1nS0vLk3ZrT7yPb2XcM9d"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("BIRTHREG_"):
            monkeypatch.delenv(name)
    # No stray .env from the developer's checkout.
    monkeypatch.chdir(tmp_path)


def test_defaults(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.data_dir == tmp_path / "var"
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'birthreg.sqlite3'}"
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.env == "development"
    assert settings.ca_passphrase is None
    assert settings.ca_directory == tmp_path / "var" / "ca"


def test_environment_with_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BIRTHREG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BIRTHREG_DATABASE_URL", "postgresql+psycopg://u@db/birthreg")
    monkeypatch.setenv("BIRTHREG_BASE_URL", "https://ward.example.kz/")
    monkeypatch.setenv("BIRTHREG_ENV", "production")
    monkeypatch.setenv("BIRTHREG_SECRET_KEY", GOOD_SECRET)
    settings = Settings()
    assert settings.data_dir == tmp_path / "data"
    assert settings.database_url == "postgresql+psycopg://u@db/birthreg"
    assert settings.base_url == "https://ward.example.kz"
    assert settings.is_production
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == GOOD_SECRET
    # A SecretStr does not show its value.
    assert GOOD_SECRET not in repr(settings)


def test_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BIRTHREG_BASE_URL=http://10.0.0.5:9000//\n")
    assert Settings().base_url == "http://10.0.0.5:9000"


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="base_url"):
        Settings(base_url="ftp://example.kz")


@pytest.mark.parametrize(
    "value",
    [
        "", "   ", "short", "changeme", "change-me", "CHANGE_ME_PLEASE_1234", "secret",
        "password", "password1234567890", "placeholder", "a-placeholder-value-123",
        "x" * 32, "XXXXXXXXXXXXXXXXXXXX", "my-super-secret-key-2024", "supersecretpassword",
        "secretsecretsecret", "${BIRTHREG_CA_PASSPHRASE}", "<your passphrase here>",
        "0000000000000000", "1234567890123456",
    ],
)
def test_placeholders_are_refused(value: str) -> None:
    assert placeholder_reason(value) is not None


@pytest.mark.parametrize(
    "value",
    [
        "abcdefghijklmnop",  # sixteen different characters, and no secret at all
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "zyxwvutsrqponmlkjihg",
        "qwertyuiopasdfghjkl",
        "1qaz2wsx3edc4rfv",
        "abcdefgh12345678",
        "aAbBcCdDeEfFgGhH",
        "йцукенгшщзхъфыва",
        "abcdefghijkl-1234567",
    ],
)
def test_low_variety_secrets_are_refused(value: str) -> None:
    assert placeholder_reason(value) is not None


def test_random_secrets_are_accepted() -> None:
    for _ in range(200):
        assert placeholder_reason(secrets.token_urlsafe(24)) is None
        assert placeholder_reason(secrets.token_hex(16)) is None


def test_the_ca_passphrase_and_the_secret_key_must_differ() -> None:
    settings = Settings(
        env="production", ca_passphrase=SecretStr(GOOD_SECRET), secret_key=SecretStr(GOOD_SECRET)
    )
    with pytest.raises(ConfigurationError) as error:
        settings.check_secrets()
    assert "must differ" in str(error.value)
    assert GOOD_SECRET not in str(error.value)


@pytest.mark.parametrize(
    "value", [GOOD_SECRET, "correct horse battery staple", "k4Lw-9xQe_Tz2mVb"]
)
def test_real_secrets_are_accepted(value: str) -> None:
    assert placeholder_reason(value) is None


def test_production_without_secrets_is_refused() -> None:
    settings = Settings(env="production")
    with pytest.raises(ConfigurationError) as error:
        settings.check_secrets()
    assert "BIRTHREG_CA_PASSPHRASE is not set" in str(error.value)
    assert "BIRTHREG_SECRET_KEY is not set" in str(error.value)


@pytest.mark.parametrize("placeholder", ["changeme", "change-me-change-me", "x" * 40, ""])
def test_production_with_a_placeholder_is_refused(placeholder: str) -> None:
    settings = Settings(
        env="production", ca_passphrase=SecretStr(placeholder), secret_key=SecretStr(GOOD_SECRET)
    )
    with pytest.raises(ConfigurationError, match="BIRTHREG_CA_PASSPHRASE is refused"):
        settings.check_secrets()
    with pytest.raises(ConfigurationError):
        settings.ca_passphrase_bytes()
    # The message names the variable, never the value.
    with pytest.raises(ConfigurationError) as error:
        settings.check_secrets()
    assert placeholder == "" or placeholder not in str(error.value)


def test_production_with_real_secrets() -> None:
    settings = Settings(
        env="production",
        ca_passphrase=SecretStr(GOOD_SECRET),
        secret_key=SecretStr(GOOD_SECRET[::-1]),
    )
    settings.check_secrets()
    assert settings.ca_passphrase_bytes() == GOOD_SECRET.encode()
    # Production never writes secrets to disk.
    assert settings.write_development_secrets() == []


def test_production_refuses_to_create_the_app() -> None:
    from birthreg.main import create_app

    with pytest.raises(ConfigurationError):
        create_app(
            Settings(
                env="production",
                ca_passphrase=SecretStr("changeme"),
                secret_key=SecretStr(GOOD_SECRET),
            )
        )


def test_development_secrets_are_generated_privately(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(ConfigurationError, match="birthreg init"):
        settings.ca_passphrase_bytes()
    assert make_data_dir(settings) is True
    assert make_data_dir(settings) is False
    assert stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o700

    made = settings.write_development_secrets()
    assert sorted(p.name for p in made) == sorted([CA_PASSPHRASE_FILE, SECRET_KEY_FILE])
    for path in made:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert placeholder_reason(path.read_text().strip()) is None
    passphrase = settings.ca_passphrase_bytes()
    assert settings.secret_key_value() != passphrase.decode()
    # Again: nothing new, nothing changed.
    assert settings.write_development_secrets() == []
    assert settings.ca_passphrase_bytes() == passphrase


def test_development_prefers_the_environment(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", ca_passphrase=SecretStr(GOOD_SECRET))
    make_data_dir(settings)
    made = settings.write_development_secrets()
    assert [p.name for p in made] == [SECRET_KEY_FILE]
    assert settings.ca_passphrase_bytes() == GOOD_SECRET.encode()
