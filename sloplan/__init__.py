"""sloplan."""
