"""Alembic, driven from inside the package (CLI `feedback-api db ...`, start-up, tests)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_PACKAGE = Path(__file__).resolve().parent.parent  # feedback_api/


def _ini_path() -> Path:
    # From a source checkout the repo's alembic.ini wins; a wheel carries its own copy.
    repo_ini = _PACKAGE.parent.parent / "alembic.ini"
    if repo_ini.is_file() and (repo_ini.parent / "alembic" / "env.py").is_file():
        return repo_ini
    return _PACKAGE / "alembic.ini"


def alembic_config(database_url: str | None = None, *, configure_logging: bool = False) -> Config:
    ini = _ini_path()
    cfg = Config(str(ini))
    cfg.set_main_option("script_location", str(ini.parent / "alembic"))
    cfg.attributes["configure_logging"] = configure_logging
    if database_url:
        cfg.attributes["database_url"] = database_url
    return cfg


@cache
def head_revision() -> str | None:
    """The newest migration this code ships. Read once per process (parsing every script of
    alembic/versions takes 50-100 ms, at each app start): the scripts are part of the code,
    which a running process never changes."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Run `alembic upgrade` (blocking; env.py runs its own event loop)."""
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
        if not exists:
            return None
        version = await conn.scalar(text("SELECT version_num FROM alembic_version LIMIT 1"))
        return str(version) if version is not None else None
