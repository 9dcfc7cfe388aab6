"""Read tables back out of a rendered DOM (stdlib html.parser): header cells and body rows."""

from __future__ import annotations

from html.parser import HTMLParser


class _Tables(HTMLParser):
    """Collects every <table> inside an element carrying `marker` in its id or class."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker
        self.depth = 0  # > 0 while inside a marked element
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        marked = any(
            self.marker in (value or "").split() for name, value in attrs if name in ("id", "class")
        )
        if self.depth or marked:
            self.depth += 1
        if not self.depth:
            return
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if not self.depth:
            return
        if tag in ("td", "th") and self.cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None
        self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def tables_in(dom: str, marker: str) -> list[list[list[str]]]:
    """Every table inside elements marked `marker`: a list of rows, each a list of cell texts."""
    parser = _Tables(marker)
    parser.feed(dom)
    return parser.tables
