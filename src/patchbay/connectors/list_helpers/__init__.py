"""List helpers: pick, filter, sort, group and aggregate lists (Tray's "list-helpers")."""
