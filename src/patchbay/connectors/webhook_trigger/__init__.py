"""Webhook: a generic inbound webhook trigger (any sender, optional HMAC or shared secret)."""
