"""report.html as a person meets it, in headless Chromium: a real session (preflight's source
checks, skipped when no source is configured, and the data-quality checks of a seeded `events`
table, two of them failing with offending rows) and the page it wrote.

`SELFHEAL_REFRESH_SCREENSHOT=1` also rewrites the README's screenshot (docs/images/report.png).
"""

from __future__ import annotations

import io
import os
import re
import uuid

import psycopg
import pytest
from PIL import Image

from selfheal.core.db import connect, create_database, drop_database

from .dom import tables_in
from .sessions import ROOT, Finished, selfheal_session, with_probe

CHECKS = "test_source_answers or events"
SCREEN = (1280, 900)
UNCONFIGURED = {
    name: ""
    for name in (
        "SOURCE_A_BASE_URL",
        "SOURCE_B_BASE_URL",
        "EVENTS_BASE_URL",
        "GENERIC_SOURCE_A_TOKEN",
        "GENERIC_SOURCE_B_TOKEN",
        "EVENTS_SOURCE_TOKEN",
    )
}
SCREENSHOT = ROOT / "docs" / "images" / "report.png"


def _seed(conn: psycopg.Connection) -> None:
    """Twenty good events of the last hours, three with an unknown name, two from the future."""
    conn.execute(
        "INSERT INTO public.events (event_id, user_id, event_name, occurred_at)"
        " SELECT 'good-' || g, gen_random_uuid(), 'page_view', now() - g * interval '5 minutes'"
        " FROM generate_series(1, 20) g"
    )
    conn.execute(
        "INSERT INTO public.events (event_id, user_id, event_name, occurred_at)"
        " SELECT 'bogus-' || g, gen_random_uuid(), 'b<o>gus', now() - interval '1 hour'"
        " FROM generate_series(1, 3) g"
    )
    conn.execute(
        "INSERT INTO public.events (event_id, user_id, event_name, occurred_at)"
        " SELECT 'future-' || g, gen_random_uuid(), 'login', now() + interval '2 days'"
        " FROM generate_series(1, 2) g"
    )


@pytest.fixture(scope="module")
def page(admin_dsn: str, migrated_template: str, tmp_path_factory) -> Finished:
    reports = tmp_path_factory.mktemp("page") / "reports"
    name = f"report_page_{uuid.uuid4().hex[:8]}"
    dsn = create_database(admin_dsn, name, template=migrated_template)
    try:
        with connect(dsn, autocommit=True) as conn:
            _seed(conn)
        args = ("-m", "preflight or dq", "-k", CHECKS)
        return selfheal_session(reports, *args, SUPABASE_DB_URL=dsn, **UNCONFIGURED)
    finally:
        drop_database(admin_dsn, name)


def _dom_without_data(dom: str) -> str:
    """The rendered page without pytest-html's data blob (the rows' raw JSON, never shown)."""
    return re.sub(r'data-jsonblob="[^"]*"', "", dom)


def _rows(dom: str, outcome: str) -> list[str]:
    """The markup of each result row with `outcome`, from its tbody to the next row's."""
    parts = _dom_without_data(dom).split('<tbody class="results-table-row ')[1:]
    return [part for part in parts if part.startswith(f'{outcome}"')]


def _measured(dom: str, name: str) -> str:
    found = re.search(rf'data-{name}="([^"]*)"', dom)
    assert found, f"the probe did not record {name}"
    return found.group(1)


def test_the_session_fails_on_the_two_bad_rules(page):
    assert page.returncode == 1, page.output[-3000:]
    assert "accepted_values" in page.output and "no_future" in page.output


def test_the_page_loads_quietly_with_a_title_naming_target_and_run(page, render):
    rendered = render(page.html)
    assert rendered.console == []
    title = re.search(r'<h1 id="title">([^<]*)</h1>', rendered.dom).group(1)
    assert title.startswith("selfheal run 20") and "@127.0.0.1:" in title
    assert "-m preflight or dq" in title


def test_the_first_screen_shows_the_overview(page, render):
    probe = with_probe(
        page.html,
        "const box = (id) => document.getElementById(id).getBoundingClientRect();"
        "document.body.dataset.stagesBottom = box('selfheal-stages').bottom;"
        "document.body.dataset.failuresBottom = box('selfheal-failures').bottom;"
        "document.body.dataset.tablesTop = box('selfheal-tables').top;"
        "document.body.dataset.screen = window.innerHeight;",
    )
    dom = render(probe, f"--window-size={SCREEN[0]},{SCREEN[1]}").dom
    screen = float(_measured(dom, "screen"))
    assert 0 < float(_measured(dom, "stages-bottom")) <= screen
    assert 0 < float(_measured(dom, "failures-bottom")) <= screen
    failures = re.findall(
        r"<li>(.*?)</li>", dom.split('id="selfheal-failures">')[1].split("</ul>")[0]
    )
    assert len(failures) == 2 and all('class="selfheal-news">new<' in f for f in failures)
    assert 0 < float(_measured(dom, "tables-top")) < screen
    [stages] = tables_in(dom, "selfheal-stages")
    assert stages[0] == ["stage", "passed", "failed", "warned", "healed", "not run"]
    by_stage = {row[0]: row[1:] for row in stages[1:]}
    assert by_stage["preflight"][4] == "3"  # the three unconfigured sources: not run
    assert by_stage["dq"][1] == "2"
    [tables] = tables_in(dom, "selfheal-tables")
    events = next(row for row in tables if row[0] == "public.events")
    assert events[1] == "25" and events[8] == "dq.accepted_values, dq.no_future"


def test_each_failure_is_rendered_once_with_one_rows_table(page, render):
    dom = _dom_without_data(render(page.html).dom)
    failed = _rows(dom, "failed")
    assert len(failed) == 2
    for row in failed:
        assert len(tables_in(row, "selfheal-rows")) == 1
        assert row.count('class="selfheal-sql"') == 1 and "ms, " in row  # SQL with its timing
        assert "offending rows (" not in row  # no second, text copy of the rows
        duration = re.search(r'class="col-elapsed"><!--[^>]*-->([^<]*)<', row).group(1)
        assert duration != "0 ms" and float(duration.split()[0]) > 0
    assert dom.count(">bogus-1<") == 1 and dom.count("b&lt;o&gt;gus") >= 1
    assert "<o>" not in dom.replace("<option", "")


def test_failures_link_their_tickets_and_the_page_links_the_run_reports(page, render):
    dom = render(page.html).dom
    tickets = re.findall(r'<a class="selfheal-ticket"[^>]*href="([^"]+)"', dom)
    assert len(tickets) == 2 and all(t.startswith("../backlog/READY_system_fix_") for t in tickets)
    assert all((page.html.parent / t).exists() for t in tickets)
    nav = re.search(r'<nav class="selfheal-links">(.*?)</nav>', dom).group(1)
    links = {label: href for href, label in re.findall(r'<a href="([^"]+)">([^<]+)</a>', nav)}
    assert set(links) == {"KPI page", "run summary"}  # no health check ran: no health report
    assert all((page.html.parent / href).exists() for href in links.values())


def test_skipped_checks_are_folded_with_their_reason_in_words(page, render):
    dom = render(page.html).dom
    skipped = _rows(dom, "skipped")
    assert len(skipped) == 3
    for row in skipped:
        assert 'class="extras-row hidden"' in row  # folded
        assert "is not configured (its base URL and token are unset)" in row
    assert "Skipped: " not in _dom_without_data(dom) and "('/" not in dom  # no raw skip tuple


def test_results_are_grouped_by_stage_then_table_and_the_search_filters_them(page, render):
    probe = with_probe(
        page.html,
        "const box = document.getElementById('selfheal-search');"
        "box.value = 'accepted_values'; box.dispatchEvent(new Event('input'));"
        "const shown = [...document.querySelectorAll('tbody.results-table-row')]"
        ".filter((row) => !row.classList.contains('selfheal-hidden'));"
        "document.body.dataset.shown = shown.map((row) => row.id).join(' ');"
        "document.body.dataset.groups = [...document.querySelectorAll('tbody.selfheal-group')]"
        ".filter((g) => !g.classList.contains('selfheal-hidden'))"
        ".map((g) => g.textContent).join(' | ');",
    )
    dom = render(probe).dom
    assert (
        _measured(dom, "shown") == "checks/test_dq.py::test_dq[events.accepted_values.event_name]"
    )
    assert re.fullmatch(r"dq › public\.events \(\d+ checks, 2 failed\)", _measured(dom, "groups"))
    groups = re.findall(r'<tbody class="selfheal-group[^"]*"><tr><th[^>]*>([^<]*)<', dom)
    assert groups[0].startswith("preflight (") and groups[1].startswith("dq › public.events (")


def test_screenshot_of_the_first_screen(page, screenshot, tmp_path):
    png = screenshot(page.html, tmp_path / "report.png", *SCREEN)
    image = Image.open(png)
    assert image.size == SCREEN
    small = io.BytesIO()
    image.convert("RGB").quantize(colors=64).save(small, format="PNG", optimize=True)
    assert len(small.getvalue()) < 100_000
    if os.environ.get("SELFHEAL_REFRESH_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(small.getvalue())


def test_under_xdist_the_controller_takes_the_overview_of_the_embedded_default(tmp_path, render):
    """The workers check the embedded default the controller opened for them; the controller
    reads it for the overview when the session ends."""
    reports = tmp_path / "reports"
    embedded = {"SUPABASE_DB_URL": "", "SELFHEAL_EMBEDDED_DIR": str(tmp_path / "db")}
    result = selfheal_session(reports, "-n", "2", "-m", "dq", "-k", "events", **embedded)
    assert "test_dq[events.row_count]" in result.output, result.output[-3000:]
    dom = render(reports / "report.html").dom
    assert "not available" not in dom
    [tables] = tables_in(dom, "selfheal-tables")
    assert "public.events" in {row[0] for row in tables[1:]}
