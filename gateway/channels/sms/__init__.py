"""SMS channel: sans-IO segment counting and delivery-receipt mapping."""
