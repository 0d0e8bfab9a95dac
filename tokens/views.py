"""Token bundles: the public catalog (API.md §5.2) and the admin API (§16.2)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from tokens import selectors, services
from tokens.serializers import (
    AdminTokenBundlePageSerializer,
    TokenBundleEnvelopeSerializer,
    TokenBundleListSerializer,
    TokenBundleMessageEnvelopeSerializer,
    TokenBundleWriteSerializer,
    bundle_data,
    bundles_data,
)
from vbwd.api import AdminMixin, ApiView, PublicMixin
from vbwd.filters import parse_bool
from vbwd.pagination import paginate
from vbwd.schema import MessageSerializer, errors

PUBLIC_TAGS = ["catalog"]
ADMIN_TAGS = ["admin: token bundles"]


class TokenBundlesView(PublicMixin, ApiView):
    @extend_schema(
        tags=PUBLIC_TAGS,
        summary="Active token bundles by sort order, then name",
        responses={200: TokenBundleListSerializer},
    )
    def get(self, request):
        return Response({"bundles": bundles_data(selectors.bundles_active())})


class TokenBundleView(PublicMixin, ApiView):
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
        parameters=[
            OpenApiParameter("include_inactive", bool, description="default false"),
            OpenApiParameter("page", int),
            OpenApiParameter("per_page", int),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: AdminTokenBundlePageSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = request.query_params
        include_inactive = parse_bool(query.get("include_inactive"), name="include_inactive")
        bundles, meta = paginate(
            query, selectors.bundles_for_staff(include_inactive=bool(include_inactive))
        )
        return Response({"items": bundles_data(bundles), **meta})

    @extend_schema(
        tags=ADMIN_TAGS,
        summary="Create a token bundle",
        request=TokenBundleWriteSerializer,
        responses={201: TokenBundleMessageEnvelopeSerializer, **errors(400, 401, 403)},
    )
    def post(self, request):
        bundle = services.token_bundle_create(data=request.data, actor=request.user)
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
        request=TokenBundleWriteSerializer,
        responses={200: TokenBundleMessageEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def put(self, request, bundle_id):
        bundle = services.token_bundle_update(
            bundle=selectors.bundle_by_id(bundle_id), data=request.data, actor=request.user
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
