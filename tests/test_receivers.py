"""Every app connects its signal receivers one way: ``receivers.connect()`` from ``ready()``."""

import gc
import importlib
import inspect
import weakref

from django.apps import apps
from django.dispatch import Signal

from itsm import signals as itsm_signals
from problems import signals as problem_signals
from sla import signals as sla_signals
from tickets import signals as ticket_signals


def receiver_modules():
    for config in apps.get_app_configs():
        try:
            yield config, importlib.import_module(f"{config.name}.receivers")
        except ModuleNotFoundError as error:
            if error.name != f"{config.name}.receivers":
                raise


def every_signal() -> list[Signal]:
    from django.db.models import signals as model_signals

    from integrations.webhooks.events import event_raised

    modules = (ticket_signals, sla_signals, problem_signals, itsm_signals, model_signals)
    found = [value for module in modules for value in vars(module).values() if isinstance(value, Signal)]
    return [*found, event_raised]


def live_receivers(signal: Signal) -> list:
    """The lookup keys of the receivers still alive (weakly connected ones may have gone)."""
    return [
        key
        for key, receiver, *_ in signal.receivers
        if not (isinstance(receiver, weakref.ReferenceType) and receiver() is None)
    ]


def test_each_app_with_receivers_connects_them_in_ready():
    modules = dict(receiver_modules())
    assert {config.label for config in modules} >= {
        "tickets",
        "sla",
        "knowledge",
        "triage",
        "jira",
        "mail",
        "webhooks",
        "chat",
    }
    for config, module in modules.items():
        assert callable(getattr(module, "connect", None)), f"{module.__name__} has no connect()"
        assert "receivers.connect()" in inspect.getsource(type(config).ready), (
            f"{type(config).__name__}.ready() does not call receivers.connect()"
        )


def test_connecting_again_changes_nothing():
    gc.collect()
    before = {signal: live_receivers(signal) for signal in every_signal()}
    assert sum(map(len, before.values())) > 20  # the apps are listening
    for module in dict(receiver_modules()).values():
        module.connect()
    gc.collect()
    assert {signal: live_receivers(signal) for signal in every_signal()} == before
