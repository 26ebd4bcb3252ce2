"""Single sign-on: what the sign-in page needs to know."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SsoStatus(BaseModel):
    enabled: bool = Field(description="Whether single sign-on (OpenID Connect) is configured")
    ssoOnly: bool = Field(description="Whether password sign-in is refused")
    startUrl: str = Field(description="Where the sign-in button sends the browser (?next=/path)")
