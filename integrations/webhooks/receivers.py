"""The webhook app's listener: every outbound event becomes one delivery per subscription."""

from __future__ import annotations

import functools
from typing import Any

from integrations.webhooks.events import OutboundEvent, guarded


@functools.partial(guarded, writes=False)  # the action takes a savepoint when it writes
def queue_webhooks(sender: Any, events: list[OutboundEvent], **kwargs: Any) -> None:
    from integrations.webhooks.actions import do_queue_deliveries

    do_queue_deliveries(events)
