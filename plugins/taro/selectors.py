"""Queries the taro views and services share."""

from __future__ import annotations

import datetime

from django.db.models import Prefetch, QuerySet

from plugins.taro.models import TaroCard, TaroSession, TaroSessionStatus
from vbwd.exceptions import NotFound


def utc_day_start(now: datetime.datetime) -> datetime.datetime:
    return now.astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def table_cards() -> Prefetch:
    """The cards on a session's table, in drawing order, with their deck entries."""
    return Prefetch(
        "cards",
        queryset=TaroCard.objects.filter(on_table=True)
        .select_related("arcana")
        .order_by("sequence"),
        to_attr="table",
    )


def sessions_for_output(queryset: QuerySet[TaroSession] | None = None) -> QuerySet[TaroSession]:
    queryset = queryset if queryset is not None else TaroSession.objects.all()
    return queryset.prefetch_related(table_cards())


def session_for_output(session_id) -> TaroSession:
    return sessions_for_output().get(pk=session_id)


def sessions_of_user(user, *, status: str | None = None) -> QuerySet[TaroSession]:
    queryset = TaroSession.objects.filter(user=user)
    if status:
        queryset = queryset.filter(status=status)
    return sessions_for_output(queryset).order_by("-created_at", "-id")


def sessions_counted_today(user, *, now: datetime.datetime) -> int:
    """The caller's sessions created this UTC day that use up the daily limit."""
    return TaroSession.objects.filter(
        user=user, created_at__gte=utc_day_start(now), counts_toward_limit=True
    ).count()


def active_session(user) -> TaroSession | None:
    return (
        TaroSession.objects.filter(user=user, status=TaroSessionStatus.ACTIVE)
        .order_by("-created_at")
        .first()
    )


def session_of_user_or_404(user, session_id) -> TaroSession:
    session = TaroSession.objects.filter(user=user, pk=session_id).first()
    if session is None:
        raise NotFound("Session not found")
    return session
