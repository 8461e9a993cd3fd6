"""Configuration section ``[reader]`` (validated by the kiosk; usable on its own)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReaderSettings(BaseModel):
    """How to reach the ID card reader and how to poll it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str = Field(min_length=1)
    baudrate: int = Field(ge=1200, le=921_600)
    poll_interval_s: float = Field(ge=0.3, le=10.0)
    command_timeout_s: float = Field(gt=0, le=30)
    reconnect_max_backoff_s: float = Field(gt=0, le=600)
    wlt_decoder: str
