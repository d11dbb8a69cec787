"""Registry tests (a package, so that `registry.factories` never collides with `factories`)."""
