"""E-mail channel: sans-IO composition, VERP return paths and bounce parsing."""
