"""The layers hold: each rule has one door, and the imports say so.

- pages (h5/) and the JSON API (backend/*/api.py) never import each other;
- backend/core/ knows no domain;
- the star rating reads the domains it scores and no domain reads the rating back;
- only the composition root (backend/app.py) knows the pages;
- schemas take their fields from backend.core.fields, which bounds them by the database, and
  derive from backend.core.schemas.Schema, which dumps them along a plan.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Modules that wire everything together, and so may import anything.
COMPOSITION = {"backend.app", "backend.models", "backend.demo", "backend.cli"}


def _modules(folder: str, only_ours: bool = True) -> dict[str, set[str]]:
    """module name → the modules it imports (top-level or not): the backend/h5 ones, or all."""
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        imports = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imports.add(node.module)
                imports.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                imports.update(alias.name for alias in node.names)
        found[name] = {i for i in imports if not only_ours or i.split(".")[0] in ("backend", "h5")}
    return found


MODULES = {**_modules("backend"), **_modules("h5")}
MODULES_WITH_THIRD_PARTY = {**_modules("backend", only_ours=False), **_modules("h5", only_ours=False)}


def _is_api(module: str) -> bool:
    parts = module.split(".")
    return module == "backend.api" or (len(parts) >= 3 and parts[0] == "backend" and parts[2] == "api")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("h5")))
def test_pages_do_not_import_the_api(module):
    assert not [i for i in MODULES[module] if _is_api(i)], f"{module} imports an API module"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("backend") and m not in COMPOSITION))
def test_only_the_composition_root_knows_the_pages(module):
    assert not [i for i in MODULES[module] if i.startswith("h5")], f"{module} imports a page module"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("backend.core")))
def test_core_knows_no_domain(module):
    outside = [i for i in MODULES[module] if not i.startswith(("backend.core", "backend.extensions"))]
    assert not outside, f"{module} imports {outside}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("backend.")
                                          and not m.startswith("backend.rating") and m not in COMPOSITION))
def test_no_domain_reads_the_rating_back(module):
    assert not [i for i in MODULES[module] if i.startswith("backend.rating")], f"{module} imports the rating"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("backend") and not _is_api(m)
                                          and m not in COMPOSITION))
def test_services_do_not_import_the_api(module):
    assert not [i for i in MODULES[module] if _is_api(i)], f"{module} imports an API module"


#: The fields module itself, the one that makes marshmallow's messages Chinese, the JSON
#: loader that checks a body's types against any field, and the Schema that plans a dump
#: from marshmallow's own field kinds.
MARSHMALLOW_SETUP = {"backend.core.fields", "backend.core.messages", "backend.core.input", "backend.core.schemas"}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m not in MARSHMALLOW_SETUP))
def test_schemas_take_their_fields_from_the_core(module):
    """backend.core.fields bounds integers and dates by what the database holds; a schema that
    took marshmallow's own fields would let a number or a date through that fails in a query."""
    assert "marshmallow.fields" not in MODULES_WITH_THIRD_PARTY[module], f"{module} imports marshmallow.fields"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m not in MARSHMALLOW_SETUP))
def test_schemas_derive_from_the_core_schema(module):
    """A schema on marshmallow's own Schema would dump correctly, field by field: slowly."""
    assert "marshmallow.Schema" not in MODULES_WITH_THIRD_PARTY[module], f"{module} imports marshmallow.Schema"
