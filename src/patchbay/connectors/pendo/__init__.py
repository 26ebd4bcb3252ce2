"""The Pendo connector (Pendo API v1)."""
