"""Ward tests (a package, so that `ward.helpers` never collides with other helpers)."""
