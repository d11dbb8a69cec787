"""The mock civil registry: intake of signed dossiers, the clerk's queue, registration (act record
number, child IIN, certificate), and `client.py`, the one way others reach it.

It trusts only its configured CA roots and the signatures in front of it, never reads the ward's
tables and never imports `birthreg.ward`: the two meet only through the dossier over HTTP.
"""
