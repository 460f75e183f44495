"""Reads a SQLite file the way someone with a copy of it can: the cells of a table or index
b-tree where they lie in the file (page, offset in the page), past anything SQL shows.

SQLite writes a new cell at the top of its page's content area, so within a page a lower offset
was written later (https://www.sqlite.org/fileformat2.html#b_tree_pages).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Page types: interior and leaf of index b-trees (WITHOUT ROWID tables are these) and of tables.
INTERIOR_INDEX, INTERIOR_TABLE, LEAF_INDEX, LEAF_TABLE = 2, 5, 10, 13


@dataclass(frozen=True)
class Cell:
    page: int
    offset: int
    #: Table cells: the rowid. Index cells: the record's values (for a WITHOUT ROWID table, the row).
    key: int | tuple


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for n in range(9):
        byte = data[at + n]
        if n == 8:
            return (value << 8) | byte, at + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + n + 1
    raise AssertionError("unreachable")


def _record(data: bytes, at: int) -> tuple:
    """The values of a record (integers, text and blobs as bytes, NULL as None)."""
    header_size, pos = _varint(data, at)
    types = []
    while pos < at + header_size:
        serial, pos = _varint(data, pos)
        types.append(serial)
    values, pos = [], at + header_size
    for serial in types:
        if serial in (0, 8, 9):
            values.append(None if serial == 0 else serial - 8)
        elif serial <= 6:
            size = (0, 1, 2, 3, 4, 6, 8)[serial]
            values.append(int.from_bytes(data[pos:pos + size], "big", signed=True))
            pos += size
        elif serial == 7:
            values.append(data[pos:pos + 8])
            pos += 8
        else:
            size = (serial - 12) // 2 if serial % 2 == 0 else (serial - 13) // 2
            values.append(data[pos:pos + size])
            pos += size
    return tuple(values)


def cells(path: Path, root: int) -> list[Cell]:
    """Every cell of the b-tree whose root page is `root`, interior cells of index trees included
    (they hold rows too)."""
    data = path.read_bytes()
    page_size = int.from_bytes(data[16:18], "big") or 65536
    found: list[Cell] = []
    pending = [root]
    while pending:
        page = pending.pop()
        base = (page - 1) * page_size
        head = base + (100 if page == 1 else 0)
        kind, count = data[head], int.from_bytes(data[head + 3:head + 5], "big")
        interior = kind in (INTERIOR_INDEX, INTERIOR_TABLE)
        if interior:
            pending.append(int.from_bytes(data[head + 8:head + 12], "big"))
        pointers = head + (12 if interior else 8)
        for n in range(count):
            offset = int.from_bytes(data[pointers + 2 * n:pointers + 2 * n + 2], "big")
            at = base + offset
            if interior:
                pending.append(int.from_bytes(data[at:at + 4], "big"))
                at += 4
            if kind == LEAF_TABLE:
                rowid = _varint(data, _varint(data, at)[1])[0]
                found.append(Cell(page, offset, rowid))
            elif kind in (LEAF_INDEX, INTERIOR_INDEX):
                found.append(Cell(page, offset, _record(data, _varint(data, at)[1])))
    return found


def written_order(path: Path, root: int) -> list[Cell]:
    """The cells in the order their place suggests they were written: page by page, and within
    a page from the highest offset down."""
    return sorted(cells(path, root), key=lambda c: (c.page, -c.offset))
