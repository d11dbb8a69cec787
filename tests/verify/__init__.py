"""Public verification tests (a package, so that `verify.certificates` collides with nothing)."""
