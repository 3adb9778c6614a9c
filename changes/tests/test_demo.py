"""``seed_demo`` adds a few problems and changes, once."""

import pytest
from django.core.management import call_command

from changes.conflicts import conflicts_of
from changes.models import ChangeRequest
from itsm.approvals.models import ApprovalRequest
from problems.models import Problem

pytestmark = pytest.mark.django_db


def test_the_demo_has_problems_and_changes_once(capsys):
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "Demo problems:" in out and "Demo changes: 4 created" in out
    assert Problem.objects.filter(detected=True, title__icontains="VPN").exists()
    known_errors = Problem.objects.filter(status="known_error")
    # The one made by hand and the recurring VPN drops found by detection (problems/demo.py).
    assert known_errors.count() == 2 and all(problem.workaround for problem in known_errors)
    changes = {change.title: change for change in ChangeRequest.objects.all()}
    assert len(changes) == 4
    patch = changes["Demo: security patches on the web servers"]
    assert patch.status == "authorize" and ApprovalRequest.objects.for_target(patch).get().status == "pending"
    restart = changes["Demo: restart web01 for a kernel update"]
    assert [conflict.other for conflict in conflicts_of(restart) if conflict.other] == [patch]
    assert changes["Demo: rotate application logs"].status == "scheduled"
    assert changes["Demo: raise the VPN concentrator rekey interval"].problems.exists()
    call_command("seed_demo")
    assert ChangeRequest.objects.count() == 4 and Problem.objects.filter(status="known_error").count() == 2
