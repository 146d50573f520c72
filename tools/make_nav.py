"""Write each lesson's navigation line and the README's lesson table from the notebooks' titles.

    python tools/make_nav.py          # rewrite what is out of date
    python tools/make_nav.py --check  # exit 1 and say which files are out of date (the tests run this)

A notebook's title is its first heading ("# 03 · batch: many prompts at once"); its
promise is the first paragraph after it. The navigation is the notebook's last cell,
found again by its marker comment, so reruns replace it instead of adding another.
The README's table sits between two marker comments.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
NAV = "<!-- nav -->"
TABLE_START, TABLE_END = "<!-- lessons:start -->", "<!-- lessons:end -->"


def lessons() -> list[tuple[Path, str, str]]:
    """(path, title, promise) for every numbered notebook, in order."""
    found = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]*_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        text = "".join(cells[0]["source"])
        title = re.search(r"^# (.+)$", text, re.M).group(1).strip()
        after = text.split("\n", 1)[1].strip().split("\n\n")[0]
        found.append((path, title, " ".join(after.split())))
    return found


def short(title: str) -> str:
    """'03 · batch: many prompts at once' -> '03 · batch' (the part before ':' or ' — ')."""
    return re.split(r":| — ", title, maxsplit=1)[0].strip()


def optional(item) -> bool:
    """A lesson numbered with a letter ("04b") is an optional side lesson off the core path."""
    return not short(item[1]).split(" ")[0].isdigit()


def nav_line(i: int, items: list) -> str:
    """Previous and next on the core path; an optional lesson is offered beside the core one."""
    link = lambda it: f"[{short(it[1])}]({it[0].name})"  # noqa: E731
    before = [it for it in items[:i] if not optional(it)]
    after = [it for it in items[i + 1:] if not optional(it)]
    side = [it for it in items[i + 1:i + 2] if optional(it)]
    parts = [f"[← {short(before[-1][1])}]({before[-1][0].name})"] if before else []
    if after:
        parts.append(f"**Next → {link(after[0])}**" + (f" (optional first: {link(side[0])})" if side else ""))
    else:
        parts.append("**This is the last lesson.**")
    return f"{NAV}\n" + " · ".join(parts)


def _source(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def update_notebook(path: Path, nav: str) -> bool:
    """Put `nav` in the notebook's marked last cell (adding one if missing); True if it changed."""
    raw = path.read_text(encoding="utf-8")
    nb = json.loads(raw)
    cells = nb["cells"]
    marked = [c for c in cells if c["cell_type"] == "markdown" and NAV in "".join(c["source"])]
    if marked:
        cell = marked[-1]
        text = "".join(cell["source"])
        new = text[:text.index(NAV)] + nav
        cell["source"] = _source(new)
    else:
        cells.append({"cell_type": "markdown", "id": f"nav{len(cells):05d}", "metadata": {},
                      "source": _source(nav)})
    out = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if out != raw:
        path.write_text(out, encoding="utf-8")
        return True
    return False


def readme_table(items: list) -> str:
    rows = ["| # | lesson | what it promises |", "|---|---|---|"]
    for path, title, promise in items:
        number, _, name = title.partition(" · ")
        rows.append(f"| {number} | [{name}](notebooks/{path.name}) | {promise} |")
    return "\n".join(rows)


def update_readme(items: list) -> bool:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    new = text[:start] + "\n" + readme_table(items) + "\n" + text[end:]
    if new != text:
        readme.write_text(new, encoding="utf-8")
        return True
    return False


def main(argv: list[str]) -> int:
    check = "--check" in argv
    items = lessons()
    changed = []
    originals = {p: p.read_text(encoding="utf-8") for p in [*(i[0] for i in items), ROOT / "README.md"]}
    for i, (path, _, _) in enumerate(items):
        if update_notebook(path, nav_line(i, items)):
            changed.append(path.name)
    if update_readme(items):
        changed.append("README.md")
    if check and changed:
        for path, text in originals.items():   # --check never leaves files changed
            path.write_text(text, encoding="utf-8")
        print("out of date (run python tools/make_nav.py): " + ", ".join(changed))
        return 1
    print(("updated: " + ", ".join(changed)) if changed else "navigation and README table are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
