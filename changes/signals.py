"""What the changes app tells the rest of the product (outbound webhooks, chat).

``change_status_changed``: kwargs ``change`` (changes.ChangeRequest), ``previous`` and
``status`` (the statuses), ``actor`` (a User, or None for automation), ``reason``. Sent inside
the transaction that moved the change.
"""

from django.dispatch import Signal

change_status_changed = Signal()
