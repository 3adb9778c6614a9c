"""Sensible default mappings for a Jira Service Management project (editable in the admin)."""

from django.db import migrations

# (Jira status, ticket status, used as the target when pushing that ticket status)
STATUSES = [
    ("Open", "open", False),
    ("To Do", "open", False),
    ("Waiting for support", "open", True),
    ("Reopened", "open", False),
    ("In Progress", "in_progress", True),
    ("Work in progress", "in_progress", False),
    ("Escalated", "in_progress", False),
    ("Waiting for customer", "pending_customer", True),
    ("Pending", "pending_vendor", True),
    ("Waiting for approval", "pending_vendor", False),
    ("Resolved", "resolved", True),
    ("Done", "resolved", False),
    ("Closed", "closed", True),
    ("Canceled", "cancelled", True),
    ("Cancelled", "cancelled", False),
    ("Declined", "cancelled", False),
]
PRIORITIES = [
    ("Highest", "1", "critical", True),
    ("High", "2", "high", True),
    ("Medium", "3", "medium", True),
    ("Low", "4", "low", True),
    ("Lowest", "5", "low", False),
]
ISSUE_TYPES = [
    ("[System] Incident", "incident", True),
    ("Incident", "incident", False),
    ("Bug", "incident", False),
    ("[System] Service request", "service_request", True),
    ("Service request", "service_request", False),
    ("Service Request", "service_request", False),
    ("Task", "service_request", False),
]
FIELDS = [
    ("labels", "tags", "both"),
    ("components", "service", "inbound"),
    ("Time to first response", "sla_response", "inbound"),
    ("Time to resolution", "sla_resolution", "inbound"),
]


def create_defaults(apps, schema_editor):
    StatusMapping = apps.get_model("jira", "StatusMapping")
    PriorityMapping = apps.get_model("jira", "PriorityMapping")
    IssueTypeMapping = apps.get_model("jira", "IssueTypeMapping")
    FieldMapping = apps.get_model("jira", "FieldMapping")
    for name, status, push in STATUSES:
        StatusMapping.objects.get_or_create(jira_status=name, defaults={"local_status": status, "push": push})
    for name, jira_id, priority, push in PRIORITIES:
        PriorityMapping.objects.get_or_create(
            jira_priority=name, defaults={"jira_id": jira_id, "local_priority": priority, "push": push}
        )
    for name, ticket_type, push in ISSUE_TYPES:
        IssueTypeMapping.objects.get_or_create(jira_issue_type=name, defaults={"ticket_type": ticket_type, "push": push})
    for jira_field, local_field, direction in FIELDS:
        FieldMapping.objects.get_or_create(
            jira_field=jira_field, local_field=local_field, defaults={"direction": direction}
        )


class Migration(migrations.Migration):
    dependencies = [("jira", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
