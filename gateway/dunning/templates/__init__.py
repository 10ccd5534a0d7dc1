"""Jinja2 templates of the dunning package (the escalation list PDF)."""
