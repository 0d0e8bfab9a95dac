"""Payment methods: the public list and the admin routes."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from billing.catalog.serializers.payment_method_input import (
    PaymentMethodInputSerializer,
    PaymentMethodReorderInputSerializer,
    PaymentMethodTranslationInputSerializer,
    PublicPaymentMethodDetailQuerySerializer,
    PublicPaymentMethodQuerySerializer,
)
from billing.catalog.serializers.payment_methods import (
    PaymentMethodEnvelopeSerializer,
    PaymentMethodListSerializer,
    PaymentMethodMessageSerializer,
    PaymentMethodSerializer,
    PaymentMethodTranslationEnvelopeSerializer,
    PaymentMethodTranslationListSerializer,
    PaymentMethodTranslationSerializer,
    PublicPaymentMethodEnvelopeSerializer,
    PublicPaymentMethodListSerializer,
    PublicPaymentMethodSerializer,
    serializer_context,
)
from billing.catalog.services import payment_methods as services
from vbwd.api import AdminMixin, ApiView, PublicMixin
from vbwd.exceptions import NotFound, ValidationFailed
from vbwd.schema import errors, update_request

PUBLIC_TAGS = ["public"]
TAGS = ["admin: payment methods"]


def _admin_payload(method) -> dict:
    fresh = services.payment_method_by_id(method.pk)
    return PaymentMethodSerializer(fresh, context=serializer_context()).data


def _envelope(method, message: str) -> dict:
    return {"payment_method": _admin_payload(method), "message": message}


class PublicPaymentMethodsView(PublicMixin, ApiView):
    @extend_schema(
        tags=PUBLIC_TAGS,
        summary="Payment methods a customer can use",
        parameters=[PublicPaymentMethodQuerySerializer],
        responses={200: PublicPaymentMethodListSerializer, **errors(400)},
    )
    def get(self, request):
        query = PublicPaymentMethodQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        methods = services.payment_methods_public(**query.validated_data)
        context = {"locale": query.validated_data.get("locale")}
        return Response(
            {"methods": PublicPaymentMethodSerializer(methods, many=True, context=context).data}
        )


class PublicPaymentMethodDetailView(PublicMixin, ApiView):
    @extend_schema(
        tags=PUBLIC_TAGS,
        summary="One available payment method by code",
        parameters=[PublicPaymentMethodDetailQuerySerializer],
        responses={200: PublicPaymentMethodEnvelopeSerializer, **errors(400, 404)},
    )
    def get(self, request, code):
        query = PublicPaymentMethodDetailQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        locale = query.validated_data.get("locale")
        method = services.payment_method_public(code=code, locale=locale)
        return Response(
            {"method": PublicPaymentMethodSerializer(method, context={"locale": locale}).data}
        )


class AdminPaymentMethodsView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="All payment methods by position",
        responses={200: PaymentMethodListSerializer, **errors(401, 403)},
    )
    def get(self, request):
        methods = services.payment_methods_all()
        data = PaymentMethodSerializer(methods, many=True, context=serializer_context()).data
        return Response({"payment_methods": data})

    @extend_schema(
        tags=TAGS,
        summary="Create a payment method",
        request=PaymentMethodInputSerializer,
        responses={201: PaymentMethodEnvelopeSerializer, **errors(400, 401, 403, 409)},
    )
    def post(self, request):
        serializer = PaymentMethodInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        method = services.payment_method_create(data=serializer.validated_data, actor=request.user)
        return Response(_envelope(method, "Payment method created successfully"), status=201)


class AdminPaymentMethodDetailView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="One payment method",
        responses={200: PaymentMethodEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, method_id):
        method = services.payment_method_by_id(method_id)
        return Response({"payment_method": _admin_payload(method)})

    @extend_schema(
        tags=TAGS,
        summary="Update a payment method (partial; the code cannot change)",
        request=update_request(PaymentMethodInputSerializer, "method"),
        responses={200: PaymentMethodEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def put(self, request, method_id):
        method = services.payment_method_by_id(method_id)
        serializer = PaymentMethodInputSerializer(data=request.data, context={"method": method})
        serializer.is_valid(raise_exception=True)
        services.payment_method_update(
            method=method, data=serializer.validated_data, actor=request.user
        )
        return Response(_envelope(method, "Payment method updated successfully"))

    patch = put

    @extend_schema(
        tags=TAGS,
        summary="Delete a payment method that is neither the default nor in use",
        responses={200: PaymentMethodMessageSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def delete(self, request, method_id):
        method = services.payment_method_by_id(method_id)
        services.payment_method_delete(method=method, actor=request.user)
        return Response({"message": "Payment method deleted successfully"})


class AdminPaymentMethodByCodeView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="One payment method by code",
        responses={200: PaymentMethodEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, code):
        method = services.payment_method_by_code(code)
        return Response({"payment_method": _admin_payload(method)})


class AdminPaymentMethodActivateView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Activate a payment method",
        request=None,
        responses={200: PaymentMethodEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def post(self, request, method_id):
        method = services.payment_method_by_id(method_id)
        services.payment_method_activate(method=method, actor=request.user)
        return Response(_envelope(method, "Payment method activated"))


class AdminPaymentMethodDeactivateView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Deactivate a payment method (not the default)",
        request=None,
        responses={200: PaymentMethodEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, method_id):
        method = services.payment_method_by_id(method_id)
        services.payment_method_deactivate(method=method, actor=request.user)
        return Response(_envelope(method, "Payment method deactivated"))


class AdminPaymentMethodSetDefaultView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Make an active payment method the default",
        request=None,
        responses={200: PaymentMethodEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, method_id):
        method = services.payment_method_by_id(method_id)
        services.payment_method_set_default(method=method, actor=request.user)
        return Response(_envelope(method, "Default payment method updated"))


class AdminPaymentMethodReorderView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Set the positions of payment methods",
        request=PaymentMethodReorderInputSerializer,
        responses={200: PaymentMethodListSerializer, **errors(400, 401, 403)},
    )
    def put(self, request):
        serializer = PaymentMethodReorderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        methods = services.payment_methods_reorder(
            order=serializer.validated_data["order"], actor=request.user
        )
        data = PaymentMethodSerializer(methods, many=True, context=serializer_context()).data
        return Response({"payment_methods": data})

    patch = put


class AdminPaymentMethodTranslationsView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Translations of a payment method by locale",
        responses={200: PaymentMethodTranslationListSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, method_id):
        method = services.payment_method_by_id(method_id)
        translations = method.translations.order_by("locale")
        return Response(
            {"translations": PaymentMethodTranslationSerializer(translations, many=True).data}
        )

    @extend_schema(
        tags=TAGS,
        summary="Insert or update the translation for a locale",
        request=PaymentMethodTranslationInputSerializer,
        responses={200: PaymentMethodTranslationEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, method_id):
        method = services.payment_method_by_id(method_id)
        serializer = PaymentMethodTranslationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        texts = dict(serializer.validated_data)
        locale = texts.pop("locale")
        translation = services.payment_method_translation_save(
            method=method, locale=locale, data=texts, actor=request.user
        )
        return Response(
            {
                "translation": PaymentMethodTranslationSerializer(translation).data,
                "message": "Translation saved",
            }
        )


class AdminPaymentMethodTranslationDetailView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Delete the translation for a locale",
        responses={200: PaymentMethodMessageSerializer, **errors(401, 403, 404)},
    )
    def delete(self, request, method_id, locale):
        method = services.payment_method_by_id(method_id)
        try:
            canonical = services.canonical_locale(locale)
        except ValidationFailed:
            raise NotFound("Translation not found") from None
        services.payment_method_translation_delete(
            method=method, locale=canonical, actor=request.user
        )
        return Response({"message": "Translation deleted"})
