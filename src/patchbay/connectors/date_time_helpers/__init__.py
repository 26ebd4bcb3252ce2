"""Date & Time Helpers: format, parse, shift, compare and round dates in any time zone."""
