"""Segment: the trigger behind Segment's Tray destination."""
