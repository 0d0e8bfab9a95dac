"""user invoice routes (API.md §11)."""

urlpatterns: list = []
