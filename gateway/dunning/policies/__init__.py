"""Shipped dunning policies (JSON, validated by schemas/dunning-policy.schema.json)."""
