"""Every model of the service: Alembic (autogenerate, `alembic check`) reads `Base.metadata`."""

from __future__ import annotations

from feedback_api.alerts.models import Alert, AlertDelivery
from feedback_api.analytics.models import (
    AnalyticsChange,
    DailyMetric,
    DailyReason,
    MemberHour,
    MemberLastCast,
    MemberWindow,
    QueryHour,
    QueryWindow,
    ReasonHour,
    RefreshState,
    TopQuery,
    VoteHour,
    VoteWindow,
    WindowStat,
)
from feedback_api.exports.models import ExportRun
from feedback_api.feedback.models import Feedback
from feedback_api.idempotency.models import IdempotencyKey
from feedback_api.interactions.models import Interaction
from feedback_api.kit.models import Base
from feedback_api.reasons.models import ProjectReasons
from feedback_api.review.models import (
    ReviewAssignment,
    ReviewItem,
    ReviewLabel,
    ReviewLabelVersion,
    ReviewQueue,
    ReviewRule,
    ReviewSlot,
)

__all__ = [
    "Alert",
    "AlertDelivery",
    "AnalyticsChange",
    "Base",
    "DailyMetric",
    "DailyReason",
    "ExportRun",
    "Feedback",
    "IdempotencyKey",
    "Interaction",
    "MemberHour",
    "MemberLastCast",
    "MemberWindow",
    "ProjectReasons",
    "QueryHour",
    "QueryWindow",
    "ReasonHour",
    "RefreshState",
    "ReviewAssignment",
    "ReviewItem",
    "ReviewLabel",
    "ReviewLabelVersion",
    "ReviewQueue",
    "ReviewRule",
    "ReviewSlot",
    "TopQuery",
    "VoteHour",
    "VoteWindow",
    "WindowStat",
]
