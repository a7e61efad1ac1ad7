"""What a reader of a generated HTML page sees, read with the standard library's parser: each
section's plots (inline SVGs), each table's cells (text and `data-value`), its links."""

from __future__ import annotations

from collections import defaultdict
from html.parser import HTMLParser


class Page(HTMLParser):
    """What a reader of the page sees: its sections' plots, its tables' cells, its links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.svgs: dict[str, int] = defaultdict(int)
        self.tables: dict[str, list[list[tuple[str, str | None]]]] = {}
        self.links: list[str] = []
        self.text: list[str] = []
        self._section = ""
        self._table = ""
        self._cell: list[str] | None = None
        self._value: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section":
            self._section = values.get("id") or ""
        elif tag == "svg":
            self.svgs[self._section] += 1
        elif tag == "table":
            self._table = values.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag == "td":
            self._cell, self._value = [], values.get("data-value")
        elif tag == "a":
            self.links.append(values.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._section = ""
        elif tag == "table":
            self._table = ""
        elif tag == "td" and self._cell is not None:
            self.tables[self._table][-1].append(("".join(self._cell).strip(), self._value))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def rows(self, table: str) -> list[list[tuple[str, str | None]]]:
        return [row for row in self.tables[table] if row]  # the header row has no td


def cell_value(cell: tuple[str, str | None]) -> float | None:
    return float(cell[1]) if cell[1] else None
