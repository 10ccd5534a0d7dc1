"""Peppol channel: an access-point provider over HTTP (contract in README.md beside this file)."""
