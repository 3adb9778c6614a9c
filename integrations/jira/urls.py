"""Pages of the Jira integration (namespace ``integrations``, names prefixed ``jira-``).

Everything an admin configures lives in the Django admin; there are no pages yet.
"""

urlpatterns: list = []
