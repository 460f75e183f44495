"""Rosters by Excel (名册导入): grids and buildings, households, party members, volunteers, grid
staff and resident units brought in from one workbook (docs/rosters.md)."""
