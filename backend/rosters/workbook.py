"""The roster workbook: its sheets and Chinese headers, the template made from them, and reading
a filled-in copy back into rows. Nothing here knows the database; backend.rosters.service checks
the rows and acts on them."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from io import BytesIO

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from backend.core.errors import Invalid

#: Rows a workbook may hold in all, and blank or filled rows one sheet may run to (a sheet
#: formatted down to row 1,048,576 is cut short instead of being read for minutes).
MAX_ROWS = 20_000
MAX_SHEET_ROWS = 50_000
#: What the zip may unpack to: a 5,000-row workbook unpacks to about 3 MB.
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
#: Rows of the template that carry the drop-down lists and the text format.
TEMPLATE_ROWS = 5_000

PARTY_KINDS = ("在职", "流动", "退休", "其他")
POSTS = ("网格长", "网格员")


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    #: Must be filled on every row; the template marks the header with *.
    required: bool = False
    note: str = ""
    width: int = 14
    #: Kept as text in the template: Excel turns long digit strings into numbers and drops digits.
    text: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sheet:
    key: str
    title: str
    about: str
    columns: tuple[Column, ...]


NAME = Column("name", "姓名", required=True, width=10)
PHONE = Column("phone", "手机号", note="11 位手机号；与身份证号至少填一项，再次导入时据此认出同一人",
               width=14, text=True)
ID_NUMBER = Column("id_number", "身份证号", note="18 位；只保存不可还原的密钥摘要，用于再次导入时认出同一人",
                   width=21, text=True)
COMMUNITY = Column("community", "社区", note="街道导入时必填；社区书记导入本社区时可不填", width=12)

SHEETS: tuple[Sheet, ...] = (
    Sheet("communities", "社区", "各社区的户数（计算按户比率用），社区须已建好",
          (COMMUNITY, Column("households", "户数", required=True, note="0 或正整数", width=10))),
    Sheet("grids", "网格", "网格及其包含的楼栋；没有的网格会新建，已有的更新楼栋",
          (COMMUNITY, Column("grid", "网格", required=True, width=12),
           Column("buildings", "楼栋", note="如：1-3栋、5栋；不填则清空", width=24))),
    Sheet("grid_staff", "网格员", "网格长和网格员（工作人员，导入后可打印微信绑定码）；每个网格只有一位网格长",
          (NAME, PHONE, ID_NUMBER, COMMUNITY, Column("grid", "网格", required=True, width=12),
           Column("post", "职务", required=True, choices=POSTS, note="网格长或网格员", width=8))),
    Sheet("party", "党员", "党员名册：在职、流动、退休党员，计入所在社区",
          (NAME, PHONE, ID_NUMBER,
           Column("kind", "类别", choices=PARTY_KINDS, note="在职、流动、退休或其他；不填为其他", width=8),
           Column("work_unit", "工作单位", note="在职党员必填", width=20),
           Column("community", "所在社区", note="居住地社区；街道导入时必填", width=12))),
    Sheet("volunteers", "志愿者", "志愿者，计入所填网格（不填网格则计入社区）",
          (NAME, PHONE, ID_NUMBER, COMMUNITY, Column("grid", "网格", note="可不填", width=12))),
    Sheet("units", "驻区单位", "驻区单位；填所属社区则建在社区下，不填则建在导入的组织下",
          (Column("unit", "单位名称", required=True, width=24),
           Column("community", "所属社区", note="可不填", width=12))),
)
SHEETS_BY_TITLE = {sheet.title: sheet for sheet in SHEETS}
INSTRUCTIONS = "说明"


@dataclass(frozen=True)
class RowError:
    """One thing wrong with one cell: what the officer fixes before importing."""

    sheet: str
    #: Excel row number (the header is row 1).
    row: int
    #: The column's header.
    column: str
    #: Where to look, e.g. "C12".
    cell: str
    message: str


@dataclass
class Row:
    sheet: Sheet
    number: int
    #: Column key → cell value: text stripped (blank is None), whole numbers as int.
    values: dict
    #: Column key → its letter in the uploaded sheet (the officer may have moved columns).
    letters: dict[str, str]


@dataclass
class Parsed:
    #: Sheet key → its filled rows, in order.
    rows: dict[str, list[Row]] = field(default_factory=dict)
    #: Missing columns (reported on row 1).
    errors: list[RowError] = field(default_factory=list)


# --- the template ---------------------------------------------------------------------------------

_HEADER_FONT = Font(bold=True)
_REQUIRED_FILL = PatternFill("solid", fgColor="FDE2E2")
_OPTIONAL_FILL = PatternFill("solid", fgColor="EEEEEE")


def _header(column: Column) -> str:
    return f"{column.header}*" if column.required else column.header


def _instructions(book: Workbook) -> None:
    sheet = book.active
    sheet.title = INSTRUCTIONS
    lines = ["名册导入模板", "",
             "1. 每个工作表一类名册，第一行是表头，从第二行起每行一条；不用的工作表留空即可。",
             "2. 表头带 * 的列必填；表头文字不要改，列的顺序可以调整，多出的列不会导入。",
             "3. 人员以身份证号或手机号认人：再次导入同一份名册只会更新，不会重复建人。",
             "4. 先“检查”：列出每一处错误（工作表、行、列、原因），不写入任何数据；全部无误后再“导入”。",
             "5. 导入要么全部成功，要么一条也不写入。身份证号只保存不可还原的摘要。", ""]
    lines += [f"【{s.title}】{s.about}。列：" + "、".join(_header(c) for c in s.columns) for s in SHEETS]
    for line in lines:
        sheet.append([line])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.column_dimensions["A"].width = 110


def _data_sheet(book: Workbook, spec: Sheet) -> None:
    sheet = book.create_sheet(spec.title)
    sheet.append([_header(c) for c in spec.columns])
    for index, column in enumerate(spec.columns, start=1):
        letter = get_column_letter(index)
        cell = sheet.cell(row=1, column=index)
        cell.font = _HEADER_FONT
        cell.fill = _REQUIRED_FILL if column.required else _OPTIONAL_FILL
        cell.alignment = Alignment(horizontal="center")
        if column.note:
            cell.comment = Comment(column.note, "三微")
        sheet.column_dimensions[letter].width = column.width
        if column.text:
            sheet.column_dimensions[letter].number_format = "@"
        if column.choices:
            rule = DataValidation(type="list", formula1='"' + ",".join(column.choices) + '"', allow_blank=True,
                                  error=f"请选择：{'、'.join(column.choices)}", showErrorMessage=True)
            rule.add(f"{letter}2:{letter}{TEMPLATE_ROWS + 1}")
            sheet.add_data_validation(rule)
    sheet.freeze_panes = "A2"


def template() -> bytes:
    """The empty roster workbook: a 说明 sheet, then one sheet per roster with its headers."""
    book = Workbook()
    _instructions(book)
    for spec in SHEETS:
        _data_sheet(book, spec)
    out = BytesIO()
    book.save(out)
    return out.getvalue()


# --- reading a filled-in workbook -----------------------------------------------------------------

def _normalise(value):
    """A cell as the checks want it: text stripped (blank is None), whole numbers as int."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _header_key(text) -> str:
    return "".join(str(text or "").split()).rstrip("*＊")


def _columns(spec: Sheet, header: tuple, errors: list[RowError]) -> dict[str, int]:
    """Column key → position in the uploaded sheet; a missing required column is an error on row 1."""
    found = {_header_key(text): index for index, text in enumerate(header) if text is not None}
    positions = {}
    for column in spec.columns:
        if column.header in found:
            positions[column.key] = found[column.header]
        elif column.required:
            errors.append(RowError(spec.title, 1, column.header, "", f"缺少“{column.header}”列"))
    return positions


def _read_sheet(spec: Sheet, sheet, parsed: Parsed, budget: int) -> int:
    """Add the sheet's filled rows to `parsed`; the rows left of `budget`."""
    rows = sheet.iter_rows(values_only=True, max_row=MAX_SHEET_ROWS)
    header = next(rows, None) or ()
    positions = _columns(spec, header, parsed.errors)
    letters = {key: get_column_letter(index + 1) for key, index in positions.items()}
    found = parsed.rows.setdefault(spec.key, [])
    for number, cells in enumerate(rows, start=2):
        values = {key: _normalise(cells[index]) if index < len(cells) else None for key, index in positions.items()}
        if all(v is None for v in values.values()):
            continue
        budget -= 1
        if budget < 0:
            raise Invalid(f"名册最多 {MAX_ROWS} 行，请分几次导入", code="roster_too_many_rows",
                          fields={"file": [f"名册最多 {MAX_ROWS} 行"]})
        found.append(Row(spec, number, values, letters))
    return budget


def _unreadable() -> Invalid:
    return Invalid("无法读取该文件，请用下载的模板另存为 .xlsx 后再试", code="roster_unreadable",
                   fields={"file": ["无法读取该文件"]})


def _check_archive(data: bytes) -> None:
    """An .xlsx is a zip: refuse one that is not, or that would unpack to far more than any roster."""
    if not data.startswith(b"PK"):
        raise Invalid("请上传 Excel 工作簿（.xlsx）", code="roster_not_xlsx", fields={"file": ["请上传 .xlsx 文件"]})
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise _unreadable() from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise _unreadable()


def _read_book(data: bytes) -> Parsed:
    book = load_workbook(BytesIO(data), read_only=True, data_only=True)
    try:
        parsed, budget = Parsed(), MAX_ROWS
        for sheet in book.worksheets:
            spec = SHEETS_BY_TITLE.get(sheet.title.strip())
            if spec is not None:
                # Some writers record a wrong sheet size; read what is really there.
                sheet.reset_dimensions()
                budget = _read_sheet(spec, sheet, parsed, budget)
        return parsed
    finally:
        book.close()


def read(data: bytes) -> Parsed:
    """The filled rows of every roster sheet in the workbook `data` (sheets matched by name;
    others, such as 说明, are ignored). 422 when the file is not a workbook, holds no roster
    sheet or more than MAX_ROWS rows."""
    _check_archive(data)
    try:
        parsed = _read_book(data)
    except Invalid:
        raise
    except Exception:  # a damaged file fails anywhere inside openpyxl (lazily, row by row): bad input
        raise _unreadable() from None
    if not parsed.rows:
        names = "、".join(s.title for s in SHEETS)
        raise Invalid(f"没有找到名册工作表（{names}），请使用下载的模板", code="roster_no_sheets",
                      fields={"file": ["没有找到名册工作表"]})
    return parsed
