"""File helpers: make, read and write files that workflow steps pass each other (Tray's
"file-helpers")."""
