from plugins.chat import views
from vbwd.api import route

urlpatterns = [
    route(r"config", views.ChatConfigView.as_view(), name="chat-config"),
    route(r"estimate", views.ChatEstimateView.as_view(), name="chat-estimate"),
    route(r"send", views.ChatSendView.as_view(), name="chat-send"),
]
