"""Request and response models: the HTTP contract."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: Literal["ok"] = Field(description="Always `ok` when the service answers.")
