"""Layout checks the browser tests share."""

from __future__ import annotations

from typing import Any

#: Measures a `table.stack` (a list of records) as laid out: whether its wrapper must scroll
#: sideways, the height of its header row, and per cell its data-label and the text its ::before
#: shows with the cell's and the label's heights.
_MEASURE_STACK = """selector => {
    const table = document.querySelector(selector);
    const wrap = table.closest('.table-wrap');
    return {
        stack: table.classList.contains('stack'),
        scrolls: wrap.scrollWidth > wrap.clientWidth,
        header: table.tHead.getBoundingClientRect().height,
        cells: Array.from(table.tBodies[0].querySelectorAll('td')).map(cell => ({
            label: cell.dataset.label || '',
            shown: getComputedStyle(cell, '::before').content,
            display: getComputedStyle(cell).display,
        })),
    };
}"""


def assert_rows_stacked(page: Any, selector: str) -> None:
    """On a narrow screen a `table.stack` shows each row as a card: no sideways scrolling, no
    header row, and every cell on a line of its own after its column's name. To a screen reader
    it is still a table, with header cells, whose cells are not named twice (the name shown is
    not read: its alternative text is empty)."""
    laid = page.evaluate(_MEASURE_STACK, selector)
    assert laid["stack"], f"{selector} is not a table.stack"
    assert not laid["scrolls"], f"{selector} scrolls sideways"
    assert laid["header"] <= 1, f"{selector} shows its header row ({laid['header']} px)"
    assert laid["cells"], f"{selector} has no cells"
    for cell in laid["cells"]:
        assert cell["label"], f"{selector}: a cell without data-label"
        assert cell["shown"] == f'"{cell["label"]}" / ""', cell
        assert cell["display"] == "block", cell
    tree = page.locator(selector).aria_snapshot()
    assert tree.startswith("- table"), tree
    assert "- columnheader" in tree, tree
    cells = page.locator(f"{selector} tbody td")
    for index, cell in enumerate(laid["cells"]):
        # `- cell "name"`, YAML-quoted as a whole when the name has a colon.
        named = cells.nth(index).aria_snapshot().splitlines()[0].removeprefix("- ").strip("'")
        assert named.startswith('cell "'), named
        assert not named.startswith(f'cell "{cell["label"]} '), named
