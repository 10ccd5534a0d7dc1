"""Shipped data files (rates). A package so setuptools ships the JSON with it."""
