from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from feedback_api.kit.models import Base


class ProjectReasons(Base):
    """A project's own label set for the reasons of a vote; it replaces the default set
    (FEEDBACK_REASONS) for that project. A project without a row uses the default."""

    __tablename__ = "project_reasons"

    project: Mapped[str] = mapped_column(String(200), primary_key=True)
    reasons: Mapped[list[str]] = mapped_column(ARRAY(Text))
    updated_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), onupdate=func.now(), nullable=False
    )
