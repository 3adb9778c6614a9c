"""The dashboard in Chromium: the tiles say what the API says for the same range."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from itsm import kpis

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RESULTS = Path(__file__).resolve().parent.parent / "test-results"


def sign_in(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", "demo-pass-2026")
    page.click("form button[type=submit]")
    page.wait_for_url("**/home/")


def test_the_dashboard_tiles_match_the_api_and_refresh_in_place(browser_page):
    from sla.defaults import ensure_defaults

    ensure_defaults()  # a transactional test before this one may have flushed the default policies
    call_command("seed_demo", verbosity=0)
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, "admin@demo.example")
    page.goto("/dashboard/?days=30")
    # Each panel loads on its own after the page: wait for the last one's figures.
    page.wait_for_selector("#dashboard-trends svg[role=img]")
    page.wait_for_selector("#dashboard-breakdowns table")
    today = kpis.local_today()
    api = page.request.get(f"/api/kpis/?from={today.fromordinal(today.toordinal() - 29)}&to={today}").json()
    (row,) = api["results"]
    tiles = {
        "tickets_created": row["tickets_created"],
        "tickets_resolved": row["tickets_resolved"],
        "backlog_open": row["backlog_open"],
        "breaches": row["breaches"],
        "mttr_hours": row["mttr_hours"]["median"],
        "frt_minutes": row["frt_minutes"]["median"],
        "sla_resolution_met_rate": row["sla_resolution_met_rate"],
        "fcr_rate": row["fcr_rate"],
    }
    for name, expected in tiles.items():
        shown = page.get_by_test_id(f"tile-{name}").get_attribute("data-value")
        assert shown, (name, expected)  # every tile measured something on the demo desk
        assert float(shown) == pytest.approx(expected), name
    assert row["tickets_created"] > 50  # the demo's history is there
    # Four charts, drawn as SVG under the CSP, each with its table.
    assert page.locator("svg[role=img]").count() == 4
    assert page.locator("details.chart-table").count() == 4
    # A panel is swapped in place over HTMX, not the page reloaded.
    page.evaluate("document.body.dataset.marker = 'kept'")
    with page.expect_response(
        lambda response: (
            "/dashboard/panel/tiles/" in response.url and response.request.headers.get("hx-request")
        )
    ):
        page.evaluate(
            "htmx.ajax('GET', document.querySelector('#dashboard-tiles').getAttribute('hx-get'), {target: '#dashboard-tiles', swap: 'outerHTML'})"
        )
    assert page.evaluate("document.body.dataset.marker") == "kept"
    expect(page.get_by_test_id("tile-tickets_created")).to_have_attribute(
        "data-value", str(row["tickets_created"])
    )
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "dashboard-1400.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto("/dashboard/?days=7")
    page.wait_for_selector("#dashboard-breakdowns table")
    page.screenshot(path=str(RESULTS / "dashboard-390.png"), full_page=True)
    page.goto("/home/")
    assert page.get_by_test_id("landing-title").inner_text() == "Welcome, Ada"
    page.screenshot(path=str(RESULTS / "home-390.png"), full_page=True)
