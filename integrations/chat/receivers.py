"""The chat app's listener: outbound events become messages in the subscribed channels."""

from __future__ import annotations

import functools
from typing import Any

from integrations.chat.actions import do_queue_chat_messages
from integrations.webhooks.events import OutboundEvent, event_raised, guarded


@functools.partial(guarded, writes=False)  # the action takes a savepoint when it writes
def queue_chat_messages(sender: Any, events: list[OutboundEvent], **kwargs: Any) -> None:
    do_queue_chat_messages(events)


def connect() -> None:
    event_raised.connect(queue_chat_messages, dispatch_uid="chat.queue")
