"""The /pki endpoints over `signing`'s CA, and how the service reaches revocation data."""
