"""manage.py plugins list | info NAME | enable NAME | disable NAME | config NAME KEY=VALUE …"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from plugins import registry, services, state
from plugins.serializers import plugin_detail, plugin_item
from vbwd.exceptions import DomainError


def _parse_value(raw: str, kind: str):
    if raw.lower() in {"null", "none"}:
        return None
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        lowered = raw.lower()
        if lowered not in {"true", "false", "1", "0", "yes", "no"}:
            raise ValueError("expected true or false")
        return lowered in {"true", "1", "yes"}
    return raw


class Command(BaseCommand):
    help = "Lists, inspects, enables, disables and configures plugins."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("list", help="every installed plugin with its state")
        for action in ("info", "enable", "disable"):
            actions.add_parser(action, help=f"{action} one plugin").add_argument("name")
        config = actions.add_parser("config", help="set settings: KEY=VALUE (null removes)")
        config.add_argument("name")
        config.add_argument("assignments", nargs="+", metavar="KEY=VALUE")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except DomainError as error:
            raise CommandError(error.message) from None

    def _list(self, **options):
        plugins = [plugin_item(config) for config in registry.installed().values()]
        if not plugins:
            self.stdout.write("No plugins are installed.")
            return
        width = max(len(plugin["name"]) for plugin in plugins)
        for plugin in plugins:
            state_text = plugin["status"]
            styled = self.style.SUCCESS(state_text) if plugin["enabled"] else state_text
            self.stdout.write(f"{plugin['name']:<{width}}  {plugin['version']:<8}  {styled}")

    def _info(self, name, **options):
        detail = plugin_detail(registry.get(name))
        self.stdout.write(json.dumps(detail, indent=2, default=str))

    def _enable(self, name, **options):
        services.plugin_enable(name=name, actor=None)
        self.stdout.write(self.style.SUCCESS(f"Plugin {name} enabled"))

    def _disable(self, name, **options):
        services.plugin_disable(name=name, actor=None)
        self.stdout.write(self.style.SUCCESS(f"Plugin {name} disabled"))

    def _config(self, name, assignments, **options):
        plugin = registry.get(name)
        values = {}
        for assignment in assignments:
            key, separator, raw = assignment.partition("=")
            if not separator:
                raise CommandError(f"Expected KEY=VALUE, got {assignment!r}")
            if key not in plugin.settings_schema:
                raise CommandError(f"Unknown configuration key: {key}")
            try:
                values[key] = _parse_value(raw, plugin.settings_schema[key].type)
            except ValueError as error:
                raise CommandError(f"{key}: {error}") from None
        services.plugin_configure(name=name, values=values, actor=None)
        self.stdout.write(self.style.SUCCESS("Configuration saved"))
        for key, value in state.saved_config(name).items():
            self.stdout.write(f"  {key} = {value!r}")
        for key, is_set in state.secrets_set(name).items():
            self.stdout.write(f"  {key} = {'(set)' if is_set else '(not set)'}")
