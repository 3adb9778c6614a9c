"""What the problems app listens to: the demo seed."""

from __future__ import annotations

from itsm.signals import demo_seeded
from problems import demo


def connect() -> None:
    """Called from ``ProblemsConfig.ready()``; the ``dispatch_uid`` makes a second call a no-op."""
    demo_seeded.connect(demo.seed_problems, dispatch_uid="problems-demo")
