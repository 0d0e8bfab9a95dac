"""Token bundles: the public catalog and the admin API."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from accounts.selectors import user_for_staff
from tokens import selectors, services
from tokens.models import TokenTransaction
from tokens.serializers import (
    AdminTokenBundlePageSerializer,
    AdminTokenPageSerializer,
    LedgerQuerySerializer,
    TokenAdjustInputSerializer,
    TokenAdjustResponseSerializer,
    TokenBalanceSerializer,
    TokenBundleEnvelopeSerializer,
    TokenBundleListSerializer,
    TokenBundleMessageEnvelopeSerializer,
    TokenBundlesQuerySerializer,
    TokenBundleWriteSerializer,
    TokenTransactionPageSerializer,
    TokenTransactionSerializer,
    bundle_data,
    bundles_data,
)
from vbwd.api import AdminMixin, ApiView, PublicMixin, UserMixin
from vbwd.catalog_cache import CatalogCacheMixin
from vbwd.pagination import paginate
from vbwd.schema import MessageSerializer, errors, update_request

PUBLIC_TAGS = ["catalog"]
PAGINATION = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("limit", int),
    OpenApiParameter("offset", int),
]
ADMIN_TAGS = ["admin: token bundles"]


class TokenBundlesView(CatalogCacheMixin, PublicMixin, ApiView):
    @extend_schema(
        tags=PUBLIC_TAGS,
        summary="Active token bundles by sort order, then name",
        responses={200: TokenBundleListSerializer},
    )
    def get(self, request):
        return Response({"bundles": bundles_data(selectors.bundles_active())})


class TokenBundleView(CatalogCacheMixin, PublicMixin, ApiView):
    @extend_schema(
        tags=PUBLIC_TAGS,
        summary="One token bundle (inactive ones too)",
        responses={200: TokenBundleEnvelopeSerializer, **errors(404)},
    )
    def get(self, request, bundle_id):
        return Response({"bundle": bundle_data(selectors.bundle_by_id(bundle_id))})


class AdminTokenBundlesView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_TAGS,
        summary="Token bundles, paginated (active only unless include_inactive)",
        parameters=[TokenBundlesQuerySerializer, *PAGINATION],
        responses={200: AdminTokenBundlePageSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = TokenBundlesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        include_inactive = bool(query.validated_data.get("include_inactive"))
        bundles, meta = paginate(
            request.query_params, selectors.bundles_for_staff(include_inactive=include_inactive)
        )
        return Response({"items": bundles_data(bundles), **meta})

    @extend_schema(
        tags=ADMIN_TAGS,
        summary="Create a token bundle",
        request=TokenBundleWriteSerializer,
        responses={201: TokenBundleMessageEnvelopeSerializer, **errors(400, 401, 403)},
    )
    def post(self, request):
        serializer = TokenBundleWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bundle = services.token_bundle_create(values=serializer.validated_data, actor=request.user)
        return Response(
            {"bundle": bundle_data(bundle), "message": "Token bundle created successfully"},
            status=201,
        )


class AdminTokenBundleView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_TAGS,
        summary="One token bundle",
        responses={200: TokenBundleEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, bundle_id):
        return Response({"bundle": bundle_data(selectors.bundle_by_id(bundle_id))})

    @extend_schema(
        tags=ADMIN_TAGS,
        summary="Update a token bundle (partial)",
        request=update_request(TokenBundleWriteSerializer),
        responses={200: TokenBundleMessageEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def put(self, request, bundle_id):
        bundle = selectors.bundle_by_id(bundle_id)
        serializer = TokenBundleWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        bundle = services.token_bundle_update(
            bundle=bundle, values=serializer.validated_data, actor=request.user
        )
        return Response(
            {"bundle": bundle_data(bundle), "message": "Token bundle updated successfully"}
        )

    patch = put

    @extend_schema(
        tags=ADMIN_TAGS,
        summary="Delete a token bundle nobody bought",
        responses={200: MessageSerializer, **errors(401, 403, 404, 409)},
    )
    def delete(self, request, bundle_id):
        services.token_bundle_delete(bundle=selectors.bundle_by_id(bundle_id), actor=request.user)
        return Response({"message": "Token bundle deleted successfully"})


class AdminTokenBundleActivateView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_TAGS,
        summary="Put a token bundle on sale",
        request=None,
        responses={200: TokenBundleMessageEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def post(self, request, bundle_id):
        bundle = services.token_bundle_activate(
            bundle=selectors.bundle_by_id(bundle_id), actor=request.user
        )
        return Response({"bundle": bundle_data(bundle), "message": "Token bundle activated"})


class AdminTokenBundleDeactivateView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_TAGS,
        summary="Take a token bundle off sale",
        request=None,
        responses={200: TokenBundleMessageEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def post(self, request, bundle_id):
        bundle = services.token_bundle_deactivate(
            bundle=selectors.bundle_by_id(bundle_id), actor=request.user
        )
        return Response({"bundle": bundle_data(bundle), "message": "Token bundle deactivated"})


# --- balances and the ledger ---------------------------------

LEDGER_PAGE_SIZE = 50  # default `limit` of the ledger lists


def _ledger_page(request, user) -> tuple[list, dict]:
    query = LedgerQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    transactions = TokenTransaction.objects.filter(user=user).order_by("-created_at", "-pk")
    transaction_type = query.validated_data.get("type")
    if transaction_type is not None:
        transactions = transactions.filter(transaction_type=transaction_type)
    rows, meta = paginate(request.query_params, transactions, default_per_page=LEDGER_PAGE_SIZE)
    return TokenTransactionSerializer(rows, many=True).data, meta


LEDGER_PARAMETERS = [
    LedgerQuerySerializer,
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("limit", int, description="default 50"),
    OpenApiParameter("offset", int),
]


class UserTokenBalanceView(UserMixin, ApiView):
    @extend_schema(
        tags=["user: tokens"],
        summary="The caller's token balance",
        responses={200: TokenBalanceSerializer, **errors(401)},
    )
    def get(self, request):
        return Response({"balance": services.balance_of(request.user)})


class UserTokenTransactionsView(UserMixin, ApiView):
    @extend_schema(
        tags=["user: tokens"],
        summary="The caller's ledger, newest first",
        parameters=LEDGER_PARAMETERS,
        responses={200: TokenTransactionPageSerializer, **errors(400, 401)},
    )
    def get(self, request):
        transactions, meta = _ledger_page(request, request.user)
        return Response({"transactions": transactions, **meta})


class AdminUserTokensView(AdminMixin, ApiView):
    @extend_schema(
        tags=["admin: users"],
        summary="A user's balance and ledger",
        parameters=LEDGER_PARAMETERS,
        responses={200: AdminTokenPageSerializer, **errors(400, 401, 403, 404)},
    )
    def get(self, request, user_id):
        user = user_for_staff(user_id)
        transactions, meta = _ledger_page(request, user)
        return Response(
            {"balance": services.balance_of(user), "transactions": transactions, **meta}
        )


class AdminUserTokensAdjustView(AdminMixin, ApiView):
    @extend_schema(
        tags=["admin: users"],
        summary="Adjust a user's balance through the ledger",
        request=TokenAdjustInputSerializer,
        responses={200: TokenAdjustResponseSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, user_id):
        user = user_for_staff(user_id)
        serializer = TokenAdjustInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry = services.tokens_adjust(user=user, actor=request.user, **serializer.validated_data)
        return Response(
            {
                "balance": entry.balance,
                "transaction": TokenTransactionSerializer(entry.transaction).data,
                "message": "Token balance adjusted",
            }
        )
