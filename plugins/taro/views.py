"""The taro routes: sessions, follow-up questions, history and limits for users; sessions,
resets and prompts for staff. Mounted under ``/api/v1/plugins/taro/`` and ``/api/v1/taro/``.

Every answer carries ``success``; an error also carries ``message`` (the same text as
``error``) next to ``code``.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from accounts.selectors import user_for_staff
from plugins.taro import selectors, services
from plugins.taro.models import FollowUpType
from plugins.taro.serializers import (
    FollowUpCreatedSerializer,
    FollowUpInputSerializer,
    HistoryQuerySerializer,
    LimitsResponseSerializer,
    PromptsInputSerializer,
    PromptsResponseSerializer,
    ResetResponseSerializer,
    SessionCreatedSerializer,
    SessionListSerializer,
    TaroErrorSerializer,
)
from vbwd import idempotency
from vbwd.api import AdminMixin, ApiView, UserMixin

_DESCRIPTIONS = {
    400: "Validation error or refusal",
    401: "Not authenticated",
    403: "Admin access required",
    404: "Not found (also: the plugin is not enabled)",
    409: "Conflict",
    429: "Daily limit or rate limit reached",
    502: "The language model gave no answer",
    503: "Service unavailable",
}


def taro_errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return {
        status: OpenApiResponse(response=TaroErrorSerializer, description=_DESCRIPTIONS[status])
        for status in statuses
    }


class TaroView(ApiView):
    """Adds ``success`` to every answer and ``message`` to every error."""

    def finalize_response(self, request, response, *args, **kwargs):
        data = getattr(response, "data", None)
        if response.status_code >= 400 and isinstance(data, dict) and "error" in data:
            response.data = {"success": False, **data, "message": data["error"]}
        return super().finalize_response(request, response, *args, **kwargs)


class SessionCreateView(UserMixin, TaroView):
    @extend_schema(
        summary="Start a tarot reading: three cards, session cost debited",
        description=(
            "Lays three distinct cards (PAST, PRESENT, FUTURE), each upright or reversed, and "
            "debits the session cost once (a request repeated with its Idempotency-Key returns "
            "the same session). The caller's earlier ACTIVE session is closed. Over the daily "
            "limit the answer is 429 with Retry-After: the seconds until the next UTC midnight."
        ),
        request=None,
        responses={201: SessionCreatedSerializer, **taro_errors(400, 401, 409, 429)},
    )
    def post(self, request):
        session = services.taro_session_create(
            user=request.user, request_key=idempotency.key_from(request)
        )
        body = {
            "success": True,
            "message": "Taro session created successfully",
            "session": selectors.session_for_output(session.pk),
        }
        return Response(SessionCreatedSerializer(body).data, status=201)


class FollowUpView(UserMixin, TaroView):
    # Calls the model: the claim commits before the call and the bill after it.
    idempotency_resumable = True

    @extend_schema(
        summary="Ask a follow-up question about the session's cards",
        description=(
            "SAME_CARDS asks about the cards on the table, ADDITIONAL draws one more card "
            "(distinct from those on the table), NEW_SPREAD replaces the three cards. The answer "
            "comes from the configured language model; the follow-up cost is debited once, "
            "after an answer. Refused before the model is asked when the session is not open, "
            "its follow-ups are used up or the balance cannot cover the cost."
        ),
        request=FollowUpInputSerializer,
        responses={201: FollowUpCreatedSerializer, **taro_errors(400, 401, 404, 409, 502, 503)},
    )
    def post(self, request, taro_session_id):
        serializer = FollowUpInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.taro_follow_up(
            user=request.user,
            session_id=taro_session_id,
            question=serializer.validated_data["question"],
            follow_up_type=serializer.validated_data["follow_up_type"] or FollowUpType.SAME_CARDS,
            request_key=idempotency.key_from(request),
        )
        follow_up = result.follow_up
        body = {
            "success": True,
            "message": "Follow-up question submitted successfully",
            "follow_up": {
                "session_id": follow_up.session_id,
                "question": follow_up.question,
                "follow_up_type": follow_up.follow_up_type,
                "follow_up_count": follow_up.session.follow_up_count,
                "answer": follow_up.answer,
                "cards_added": result.cards_added,
                "requested_at": follow_up.requested_at,
            },
        }
        return Response(FollowUpCreatedSerializer(body).data, status=201)


def _page(request, queryset) -> dict:
    query = HistoryQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    limit, offset = query.validated_data["limit"], query.validated_data["offset"]
    status = query.validated_data.get("status")
    if status:
        queryset = queryset.filter(status=status)
    total = queryset.count()
    rows = list(queryset[offset : offset + limit]) if offset < total else []
    return {
        "success": True,
        "sessions": rows,
        "pagination": {"limit": limit, "offset": offset, "total": total},
    }


HISTORY_PARAMETERS = [
    OpenApiParameter("limit", int, description="1–50, default 10"),
    OpenApiParameter("offset", int, description="default 0"),
    OpenApiParameter("status", str, enum=["ACTIVE", "EXPIRED", "CLOSED"]),
]


class HistoryView(UserMixin, TaroView):
    @extend_schema(
        summary="The caller's sessions, newest first",
        parameters=HISTORY_PARAMETERS,
        responses={200: SessionListSerializer, **taro_errors(400, 401)},
    )
    def get(self, request):
        body = _page(request, selectors.sessions_of_user(request.user))
        return Response(SessionListSerializer(body).data)


class LimitsView(UserMixin, TaroView):
    @extend_schema(
        summary="The caller's daily limit, costs, balance and session expiry warning",
        responses={200: LimitsResponseSerializer, **taro_errors(401)},
    )
    def get(self, request):
        view = services.taro_limits_overview(request.user)
        limits = view.limits
        body = {
            "success": True,
            "limits": {
                "daily_total": limits.daily_total,
                "daily_used": limits.daily_used,
                "daily_remaining": limits.daily_remaining,
                "plan_name": limits.plan_name,
                "can_create": limits.daily_remaining > 0 and view.balance >= view.session_cost,
                "max_follow_ups": limits.max_follow_ups,
                "session_cost": view.session_cost,
                "follow_up_cost": view.follow_up_cost,
                "balance": view.balance,
            },
            "session_expiry_warning": {
                "has_warning": view.warning_session is not None,
                "session_id": getattr(view.warning_session, "pk", None),
                "expires_in_seconds": view.expires_in_seconds,
            },
        }
        return Response(LimitsResponseSerializer(body).data)


class AdminUserSessionsView(AdminMixin, TaroView):
    @extend_schema(
        summary="Staff: a user's tarot sessions, newest first",
        parameters=HISTORY_PARAMETERS,
        responses={200: SessionListSerializer, **taro_errors(400, 401, 403, 404)},
    )
    def get(self, request, user_id):
        user = user_for_staff(user_id)
        body = _page(request, selectors.sessions_of_user(user))
        return Response(SessionListSerializer(body).data)


class AdminResetSessionsView(AdminMixin, TaroView):
    @extend_schema(
        summary="Staff: close a user's ACTIVE sessions and reset today's session count",
        request=None,
        responses={200: ResetResponseSerializer, **taro_errors(401, 403, 404, 409)},
    )
    def post(self, request, user_id):
        user = user_for_staff(user_id)
        closed = services.taro_user_sessions_reset(user=user, actor=request.user)
        body = {
            "success": True,
            "message": f"Closed {closed} active session(s); today's session count is reset",
            "closed": closed,
        }
        return Response(ResetResponseSerializer(body).data)


class AdminPromptsView(AdminMixin, TaroView):
    @extend_schema(
        summary="Staff: the system prompts of readings and follow-ups",
        responses={200: PromptsResponseSerializer, **taro_errors(401, 403)},
    )
    def get(self, request):
        return Response(
            PromptsResponseSerializer({"success": True, "prompts": services.taro_prompts()}).data
        )

    @extend_schema(
        summary="Staff: replace the system prompts of readings and/or follow-ups",
        request=PromptsInputSerializer,
        responses={200: PromptsResponseSerializer, **taro_errors(400, 401, 403)},
    )
    def put(self, request):
        serializer = PromptsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        prompts = services.taro_prompts_update(
            prompts=serializer.validated_data["prompts"], actor=request.user
        )
        return Response(PromptsResponseSerializer({"success": True, "prompts": prompts}).data)
