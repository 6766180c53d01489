"""The README and the docs point only at files that are in the repository: every relative link
resolves, and no text sends a reader to a document that lives outside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "fixtures" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OUTSIDE = re.compile(r"\bDESIGN(\.md)?\b|\bANCHORS\.md\b|\bPROTOCOL\.md\b|\bSTYLE\.md\b|shared/")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def broken_links(doc: Path) -> list[str]:
    broken = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        if not (doc.parent / target.split("#", 1)[0]).exists():
            broken.append(target)
    return broken


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc: Path) -> None:
    assert broken_links(doc) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_doc_points_at_a_document_outside_the_repository(doc: Path) -> None:
    hits = [line for line in doc.read_text(encoding="utf-8").splitlines() if OUTSIDE.search(line)]
    assert hits == []


def test_the_link_checker_finds_a_missing_file(tmp_path: Path) -> None:
    doc = tmp_path / "README.md"
    (tmp_path / "there.md").write_text("x")
    doc.write_text("[a](there.md) [b](missing.md) [c](https://example.org/x) [d](#top)\n")
    assert broken_links(doc) == ["missing.md"]


def test_the_recognised_shapes_are_documented_for_users() -> None:
    shapes = (ROOT / "docs" / "shapes.md").read_text(encoding="utf-8")
    assert "| shape | recognised as |" in shapes and "--loop-line" in shapes
    assert "(docs/shapes.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
