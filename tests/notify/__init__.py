"""Notification tests (a package, so that `notify.servers` never collides with another module)."""
