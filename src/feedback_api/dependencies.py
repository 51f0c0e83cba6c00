"""FastAPI dependencies shared by every router."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from feedback_api.config import Settings
from feedback_api.interactions.service import IngestRules


# async: FastAPI runs plain `def` dependencies in a thread pool, a costly hop per request.
async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_ingest_rules(request: Request) -> IngestRules:
    rules: IngestRules = request.app.state.ingest_rules
    return rules


IngestRulesDep = Annotated[IngestRules, Depends(get_ingest_rules)]
