"""Paper letters handed to a print provider through a drop folder (PDFs + manifest CSV)."""
