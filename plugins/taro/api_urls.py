"""The taro routes at /api/v1/taro/: the paths the user app calls (the same views as under the
plugin's own prefix)."""

from plugins.taro.urls import routes

urlpatterns = routes("taro/", "alias-")
