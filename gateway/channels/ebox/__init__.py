"""eBox channel (citizen and enterprise eBox, publication API v3): client, provider, loopback sandbox."""
