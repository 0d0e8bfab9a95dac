"""Mounts each installed plugin's ``urlpatterns`` under ``/api/v1/plugins/<name>/`` (and its
``api_urls`` at ``/api/v1/``).

Every route of a plugin is wrapped so that while the plugin is disabled it answers
``404 Plugin '<name>' is not enabled`` before authentication or anything else runs; a name that
is not installed answers the same.
"""

from __future__ import annotations

import functools
import importlib
import logging
import re

from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.decorators.csrf import csrf_exempt

from plugins import registry, state
from vbwd.exceptions import NotFound, json_error_response

logger = logging.getLogger(__name__)

# The catch-all after every plugin's routes: not an endpoint, so not in the API schema.
FALLBACK_ROUTE_NAME = "plugin-fallback"


def not_enabled(name: str) -> NotFound:
    return NotFound(f"Plugin '{name}' is not enabled")


def _guard(view, name: str):
    @functools.wraps(view)
    def guarded(request, *args, **kwargs):
        if not state.is_enabled(name):
            return json_error_response(request, not_enabled(name))
        return view(request, *args, **kwargs)

    for attribute in ("cls", "view_class", "initkwargs", "csrf_exempt"):
        if hasattr(view, attribute):
            setattr(guarded, attribute, getattr(view, attribute))
    guarded.vbwd_plugin = name
    if hasattr(view, "cls"):
        # The schema generator builds the view from these: it then knows the route is a
        # plugin's (and answers 404 while the plugin is disabled) wherever it is mounted.
        guarded.initkwargs = {**getattr(view, "initkwargs", {}), "vbwd_plugin": name}
    return guarded


def _wrap(patterns, name: str) -> list:
    wrapped = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            wrapped.append(
                URLResolver(
                    pattern.pattern,
                    _wrap(pattern.url_patterns, name),
                    pattern.default_kwargs,
                    pattern.app_name,
                    pattern.namespace,
                )
            )
        elif isinstance(pattern, URLPattern):
            wrapped.append(
                URLPattern(pattern.pattern, _guard(pattern.callback, name), pattern.default_args,
                           pattern.name)
            )  # fmt: skip
    return wrapped


@csrf_exempt  # an API path: a POST to it answers the JSON 404, never the CSRF page
def _unknown_plugin_route(request, name: str, rest: str = ""):
    """Any other path under /plugins/<name>/: not enabled, or (when enabled) a plain 404."""
    if state.is_enabled(name):
        return json_error_response(request, NotFound())
    return json_error_response(request, not_enabled(name))


def _urlpatterns_of(name: str, module_path: str) -> list | None:
    """The guarded ``urlpatterns`` of ``module_path``, or None when it cannot be imported."""
    try:
        module = importlib.import_module(module_path)
    except Exception as error:  # a broken plugin must not take the whole API down
        registry.load_errors[name] = f"Could not import {module_path}: {error}"
        logger.exception("Plugin %s: its URLs could not be loaded", name)
        return None
    return _wrap(list(module.urlpatterns), name)


def plugin_urlpatterns() -> list:
    patterns = []
    for name, config in registry.installed().items():
        if config.api_urls:
            routes = _urlpatterns_of(name, config.api_urls)
            if routes is not None:
                patterns.append(
                    path("", include((routes, f"{name}-api"), namespace=f"plugin-{name}-api"))
                )
        if not config.urls:
            continue
        routes = _urlpatterns_of(name, config.urls)
        if routes is None:
            continue
        # The slash after the name is optional like everywhere else; the word
        # boundary keeps "alpha" from matching "/plugins/alphawhoami".
        patterns.append(
            re_path(
                rf"^plugins/{re.escape(name)}\b/?",
                include((routes, name), namespace=f"plugin-{name}"),
            )
        )
    patterns.append(
        re_path(
            r"^plugins/(?P<name>[^/]+)(?P<rest>/.*)?$",
            _unknown_plugin_route,
            name=FALLBACK_ROUTE_NAME,
        )
    )
    return patterns
