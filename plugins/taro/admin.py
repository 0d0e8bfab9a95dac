"""Back office: the tarot deck (only the meanings are editable) and the sessions (read-only)."""

from django.contrib import admin
from unfold.admin import ModelAdmin

from plugins.taro.models import Arcana, TaroCard, TaroFollowUp, TaroSession
from vbwd.admin_tools import ReadOnlyAdmin, ReadOnlyInline


@admin.register(Arcana)
class ArcanaAdmin(ModelAdmin):
    """The 78 cards are fixed by the deck; staff may reword their meanings."""

    list_display = ("id", "name", "arcana_type", "suit", "rank", "number")
    list_filter = ("arcana_type", "suit")
    search_fields = ("name", "upright_meaning", "reversed_meaning")
    ordering = ("id",)
    fields = (
        "id", "name", "slug", "arcana_type", "number", "suit", "rank",
        "upright_meaning", "reversed_meaning",
    )  # fmt: skip
    readonly_fields = ("id", "name", "slug", "arcana_type", "number", "suit", "rank")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TaroCardInline(ReadOnlyInline):
    model = TaroCard
    fields = ("arcana", "position", "orientation", "on_table", "follow_up")
    readonly_fields = fields


class TaroFollowUpInline(ReadOnlyInline):
    model = TaroFollowUp
    fields = ("requested_at", "follow_up_type", "status", "question", "tokens_charged")
    readonly_fields = fields


@admin.register(TaroSession)
class TaroSessionAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "status", "created_at", "expires_at", "follow_up_count",
                    "tokens_consumed")  # fmt: skip
    list_filter = ("status",)
    search_fields = ("user__email", "id")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_select_related = ("user",)
    inlines = (TaroCardInline, TaroFollowUpInline)
