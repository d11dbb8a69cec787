"""The parents' phone pages: key, application, signing, status."""
