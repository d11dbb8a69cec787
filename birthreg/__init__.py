"""birthreg: maternity-ward e-birth-registration with a TEST PKI."""

__version__ = "0.1.0"
