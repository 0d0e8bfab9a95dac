from rest_framework.renderers import JSONRenderer as DRFJSONRenderer


class JSONRenderer(DRFJSONRenderer):
    """JSON with an explicit UTF-8 charset (API.md §1.2)."""

    charset = "utf-8"
