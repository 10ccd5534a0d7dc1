"""Jinja2 templates and the stylesheet of the paper letters (package data)."""
