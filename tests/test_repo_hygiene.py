"""The house rules, checked: lint, the import arrows, generated navigation, lesson references."""
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LESSONS = {p.name[:2]: p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing():
    done = run(str(BIN / "ruff"), "check", "--output-format", "concise", ".")
    assert done.returncode == 0, done.stdout[-3000:]


def test_the_import_arrows_point_one_way():
    done = run(str(BIN / "lint-imports"), "--no-cache")
    assert done.returncode == 0 and "0 broken" in done.stdout, done.stdout[-3000:]


def test_navigation_and_readme_table_are_generated_and_current():
    done = run(sys.executable, "tools/make_nav.py", "--check")
    assert done.returncode == 0, done.stdout


def _docstrings(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in [tree, *ast.walk(tree)]:
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            doc = ast.get_docstring(node)
            if doc:
                yield getattr(node, "name", path.stem), doc


def _named_lessons(doc: str) -> set[str]:
    found = set()
    for m in re.finditer(r"[Ll]essons? (\d\d)(?:\s*(?:-|–|to)\s*(\d\d))?((?:,\s*\d\d)*)", doc):
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        found |= {f"{n:02d}" for n in range(first, last + 1)}
        found |= set(re.findall(r"\d\d", m.group(3) or ""))
    return found


def test_every_lesson_a_helper_docstring_names_exists():
    missing = []
    for path in (ROOT / "helpers").rglob("*.py"):
        for name, doc in _docstrings(path):
            missing += [f"{path.relative_to(ROOT)}:{name} names lesson {n}"
                        for n in _named_lessons(doc) if n not in LESSONS]
    assert not missing, missing


def test_each_lesson_module_is_used_by_a_lesson_its_docstring_names():
    unused = []
    for path in (ROOT / "helpers" / "lessons").glob("[a-z]*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        named = _named_lessons(doc)
        sources = [LESSONS[n].read_text(encoding="utf-8") for n in named if n in LESSONS]
        if not named or not any(re.search(rf"\b{path.stem}\b", s) for s in sources):
            unused.append(f"{path.name} (names lessons {sorted(named)})")
    assert not unused, unused
