"""Route of the checkout use case (API.md §7)."""

urlpatterns: list = []
