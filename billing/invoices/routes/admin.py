"""admin invoice routes (API.md §14)."""

urlpatterns: list = []
