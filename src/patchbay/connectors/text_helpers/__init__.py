"""Text helpers: split, join, change, search and encode text (Tray's "text-helpers")."""
