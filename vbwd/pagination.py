"""Pagination with both parameter styles (``page``/``per_page`` and ``limit``/``offset``) and the
superset of keys every paged list answers with, and the one factory of page-envelope
serializers for the schema."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rest_framework import serializers

from vbwd.exceptions import ValidationFailed
from vbwd.fields.numbers import NUMBER_MESSAGES, NotANumber, integer_from_text

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
PAGINATION_PARAMETERS = ("page", "per_page", "limit", "offset")
# The keys ``Window.meta`` adds next to ``total`` (in this order).
PAGE_KEYS = ("page", "per_page", "pages", "limit", "offset")


def _int_param(query, name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return integer_from_text(str(raw))
    except (NotANumber, ValueError) as error:
        ascii_only = isinstance(error, NotANumber) and error.key == "ascii"
        message = NUMBER_MESSAGES["ascii"] if ascii_only else "{name} must be an integer"
        raise ValidationFailed(message.format(name=name), field=name) from None


def is_requested(query) -> bool:
    """True when any pagination parameter is given (user self-service lists page only then)."""
    return any(query.get(name) not in (None, "") for name in PAGINATION_PARAMETERS)


@dataclass(frozen=True)
class Window:
    offset: int
    per_page: int

    @classmethod
    def from_query(cls, query, default_per_page: int = DEFAULT_PAGE_SIZE) -> Window:
        page = _int_param(query, "page")
        per_page = _int_param(query, "per_page")
        limit = _int_param(query, "limit")
        offset = _int_param(query, "offset")
        if (limit is not None or offset is not None) and page is None and per_page is None:
            size = min(max(limit if limit is not None else default_per_page, 1), MAX_PAGE_SIZE)
            return cls(offset=max(offset or 0, 0), per_page=size)
        size = min(max(per_page if per_page is not None else default_per_page, 1), MAX_PAGE_SIZE)
        page = max(page if page is not None else 1, 1)
        return cls(offset=(page - 1) * size, per_page=size)

    def meta(self, total: int) -> dict[str, int]:
        return {
            "total": total,
            "page": self.offset // self.per_page + 1,
            "per_page": self.per_page,
            "pages": math.ceil(total / self.per_page) if total else 0,
            "limit": self.per_page,
            "offset": self.offset,
        }


def paginate(
    query, queryset, *, default_per_page: int = DEFAULT_PAGE_SIZE
) -> tuple[list, dict[str, int]]:
    """One page of ``queryset`` and the superset of pagination keys; a count plus one fetch."""
    window = Window.from_query(query, default_per_page)
    total = queryset.count()
    if window.offset >= total:
        return [], window.meta(total)  # past the end: no query with an absurd OFFSET
    rows = list(queryset[window.offset : window.offset + window.per_page])
    return rows, window.meta(total)


def page_serializer(
    name: str,
    *,
    items: str,
    item: type[serializers.Serializer],
    always_paged: bool = True,
    description: str | None = None,
) -> type[serializers.Serializer]:
    """The envelope of a list endpoint, ``{<items>: [item, …], total, page, per_page, pages,
    limit, offset}``, as a serializer class called ``name`` (its schema component name).

    ``always_paged=False`` is for lists that answer every row and page only when a pagination
    parameter is given: the page keys are then optional.
    """
    page_key = (
        serializers.IntegerField
        if always_paged
        else lambda: serializers.IntegerField(required=False, help_text="only when paginated")
    )
    fields = {
        items: item(many=True),
        "total": serializers.IntegerField(),
        **{key: page_key() for key in PAGE_KEYS},
    }
    return type(
        name,
        (serializers.Serializer,),
        {"__module__": item.__module__, "__doc__": description, **fields},
    )
