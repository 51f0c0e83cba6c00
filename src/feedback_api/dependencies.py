"""Route dependencies on the app's lifespan state (see `app.State`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from feedback_api.feedback.service import VoteIntake
from feedback_api.interactions.service import IngestRules


async def ingest_rules_of(request: Request) -> IngestRules:
    rules: IngestRules = request.state.ingest_rules
    return rules


IngestRulesDep = Annotated[IngestRules, Depends(ingest_rules_of)]


async def vote_intake_of(request: Request) -> VoteIntake:
    # The lifespan's state as the ASGI scope holds it: `request.state` wraps it in an object
    # of its own on each request.
    intake: VoteIntake = request.scope["state"]["vote_intake"]
    return intake


VoteIntakeDep = Annotated[VoteIntake, Depends(vote_intake_of)]
