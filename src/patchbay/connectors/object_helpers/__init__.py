"""Object helpers: read, write and reshape JSON objects by key path (Tray's "object-helpers")."""
