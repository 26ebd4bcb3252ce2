"""Tray's automatic retries, by error kind (scaled by ``PATCHBAY_WORKFLOW_RETRY_SCALE``):
third-party API errors (and timeouts, rate limits) 3 times every 40 s; a connector crash 3
times; an authentication problem at once, then twice 20 s apart; bad input never."""

from __future__ import annotations

from typing import Any

# kind -> delays (seconds) before each retry.
RETRIES: dict[str, tuple[float, ...]] = {
    "api_error": (40, 40, 40),
    "connector_crash": (5, 5, 5),
    "oauth_refresh": (0, 20, 20),
    "user_input_error": (),
}
# an error's kind -> its row in the table
KIND_OF = {
    "api_error": "api_error",
    "rate_limited": "api_error",
    "timeout": "api_error",
    "auth_error": "oauth_refresh",
    "connector_error": "user_input_error",
}


def retry_delay(error: dict[str, Any] | None, attempts: int, scale: float) -> float:
    """Seconds to wait before the retry that follows failed attempt number ``attempts``."""
    kind = (error or {}).get("kind", "api_error")
    delays = RETRIES.get(KIND_OF.get(kind, kind), (5,))
    base = delays[min(attempts, len(delays)) - 1] if delays else 0
    return base * scale
