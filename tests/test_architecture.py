"""The layers hold: each rule has one door, and the imports say so.

- pages (h5/) and the JSON API (backend/*/api.py) never import each other;
- backend/core/ knows no domain;
- the star rating reads the domains it scores and no domain reads the rating back;
- only the composition root (backend/app.py) knows the pages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Modules that wire everything together, and so may import anything.
COMPOSITION = {"backend.app", "backend.models", "backend.demo", "backend.cli"}


def _modules(folder: str) -> dict[str, set[str]]:
    """module name → the backend/h5 modules it imports (top-level or not)."""
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
        found[name] = {i for i in imports if i.split(".")[0] in ("backend", "h5")}
    return found


MODULES = {**_modules("backend"), **_modules("h5")}


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
