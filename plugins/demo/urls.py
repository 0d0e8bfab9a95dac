from plugins.demo import views
from vbwd.api import route

urlpatterns = [
    route(r"", views.GreetingView.as_view(), name="greeting"),
]
