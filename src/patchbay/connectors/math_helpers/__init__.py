"""Math helpers: exact decimal arithmetic, rounding and list statistics (Tray's "math-helpers")."""
