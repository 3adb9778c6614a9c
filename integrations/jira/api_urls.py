"""Mounted at /api/integrations/jira/."""

from django.urls import path

from integrations.jira import api

urlpatterns = [
    path("webhook/", api.webhook, name="jira-webhook"),
    path("upsert/", api.webhook, name="jira-upsert"),
    path("reconcile/", api.reconcile, name="jira-reconcile"),
    path("status/", api.integration_status, name="jira-status"),
]
