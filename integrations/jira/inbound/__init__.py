"""Inbound Jira: ``receive`` verifies and stores a delivery (the web request), ``apply``
applies it to tickets (the worker, and reconcile)."""

from integrations.jira.inbound.apply import (
    ACTOR,
    Outcome,
    apply_comment,
    apply_delete,
    apply_issue,
    integration_requester,
    lock_issue,
    process_receipt,
)
from integrations.jira.inbound.receive import (
    HANDLED_EVENTS,
    DeliveryRefused,
    accept_project,
    accepted_projects,
    check_payload,
    content_key,
    delivery_identifier,
    project_of,
    route_project,
    store_receipt,
    verify_delivery,
    verify_signature,
)

__all__ = [
    "ACTOR",
    "HANDLED_EVENTS",
    "DeliveryRefused",
    "Outcome",
    "accept_project",
    "accepted_projects",
    "apply_comment",
    "apply_delete",
    "apply_issue",
    "check_payload",
    "content_key",
    "delivery_identifier",
    "integration_requester",
    "lock_issue",
    "process_receipt",
    "project_of",
    "route_project",
    "store_receipt",
    "verify_delivery",
    "verify_signature",
]
