"""Generated SVG logos of the demo creditors (package data)."""
