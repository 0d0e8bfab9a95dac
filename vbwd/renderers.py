from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer


class JSONRenderer(DRFJSONRenderer):
    """JSON with an explicit UTF-8 charset."""

    charset = "utf-8"


class JSONFallbackNegotiation(DefaultContentNegotiation):
    """An Accept header the view cannot satisfy gets the view's first renderer, never a 406
    (the API answers no 406); ``?format=json`` on the schema still picks JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            if request.query_params.get(self.settings.URL_FORMAT_OVERRIDE) or format_suffix:
                raise
            return renderers[0], renderers[0].media_type


class QueryFormatIsDataNegotiation(BaseContentNegotiation):
    """For endpoints whose ``?format=`` is their own parameter (category tree / flat): the
    response is always the view's first renderer, JSON."""

    def select_parser(self, request, parsers):
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
