"""In Chromium: an approver approves from the Approvals page with HTMX (under the CSP)."""

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from itsm.approvals.models import ApprovalStatus
from itsm.models import Role, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-pass-2026"


def test_an_approver_approves_in_place(browser_page, ask):
    approver = User.objects.create_user(
        email="nina@example.com", password=PASSWORD, role=Role.AGENT, full_name="Nina Lead"
    )
    EmailAddress.objects.create(user=approver, email=approver.email, verified=True, primary=True)
    approval = ask([approver], summary="Restart payroll on app01")
    page = browser_page
    page.goto("/accounts/login/")
    page.fill("input[name=login]", approver.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/home/")

    page.goto("/approvals/")
    card = page.locator(f"#approval-{approval.pk}")
    card.locator("textarea[name=comment]").fill("Go ahead after 18:00")
    with page.expect_response(f"**/approvals/{approval.pk}/approve/") as answer:
        card.locator(f"[data-testid=approve-{approval.pk}]").click()
    assert answer.value.status == 200
    assert answer.value.request.headers.get("hx-request") == "true"  # swapped by htmx, not a reload
    expect(page.locator(f"#approval-{approval.pk} h3")).to_contain_text("Approved")  # once swapped
    assert "Go ahead after 18:00" in page.locator(f"#approval-{approval.pk}").inner_text()
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.APPROVED
