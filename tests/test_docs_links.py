"""Every relative link and `#anchor` of the README, CONTRIBUTING, CHANGELOG and `docs/` leads somewhere, and the
README stays a short page for a newcomer with the test command CI runs."""

import re
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^\s*(```|~~~)")
# `[text](target)` and `![alt](target)`, with an optional title; the text may hold `[...]` and `\]`.
LINK = re.compile(r"!?\[(?:[^\[\]\\]|\\.|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")


def documentation_pages(root: Path) -> list[Path]:
    pages = [root / name for name in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")]
    return [page for page in pages if page.is_file()] + sorted((root / "docs").rglob("*.md"))


def prose_lines(page: Path) -> list[tuple[int, str]]:
    """`(line number, text)` of the page outside fenced code blocks."""
    lines, is_code = [], False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            is_code = not is_code
        elif not is_code:
            lines.append((number, line))
    return lines


def heading_anchor(text: str) -> str:
    """GitHub's anchor of a heading's text: Markdown marks dropped, lower case, punctuation other than `-` and `_`
    dropped, spaces to dashes."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text).replace("`", "")
    return "".join(char for char in text.strip().lower().replace(" ", "-") if char.isalnum() or char in "-_")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for _, line in prose_lines(page):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            anchor = heading_anchor(heading.group(1))
            count = sum(1 for existing in found if re.fullmatch(rf"{re.escape(anchor)}(-\d+)?", existing))
            found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def broken_links(pages: list[Path], root: Path) -> list[str]:
    """`page:line: target (why)` for every relative link that leads nowhere."""
    broken = []
    for page in pages:
        for number, line in prose_lines(page):
            for match in LINK.finditer(CODE_SPAN.sub("", line)):
                target = match.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                    continue  # a web address
                path_part, _, anchor = target.partition("#")
                linked = (page.parent / path_part).resolve() if path_part else page
                where = f"{page.relative_to(root)}:{number}: {target}"
                if root.resolve() not in (linked, *linked.parents):
                    broken.append(f"{where} (outside the repository)")
                elif not linked.exists():
                    broken.append(f"{where} (no such file)")
                elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                    broken.append(f"{where} (no heading with this anchor in {linked.name})")
    return broken


def test_every_relative_link_and_anchor_of_the_documentation_leads_somewhere():
    pages = documentation_pages(ROOT)
    assert {"README.md", "CONTRIBUTING.md", "CHANGELOG.md"} <= {page.name for page in pages}
    assert len([page for page in pages if ROOT / "docs" in page.parents]) >= 14
    assert broken_links(pages, ROOT) == []


def test_the_link_check_finds_missing_files_anchors_and_links_out_of_the_repository(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(
        "# A guide\n\n## Render a clip: `keydub render`\n\n## Faces\n\n## Faces\n"
    )
    (tmp_path / "README.md").write_text(
        "See [the guide](docs/guide.md), [rendering](docs/guide.md#render-a-clip-keydub-render), [faces again]"
        "(docs/guide.md#faces-1) and [the site](https://keydub.org/#x).\n"
        "Broken: [a typo](docs/giude.md), [an old heading](docs/guide.md#rendering), [up](../outside.md)"
        " and [here](#nowhere).\n"
        "`[code](not/a/link.md)`\n\n```\n[fenced](not/a/link/either.md)\n```\n\n## Documentation\n"
    )
    assert broken_links(documentation_pages(tmp_path), tmp_path) == [
        "README.md:2: docs/giude.md (no such file)",
        "README.md:2: docs/guide.md#rendering (no heading with this anchor in guide.md)",
        "README.md:2: ../outside.md (outside the repository)",
        "README.md:2: #nowhere (no heading with this anchor in README.md)",
    ]


def test_the_readme_is_a_short_newcomer_page_with_ci_s_test_command():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    ci_command = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and line[0] != "#"][-1]
    assert len(text.splitlines()) <= 200
    assert f"\n{ci_command}\n" in text
