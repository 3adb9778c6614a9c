"""What the changes app listens to: the outcome of its approvals."""

from __future__ import annotations

from typing import Any

from changes import actions, demo
from itsm.approvals import signals as approval_signals
from itsm.signals import demo_seeded


def on_approval_decided(
    sender: Any, approval: Any, target: Any, outcome: str, actor: Any = None, **kwargs: Any
) -> None:
    actions.on_approval_decided(approval, target, outcome, actor)


def connect() -> None:
    """Called from ``ChangesConfig.ready()``; the ``dispatch_uid`` makes a second call a no-op."""
    approval_signals.approval_decided.connect(on_approval_decided, dispatch_uid="changes-approval-decided")
    demo_seeded.connect(demo.seed_changes, dispatch_uid="changes-demo")
