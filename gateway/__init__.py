"""Peppol and e-invoice integration gateway."""

__version__ = "0.1.0"
