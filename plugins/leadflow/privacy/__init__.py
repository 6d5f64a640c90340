"""Personal data over its whole life: erasure, export, hashed suppression and retention (docs/adr/0014)."""
