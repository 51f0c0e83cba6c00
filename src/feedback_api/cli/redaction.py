"""Redaction in the export commands."""

from __future__ import annotations

from typing import Any

import typer

from feedback_api.config import Settings

# The command line reads the database with its own credentials: whoever runs it holds what
# an admin key would give, so --no-redact needs nothing more (it is said, and recorded in
# the manifest).
REDACT_HELP = (
    "Replace personal data and secrets (e-mails, phones, cards, IBANs, IPs, API keys, ...) "
    "by typed placeholders. --no-redact writes them as users sent them."
)


async def cli_redactor(settings: Settings, redact: bool) -> Any:
    from feedback_api.privacy.redaction.dependencies import load_redactor

    if not redact:
        typer.secho(
            "warning: --no-redact: the file holds the users' personal data and secrets as "
            "they sent them",
            fg="yellow",
            err=True,
        )
        return None
    return await load_redactor(settings.redaction)
