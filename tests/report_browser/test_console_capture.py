"""The browser harness itself: it sees what a broken page does, so a clean report means clean."""

from __future__ import annotations


def test_console_errors_and_uncaught_exceptions_are_captured(tmp_path, render):
    page = tmp_path / "broken.html"
    page.write_text(
        "<html><body><p id='x'>static</p><script>"
        "console.error('boom from the page'); document.getElementById('x').textContent = 'ran';"
        "undefinedFunction();</script></body></html>"
    )
    rendered = render(page)
    assert '"boom from the page"' in rendered.console[0]
    assert "Uncaught ReferenceError" in rendered.console[1]
    assert ">ran</p>" in rendered.dom  # the DOM is dumped after the scripts ran


def test_a_quiet_page_has_no_console_output(tmp_path, render):
    page = tmp_path / "quiet.html"
    page.write_text("<html><body><p>nothing to say</p></body></html>")
    assert render(page).console == []
