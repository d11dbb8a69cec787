"""The ward: births, enrollments, key issuance and revocation (service, JSON API, pages)."""
