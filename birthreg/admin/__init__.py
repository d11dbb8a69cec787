"""The admin's domain: staff accounts, from pages (/admin) and from the JSON API (/api/v1/admin)."""
