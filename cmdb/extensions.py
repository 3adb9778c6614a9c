"""Extension points of the configuration-item page.

Apps that come later register here from their ``AppConfig.ready()``; cmdb renders what is
registered without importing them. The runbooks app, for one, shows an item's recent runbook
executions::

    from cmdb import extensions

    extensions.register_item_panel(
        extensions.ItemPanel(
            name="runbook-executions",
            label=gettext_lazy("Recent runbook executions"),
            url_name="runbooks:item-executions",  # takes the item's pk
            order=50,
        )
    )

The page loads each panel with ``hx-get`` (and shows a plain link without JavaScript).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ItemPanel:
    name: str
    label: str
    url_name: str
    order: int = 100
    agents_only: bool = False


item_panels: dict[str, ItemPanel] = {}


def register_item_panel(panel: ItemPanel) -> None:
    item_panels[panel.name] = panel


def unregister_item_panel(name: str) -> None:
    item_panels.pop(name, None)


def panels_for(user: object) -> list[ItemPanel]:
    is_agent = getattr(user, "is_agent", False)
    return sorted(
        (panel for panel in item_panels.values() if is_agent or not panel.agents_only),
        key=lambda panel: (panel.order, panel.name),
    )
