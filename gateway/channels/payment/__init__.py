"""Payment instruments printed in consumer messages (EPC QR)."""
