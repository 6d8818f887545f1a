"""The platform's PKI: its CA keys in files, certificates made with ``cryptography`` (see docs/security.md)."""
