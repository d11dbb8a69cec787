"""The PKI and signature core of birthreg.

Standard library, cryptography, asn1crypto and rfc8785 only: no web framework, no database, no
settings and no clock. Keys, trust roots and the moment of validation come in as arguments.
"""
