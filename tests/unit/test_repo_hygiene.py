"""The house rules, checked: lint, the import arrows, generated navigation, lesson references."""
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LESSONS = {p.name.split("_")[0]: p for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb")}  # "04", "04b"


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
    for m in re.finditer(r"[Ll]essons? (\d\d)([a-z]?)(?:\s*(?:-|–|to)\s*(\d\d))?((?:,\s*\d\d)*)", doc):
        if m.group(2):   # an optional lesson such as "04b"
            found.add(m.group(1) + m.group(2))
            continue
        first, last = int(m.group(1)), int(m.group(3) or m.group(1))
        found |= {f"{n:02d}" for n in range(first, last + 1)}
        found |= set(re.findall(r"\d\d", m.group(4) or ""))
    return found


def test_every_lesson_a_helper_docstring_names_exists():
    missing = []
    for path in (ROOT / "helpers").rglob("*.py"):
        for name, doc in _docstrings(path):
            missing += [f"{path.relative_to(ROOT)}:{name} names lesson {n}"
                        for n in _named_lessons(doc) if n not in LESSONS]
    assert not missing, missing


def _lesson_modules_importing(stem: str) -> set[str]:
    """The other helpers/lessons modules that import `stem` (`from .stem import ...`)."""
    pattern = re.compile(rf"^from \.{stem} import|^from \. import .*\b{stem}\b", re.M)
    return {p.stem for p in (ROOT / "helpers" / "lessons").glob("[a-z]*.py")
            if p.stem != stem and pattern.search(p.read_text(encoding="utf-8"))}


def test_each_lesson_module_is_used_by_a_lesson_its_docstring_names():
    """A lesson names the module in its source, or names a lesson module that imports it
    (e.g. lesson 04 uses `compare`, which re-exports `compare_plots`' figures)."""
    unused = []
    for path in (ROOT / "helpers" / "lessons").glob("[a-z]*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        named = _named_lessons(doc)
        sources = [LESSONS[n].read_text(encoding="utf-8") for n in named if n in LESSONS]
        names = {path.stem} | _lesson_modules_importing(path.stem)
        if not named or not any(re.search(rf"\b{name}\b", s) for s in sources for name in names):
            unused.append(f"{path.name} (names lessons {sorted(named)})")
    assert not unused, unused


def test_every_helpers_file_a_lesson_points_to_exists():
    missing = []
    for number, path in LESSONS.items():
        for ref in set(re.findall(r"helpers/[A-Za-z0-9_/]+\.(?:py|json|yaml|html)", path.read_text(encoding="utf-8"))):
            if not (ROOT / ref).is_file():
                missing.append(f"lesson {number}: {ref}")
    assert not missing, missing
