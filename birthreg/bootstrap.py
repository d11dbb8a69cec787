"""`birthreg init`: the data dir, the development secrets, the database check and the TEST CA.

Idempotent: a second run finds everything and changes nothing. Never prints or logs a secret.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from birthreg.config import Settings, make_data_dir
from birthreg.db import display_url, make_engine

LOCK_FILE = ".init.lock"


@dataclass
class InitResult:
    made: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.made)


def is_initialised(settings: Settings) -> bool:
    from signing.ca import CertificationAuthority

    return CertificationAuthority.exists(settings.ca_directory) and (
        settings.is_production or _development_secrets_present(settings)
    )


def initialise(settings: Settings) -> InitResult:
    """Make whatever is missing. Raises ConfigurationError for unusable settings."""
    # Imported here so that `birthreg --help` does not pay for the crypto imports.
    from signing.ca import CertificationAuthority

    settings.check_secrets()
    result = InitResult()
    if make_data_dir(settings):
        result.made.append(f"data directory {settings.data_dir} (mode 0700)")
    else:
        result.found.append(f"data directory {settings.data_dir}")

    # Two services sharing a data dir (docker-compose) may start together: one makes the CA.
    with _init_lock(settings.data_dir / LOCK_FILE):
        if settings.is_production:
            result.found.append("CA passphrase and session secret from the environment")
        else:
            generated = settings.write_development_secrets()
            for path in _development_secret_paths(settings):
                if path in generated:
                    result.made.append(f"{_secret_label(path)} in {path} (mode 0600, generated)")
                else:
                    result.found.append(f"{_secret_label(path)} in {path}")

        engine = make_engine(settings.database_url)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        finally:
            engine.dispose()
        result.found.append(f"database {display_url(settings.database_url)} (reachable)")

        passphrase = settings.ca_passphrase_bytes()
        if CertificationAuthority.exists(settings.ca_directory):
            # Loading proves that the passphrase still opens the keys.
            CertificationAuthority.load(
                settings.ca_directory, passphrase, base_url=settings.base_url
            )
            result.found.append(f"TEST CA in {settings.ca_directory}")
        else:
            ca = CertificationAuthority.create(
                base_url=settings.base_url, moment=datetime.now(UTC)
            )
            ca.save(settings.ca_directory, passphrase)
            result.made.append(
                f"TEST CA in {settings.ca_directory} (keys encrypted with the CA passphrase)"
            )
    return result


def _development_secret_paths(settings: Settings) -> list[Path]:
    from birthreg.config import CA_PASSPHRASE_FILE, SECRET_KEY_FILE

    paths = []
    if settings.ca_passphrase is None or not settings.ca_passphrase.get_secret_value():
        paths.append(settings.data_dir / CA_PASSPHRASE_FILE)
    if settings.secret_key is None or not settings.secret_key.get_secret_value():
        paths.append(settings.data_dir / SECRET_KEY_FILE)
    return paths


def _development_secrets_present(settings: Settings) -> bool:
    return all(path.is_file() for path in _development_secret_paths(settings))


def _secret_label(path: Path) -> str:
    from birthreg.config import CA_PASSPHRASE_FILE

    return "CA passphrase" if path.name == CA_PASSPHRASE_FILE else "session secret"


@contextmanager
def _init_lock(path: Path) -> Iterator[None]:
    existed = path.exists()
    with open(path, "a") as handle:
        if not existed:
            path.chmod(0o600)
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
