"""Patchbay: an open, self-hostable integration platform with a Tray-compatible API."""

__version__ = "0.1.0"
