"""Chat background work: one attempt per job, and a sweeper for lost work."""

from __future__ import annotations

from procrastinate.contrib.django import app

from integrations.chat import actions


@app.task(queue="chat", pass_context=False)
def send_chat_message(message_id: int) -> None:
    actions.do_attempt_chat_message(message_id)


@app.periodic(cron="* * * * *", periodic_id="chat-requeue")
@app.task(queue="chat", queueing_lock="chat-requeue", pass_context=False)
def requeue_chat_messages(timestamp: int | None = None) -> None:
    actions.do_requeue_stalled_chat()
