"""Paper letters (invoice, reminder) as PDF: `render.render_letter`; creditor logos: `logo`."""
