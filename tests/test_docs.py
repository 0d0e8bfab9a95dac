"""The documentation stays true: every relative link in README.md and docs/ leads to a file and
heading of the repository, nothing refers to documents outside the repository, and the API
examples in docs/api/ are exactly what the code answers now."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from vbwd.management import docs_examples

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_DIRS = {".git", ".venv", "venv", "var", "node_modules", "__pycache__", "staticfiles"}

FENCE_RE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.DOTALL | re.MULTILINE)
INLINE_CODE_RE = re.compile(r"`[^`\n]*`")
LINK_RE = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING_RE = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
EXTERNAL_LINK_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)

SECTION = "\u00a7"
# What refers to documents that are not in the repository: the specification files, section
# signs, issue numbers and acceptance criteria of an issue tracker.
OUTSIDE_REFERENCES = {
    "a section sign": re.compile(SECTION),
    "the API specification": re.compile(r"\bAPI\.md\b"),
    "the domain specification": re.compile(r"\bDOMAIN(?:\.md\b|\s*" + SECTION + ")"),
    "the architecture notes": re.compile(r"\bARCHITECTURE\.md\b"),
    "an issue": re.compile(r"\bissue\s+(?:#?\d+|acceptance)\b", re.IGNORECASE),
    "acceptance criteria": re.compile(r"\bacceptance\s+\d", re.IGNORECASE),
}
MARKDOWN_MENTION_RE = re.compile(r"(?<![\w/.-])([\w.-]+(?:/[\w.-]+)*\.md)\b")


def _files(*suffixes: str) -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        relative = path.relative_to(ROOT)
        if any(part in SKIPPED_DIRS for part in relative.parts[:-1]):
            continue
        if path.is_file() and path.suffix in suffixes:
            found.append(path)
    return sorted(found)


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _without_code(text: str) -> str:
    """The text with fenced blocks and inline code blanked (line numbers kept)."""
    text = FENCE_RE.sub(lambda match: "\n" * match.group(0).count("\n"), text)
    return INLINE_CODE_RE.sub("", text)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in HEADING_RE.findall(_without_code(path.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def broken_links(path: Path) -> list[str]:
    text = _without_code(path.read_text(encoding="utf-8"))
    problems = []
    for match in LINK_RE.finditer(text):
        target = match.group(1)
        if EXTERNAL_LINK_RE.match(target):
            continue
        where = f"{path.relative_to(ROOT)}:{_line_of(text, match.start())}"
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists() or ROOT not in (linked, *linked.parents):
            problems.append(f"{where}: {target} (no such file in the repository)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"{where}: {target} (no heading #{anchor})")
    return problems


@functools.cache
def _markdown_names(root: Path) -> frozenset[str]:
    return frozenset(path.name for path in _files(".md"))


def _markdown_exists(mention: str, source: Path) -> bool:
    if (source.parent / mention).exists() or (ROOT / mention).exists():
        return True
    return "/" not in mention and mention in _markdown_names(ROOT)


def outside_references(path: Path) -> list[str]:
    problems = []
    where = path.relative_to(ROOT)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for what, pattern in OUTSIDE_REFERENCES.items():
            if pattern.search(line):
                problems.append(f"{where}:{number}: refers to {what}: {line.strip()}")
        for mention in MARKDOWN_MENTION_RE.findall(line):
            if not _markdown_exists(mention, path):
                problems.append(f"{where}:{number}: names {mention}, not in the repository")
    return problems


def test_slugs_follow_github():
    assert slug("Calling a provider") == "calling-a-provider"
    assert slug("`POST /user/checkout`: buy") == "post-usercheckout-buy"
    assert slug("Admin: subscriptions, invoices, tokens") == "admin-subscriptions-invoices-tokens"


def test_every_relative_link_leads_to_a_file_and_heading_of_the_repository():
    documents = _documents()
    assert len(documents) > 20, "docs/ should hold the user documentation"
    problems = [problem for path in documents for problem in broken_links(path)]
    assert problems == [], "Broken links:\n" + "\n".join(problems)


def test_the_checker_finds_a_broken_link_and_a_missing_heading(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "other.md").write_text("# Present\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#present) [gone](missing.md) [nohead](other.md#absent)\n"
        "`[code](ignored.md)` [web](https://example.com)\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "page.md:1: missing.md (no such file in the repository)",
        "page.md:1: other.md#absent (no heading #absent)",
    ]


def test_nothing_refers_to_documents_outside_the_repository():
    # This file is left out: its own tests hold references and links that must be found.
    sources = [path for path in _files(".py", ".md") if path != Path(__file__).resolve()]
    problems = [problem for path in sources for problem in outside_references(path)]
    assert problems == [], (
        "State the rule in words or link the repository's docs/ instead of:\n" + "\n".join(problems)
    )


def test_the_checker_names_file_and_line_of_an_outside_reference(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    source = tmp_path / "module.py"
    source.write_text(
        '"""Fine."""\n'
        f"# see API.md {SECTION}7\n"
        "ANONYMISED_DOMAIN = 1  # a constant, not a reference\n"
        "# the rule is in SPEC.md\n",
        encoding="utf-8",
    )
    assert outside_references(source) == [
        f"module.py:2: refers to a section sign: # see API.md {SECTION}7",
        f"module.py:2: refers to the API specification: # see API.md {SECTION}7",
        "module.py:2: names API.md, not in the repository",
        "module.py:4: names SPEC.md, not in the repository",
    ]


@pytest.mark.django_db
def test_the_api_examples_are_what_the_code_answers_now():
    """Regenerate with ``python manage.py docs_examples`` when this fails."""
    stale = docs_examples.outdated(docs_examples.generate())
    assert stale == [], (
        "These files show API examples the code no longer produces: "
        + ", ".join(str(path.relative_to(ROOT)) for path in stale)
        + ". Run `python manage.py docs_examples` and commit the result."
    )
