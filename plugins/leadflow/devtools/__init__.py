"""Local stand-ins for outside services (a SendGrid-compatible server), shipped in the image for docker compose."""
