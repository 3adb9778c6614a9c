"""Signals of the platform core. Domain apps listen; the core imports none of them."""

from django.dispatch import Signal

# Sent by ``manage.py seed_demo`` after the demo organisation, teams and users exist.
# kwargs: ``users`` (dict of persona name -> User), ``teams`` (dict name -> Team), ``stdout``.
demo_seeded = Signal()
