"""When storage fails: a full disk, a read-only file system, a database that cannot write.

Such a failure is no bug of the request and no fault of its sender: it is answered with JSON
503 `storage_unavailable` and `Retry-After` (the request's transaction is rolled back, so nothing
is half-written), logged without the statement or its values (they may carry IINs), and
remembered for a while, so that the readiness check `/readyz` says "not ready" and a load
balancer sends the next requests elsewhere. `/readyz` also looks by itself: the database answers,
the data dir takes a small file (written, synced and removed) and keeps a margin of free space.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Engine

logger = logging.getLogger("birthreg.storage")

#: OS errors that mean the storage cannot take a write.
STORAGE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM, errno.EFBIG}
)
#: Seconds a client is asked to wait, and how long a failure keeps `/readyz` at "not ready".
RETRY_AFTER = 30
REMEMBER_FAILURE = 60.0
#: Free space the data dir must keep for `/readyz` to say ready (SQLite's WAL, the PDFs).
DEFAULT_MIN_FREE_BYTES = 64 * 1024 * 1024
PROBE_NAME = ".readyz-probe"


def storage_failure(error: BaseException) -> str | None:
    """A short, PII-free name of the storage failure that `error` is, or None when it is none.

    Every OperationalError of the database driver counts (a full or read-only database, lost
    connection, a lock not granted in time): the request could not be kept, and trying again
    later is the right answer. Other database errors (an integrity error) are the code's.
    """
    if isinstance(error, sa_exc.OperationalError):
        original = error.orig
        if isinstance(original, sqlite3.Error):
            return f"sqlite:{getattr(original, 'sqlite_errorname', 'error')}"
        sqlstate = getattr(original, "sqlstate", None)
        return f"database:{sqlstate or type(original).__name__}"
    if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:
        return f"os:{errno.errorcode.get(error.errno or 0, error.errno)}"
    return None


@dataclass
class StorageWatch:
    """The readiness of one app's storage: its own probes and the failures it answered."""

    engine_of: Any  # a callable giving the app's engine (made in the lifespan)
    data_dir: Path
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES
    _last_failure: float | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def failed(self, error: BaseException, what: str) -> None:
        """Note a storage failure (answered 503) and log it without its details."""
        with self._lock:
            self._last_failure = time.monotonic()
        logger.error("storage unavailable (%s): %s", what, type(error).__name__)

    def readiness(self) -> dict[str, str]:
        """Each probe's verdict: "ok", or why not."""
        return {
            "database": self._database(),
            "data_dir": self._data_dir(),
            "recent_failures": self._recent(),
        }

    def _database(self) -> str:
        engine: Engine = self.engine_of()
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # any driver error means "not ready"
            return "unreachable"
        return "ok"

    def _data_dir(self) -> str:
        try:
            free = shutil.disk_usage(self.data_dir).free
            probe = self.data_dir / PROBE_NAME
            descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(descriptor, b"ready\n")
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
                probe.unlink(missing_ok=True)
        except OSError as error:
            return f"unwritable ({errno.errorcode.get(error.errno or 0, 'error')})"
        if free < self.min_free_bytes:
            return f"low on space ({free // (1024 * 1024)} MiB free)"
        return "ok"

    def _recent(self) -> str:
        with self._lock:
            last = self._last_failure
        if last is not None and time.monotonic() - last < REMEMBER_FAILURE:
            return "storage failed lately"
        return "ok"
