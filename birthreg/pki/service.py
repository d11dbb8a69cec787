"""The service's TEST CA: loaded once from the data dir when first needed."""

from __future__ import annotations

import threading
from typing import Any

from birthreg.config import ConfigurationError, Settings
from birthreg.errors import ServiceNotInitialised
from signing.ca import CertificationAuthority

_lock = threading.Lock()


def load_certification_authority(settings: Settings) -> CertificationAuthority:
    """The CA in the data dir. Raises ServiceNotInitialised when `birthreg init` has not run."""
    if not CertificationAuthority.exists(settings.ca_directory):
        raise ServiceNotInitialised("the TEST CA does not exist yet: run `birthreg init`")
    try:
        passphrase = settings.ca_passphrase_bytes()
    except ConfigurationError as exc:
        raise ServiceNotInitialised(str(exc)) from exc
    return CertificationAuthority.load(
        settings.ca_directory, passphrase, base_url=settings.base_url
    )


def certification_authority(app: Any) -> CertificationAuthority:
    """The app's CA, loaded on first use (so that `birthreg init` may run after start-up)."""
    ca: CertificationAuthority | None = getattr(app.state, "ca", None)
    if ca is None:
        with _lock:
            ca = getattr(app.state, "ca", None)
            if ca is None:
                ca = load_certification_authority(app.state.settings)
                app.state.ca = ca
    return ca
