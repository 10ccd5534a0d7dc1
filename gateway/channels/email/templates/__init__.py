"""Jinja2 templates for consumer e-mails (a package so the files ship as package data)."""
