"""The only request parser of the API: a JSON object, or an empty body read as ``{}``."""

import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


class JSONObjectParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read()
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise ParseError("Malformed JSON body") from error
        if not isinstance(data, dict):
            raise ParseError("Request body must be a JSON object")
        return data


class LenientJSONParser(BaseParser):
    """For endpoints that must never fail on their body (logout): any content type, and a body
    that is not a JSON object reads as ``{}``."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return JSONObjectParser().parse(stream, media_type, parser_context)
        except ParseError:
            return {}
