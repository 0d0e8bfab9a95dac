"""The staff API of coupons: list, create, read, update, delete, (de)activate, redemptions."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from billing.coupons import selectors, staff
from billing.coupons.serializers import (
    CouponEnvelopeSerializer,
    CouponMessageEnvelopeSerializer,
    CouponPageSerializer,
    CouponSerializer,
    CouponsQuerySerializer,
    CouponWriteSerializer,
    RedemptionPageSerializer,
    RedemptionSerializer,
    RedemptionsQuerySerializer,
)
from vbwd.api import AdminMixin, ApiView
from vbwd.pagination import paginate
from vbwd.schema import MessageSerializer, errors, update_request

TAGS = ["admin: coupons"]
PAGINATION = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("limit", int),
    OpenApiParameter("offset", int),
]


def _coupon_data(coupon) -> dict:
    coupon = selectors.coupons_for_output().get(pk=coupon.pk)
    return CouponSerializer(coupon).data


class AdminCouponsView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Coupons, newest first, with their redemption counts",
        parameters=[CouponsQuerySerializer, *PAGINATION],
        responses={200: CouponPageSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = CouponsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        coupons, meta = paginate(
            request.query_params, selectors.coupons_for_staff(**query.validated_data)
        )
        return Response({"coupons": CouponSerializer(coupons, many=True).data, **meta})

    @extend_schema(
        tags=TAGS,
        summary="Create a coupon",
        request=CouponWriteSerializer,
        responses={201: CouponMessageEnvelopeSerializer, **errors(400, 401, 403, 409)},
    )
    def post(self, request):
        serializer = CouponWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        coupon = staff.coupon_create(values=serializer.validated_data, actor=request.user)
        return Response({"coupon": _coupon_data(coupon), "message": "Coupon created"}, status=201)


class AdminCouponView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="One coupon",
        responses={200: CouponEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, coupon_id):
        return Response({"coupon": _coupon_data(staff.coupon_for_staff(coupon_id))})

    @extend_schema(
        tags=TAGS,
        summary="Update a coupon (partial; a redeemed coupon keeps its code, kind and amounts)",
        request=update_request(CouponWriteSerializer),
        responses={200: CouponMessageEnvelopeSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def put(self, request, coupon_id):
        coupon = staff.coupon_for_staff(coupon_id)
        serializer = CouponWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        coupon = staff.coupon_update(
            coupon=coupon, values=serializer.validated_data, actor=request.user
        )
        return Response({"coupon": _coupon_data(coupon), "message": "Coupon updated"})

    patch = put

    @extend_schema(
        tags=TAGS,
        summary="Delete a coupon nobody redeemed",
        responses={200: MessageSerializer, **errors(400, 401, 403, 404)},
    )
    def delete(self, request, coupon_id):
        staff.coupon_delete(coupon=staff.coupon_for_staff(coupon_id), actor=request.user)
        return Response({"message": "Coupon deleted"})


class AdminCouponActivateView(AdminMixin, ApiView):
    active = True

    @extend_schema(
        tags=TAGS,
        summary="Let customers use a coupon",
        request=None,
        responses={200: CouponMessageEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def post(self, request, coupon_id):
        coupon = staff.coupon_set_active(
            coupon=staff.coupon_for_staff(coupon_id), active=self.active, actor=request.user
        )
        message = "Coupon activated" if self.active else "Coupon deactivated"
        return Response({"coupon": _coupon_data(coupon), "message": message})


class AdminCouponDeactivateView(AdminCouponActivateView):
    active = False

    @extend_schema(
        tags=TAGS,
        summary="Stop customers from using a coupon",
        request=None,
        responses={200: CouponMessageEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def post(self, request, coupon_id):
        return super().post(request, coupon_id)


class AdminCouponRedemptionsView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="A coupon's redemptions, newest first",
        parameters=[RedemptionsQuerySerializer, *PAGINATION],
        responses={200: RedemptionPageSerializer, **errors(400, 401, 403, 404)},
    )
    def get(self, request, coupon_id):
        coupon = staff.coupon_for_staff(coupon_id)
        query = RedemptionsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows, meta = paginate(
            request.query_params, selectors.redemptions_of(coupon, **query.validated_data)
        )
        return Response({"redemptions": RedemptionSerializer(rows, many=True).data, **meta})
