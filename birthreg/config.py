"""Settings: one `Settings(BaseSettings)` read from `BIRTHREG_*` variables and an optional `.env`.

In development `birthreg init` writes the CA passphrase and the session secret into the data dir;
in production both must come from the environment, and weak ones are refused: shorter than
MIN_SECRET_LENGTH, a placeholder ("changeme", "${...}"), a short unit repeated, too few distinct
characters, a run such as `abcdefghijklmnop` or `qwertyuiop` (`placeholder_reason`), or the
same value for both (the passphrase that guards the CA keys must not also sign every token).
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: File names (inside the data dir) of the secrets that `birthreg init` makes in development.
CA_PASSPHRASE_FILE = "ca-passphrase"  # noqa: S105 (a file name, not a secret)
SECRET_KEY_FILE = "secret-key"  # noqa: S105
#: The registry's own key passphrase (role registry: it holds no CA key and no CA passphrase).
KEY_PASSPHRASE_FILE = "key-passphrase"  # noqa: S105
#: The roots a registry was initialised with (`init --role registry --roots ROOT.pem`).
REGISTRY_ROOTS_FILE = "registry-roots.pem"
#: Where the TEST CA keeps its certificates and encrypted keys, inside the data dir.
CA_DIRECTORY = "ca"

MIN_SECRET_LENGTH = 16

# Values people leave in .env files and compose files "for now". Matched against the whole value,
# case-insensitively; anything shorter than MIN_SECRET_LENGTH is refused anyway.
_PLACEHOLDER = re.compile(
    r"""^(?:
        x+ | \*+ | \.+ | -+ | _+ | 0+ | 1234\d*
      | .*change[\W_]*(?:me|it|this).*
      | .*replace[\W_]*(?:me|it|this).*
      | .*placeholder.*
      | .*(?:not|no)[\W_]*(?:so|very)?[\W_]*secret.*
      | <.*> | \$\{.*\} | \{\{.*\}\}
      | (?:my|your|the|a)?[\W_]*
        (?:super)?[\W_]*
        (?:secret|password|passphrase|passw0rd|pass|default|example|sample|dummy|test|todo|fixme)
        [\W_\d]*(?:key|secret|password|passphrase|value)?[\W_\d]*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)


# A short unit said again and again: "secretsecretsecret", "abcabcabcabcabcabc".
_REPEATED = re.compile(r"^(.{1,8}?)\1+$", re.DOTALL)

#: Keyboard layouts (Latin and Kazakh/Russian Cyrillic), row by row: a typed run follows a key's
#: neighbours, along a row ("qwerty") or down a column ("1qaz"; each row sits half a key to the
#: right of the one above).
_KEYBOARDS = (
    ("1234567890-=", "qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./"),
    ("1234567890-=", "йцукенгшщзхъ", "фывапролджэ", "ячсмитьбю."),
)


def _keyboard_neighbours() -> frozenset[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for rows in _KEYBOARDS:
        for row in rows:
            pairs.update(itertools.pairwise(row))
        for upper, lower in itertools.pairwise(rows):
            for column, key in enumerate(lower):
                pairs.update((above, key) for above in upper[column : column + 2])
    return frozenset(pairs | {(b, a) for a, b in pairs})


_NEIGHBOURS = _keyboard_neighbours()
#: How many characters of a secret must not be guessable from the one before it.
MIN_UNPREDICTABLE = 8


def _unpredictable(value: str) -> int:
    """How many characters of value do not follow from the one before: a repeat, the next or
    previous letter or digit, or a keyboard neighbour are guessable (`abcdefghijklmnop` has 1,
    a random 16-character secret about 15)."""
    text = value.lower()
    fresh = 1 if text else 0
    for before, after in itertools.pairwise(text):
        if abs(ord(after) - ord(before)) <= 1 or (before, after) in _NEIGHBOURS:
            continue
        fresh += 1
    return fresh


class ConfigurationError(Exception):
    """The settings cannot run the service (missing or placeholder secrets, and the like)."""


def placeholder_reason(value: str) -> str | None:
    """Why value is not an acceptable secret, or None when it is."""
    if not value.strip():
        return "it is empty"
    if len(value) < MIN_SECRET_LENGTH:
        return f"it is shorter than {MIN_SECRET_LENGTH} characters"
    if (
        _PLACEHOLDER.match(value.strip())
        or _REPEATED.match(value.strip())
        or len(set(value)) < 5
    ):
        return "it looks like a placeholder"
    if _unpredictable(value) < MIN_UNPREDICTABLE:
        return "it is too predictable (a run of letters, digits or keys)"
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BIRTHREG_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Path("var")
    database_url: str = ""
    #: A read replica of database_url for the routes that only read (birthreg.db.ReadSessionDep).
    database_replica_url: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    env: Literal["development", "production"] = "development"
    #: What this process is (DESIGN.md "Two services"): everything, the ward, or the registry.
    role: Literal["all", "ward", "registry"] = "all"
    ca_passphrase: SecretStr | None = None
    secret_key: SecretStr | None = None
    #: Role registry: encrypts its seal key at rest (the ward's CA passphrase plays this part
    #: in the other roles).
    key_passphrase: SecretStr | None = None
    #: The roots the registry trusts (a PEM bundle); default: this service's own TEST root.
    registry_roots: Path | None = None
    #: Register a dossier at once when every check passed and it has no likely duplicate.
    registry_auto_register: bool = False
    #: Days after the birth within which an application is on time; later ones are late
    #: registrations (a reason from the parent, a registrar's approval), never refused.
    registration_deadline_days: int = Field(default=92, ge=1, le=3650)
    #: The ward's phone, for parents who lost their phone or key (the lost-key page says it).
    facility_phone: str | None = Field(default=None, max_length=40)
    #: Where the registry runs when it is another service (docker-compose); default: in-process.
    registry_url: str | None = None
    # Telling the parents (birthreg.notify; README "Notifications"). Without SMTP or SMS settings
    # messages go to the development sink (/notify/outbox), or wait in production.
    smtp_url: SecretStr | None = None  # smtp://user:pass@host:587?starttls=1
    mail_from: str = "birthreg TEST <no-reply@birthreg.test>"
    sms_url: SecretStr | None = None  # POST {"to", "text", "id"}
    parents_url: str | None = None  # the parents' pages as messages link them; BASE_URL/parents
    notify_sender: bool | None = None  # the sending thread: None = in `birthreg serve` only
    crl_publisher: bool | None = None  # the CRL's thread (birthreg.pki.publisher): likewise
    #: Reverse proxies whose X-Forwarded-For (and -Proto) is believed: addresses or CIDR ranges,
    #: separated by commas or spaces. None by default: the TCP peer is the client.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    #: Free space the data dir keeps for /readyz to say ready (bytes; default 64 MiB).
    min_free_bytes: int = 64 * 1024 * 1024

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Absolute, so that the SQLite URL and the CA directory do not move with the cwd.
        return value.expanduser().absolute()

    @field_validator("base_url")
    @classmethod
    def _strip_base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("base_url must be an http:// or https:// address")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part for part in re.split(r"[\s,]+", value) if part)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Only addresses and ranges: uvicorn would also take "*" (believe everyone), which
        # would let any client choose the address the throttles count.
        networks = []
        for item in value:
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR range") from None
        return tuple(networks)

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'birthreg.sqlite3'}"
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def ca_directory(self) -> Path:
        return self.data_dir / CA_DIRECTORY

    @property
    def holds_ca(self) -> bool:
        """Whether this process holds the CA (roles ward and all); the registry never does."""
        return self.role != "registry"

    @property
    def serves_registry(self) -> bool:
        return self.role != "ward"

    @property
    def registry_roots_path(self) -> Path | None:
        """The registry's roots: BIRTHREG_REGISTRY_ROOTS, else the copy `init --roots` kept."""
        if self.registry_roots:
            return self.registry_roots
        kept = self.data_dir / REGISTRY_ROOTS_FILE
        return kept if kept.is_file() else None

    def _key_secret(self) -> tuple[str, SecretStr | None, str]:
        """(name, value, development file) of the passphrase that guards this role's keys."""
        if self.holds_ca:
            return "CA_PASSPHRASE", self.ca_passphrase, CA_PASSPHRASE_FILE
        return "KEY_PASSPHRASE", self.key_passphrase, KEY_PASSPHRASE_FILE

    def check_secrets(self) -> None:
        """Raise ConfigurationError when production lacks real secrets from the environment."""
        if not self.is_production:
            return
        problems = []
        key_name, key_secret, _ = self._key_secret()
        required = ((key_name, key_secret), ("SECRET_KEY", self.secret_key))
        for name, secret in required:
            if secret is None:
                problems.append(f"BIRTHREG_{name} is not set")
                continue
            reason = placeholder_reason(secret.get_secret_value())
            if reason:
                problems.append(f"BIRTHREG_{name} is refused: {reason}")
        if (
            key_secret is not None
            and self.secret_key is not None
            and key_secret.get_secret_value() == self.secret_key.get_secret_value()
        ):
            problems.append(f"BIRTHREG_{key_name} and BIRTHREG_SECRET_KEY must differ")
        if problems:
            raise ConfigurationError(
                "production needs real secrets from the environment: " + "; ".join(problems)
            )

    def ca_passphrase_bytes(self) -> bytes:
        """The CA key passphrase: from the environment, else (development) from the data dir."""
        return self._secret(self.ca_passphrase, CA_PASSPHRASE_FILE).encode("utf-8")

    def seal_passphrase_bytes(self) -> bytes:
        """The passphrase of this role's seal keys: the CA passphrase where the CA is, else
        (role registry) the key passphrase."""
        _, configured, file_name = self._key_secret()
        return self._secret(configured, file_name).encode("utf-8")

    def secret_key_value(self) -> str:
        return self._secret(self.secret_key, SECRET_KEY_FILE)

    def _secret(self, configured: SecretStr | None, file_name: str) -> str:
        self.check_secrets()
        if configured is not None and configured.get_secret_value():
            return configured.get_secret_value()
        path = self.data_dir / file_name
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ConfigurationError(
                f"{path} does not exist: run `birthreg init` first"
            ) from None

    def write_development_secrets(self) -> list[Path]:
        """Make the data dir (0700) and any missing secret files (0600); return the files made.

        Only in development, and only for secrets not given in the environment.
        """
        if self.is_production:
            return []
        made = []
        _, key_secret, key_file = self._key_secret()
        for configured, file_name in (
            (key_secret, key_file),
            (self.secret_key, SECRET_KEY_FILE),
        ):
            if configured is not None and configured.get_secret_value():
                continue
            path = self.data_dir / file_name
            if path.exists():
                continue
            # O_EXCL with the mode given at creation: the secret is never readable by others,
            # not even for the moment between writing and chmod.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(32) + "\n")
            made.append(path)
        return made


def make_data_dir(settings: Settings) -> bool:
    """Create the data dir with mode 0700; True when it was made now."""
    if settings.data_dir.is_dir():
        return False
    settings.data_dir.mkdir(mode=0o700, parents=True)
    # mkdir's mode is filtered by the umask; set it exactly.
    settings.data_dir.chmod(0o700)
    return True
