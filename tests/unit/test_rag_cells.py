"""Lesson 05 writes its batched ingestion and its RAG chain in cells first, then reuses them
through helpers (d2l style). These tests keep the two copies the same, and keep the lesson's
streamed-answer loop stamping TTFT once, at the first chunk with text."""
from __future__ import annotations

import ast
import inspect
import json
import textwrap
from pathlib import Path

import pytest

from helpers.lessons import rag

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "05_rag_and_cost.ipynb"


def _cells() -> list[str]:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


class _Unqualify(ast.NodeTransformer):
    """`rag.format_docs` in a cell is `format_docs` inside the helper module."""

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if isinstance(node.value, ast.Name) and node.value.id == "rag":
            return ast.copy_location(ast.Name(id=node.attr, ctx=node.ctx), node)
        return node


def _body(func: ast.FunctionDef) -> str:
    """The function's signature and body as an AST dump, without its docstring or annotations."""
    body = func.body[1:] if ast.get_docstring(func) else func.body
    args = [a.arg for a in func.args.args]
    defaults = [ast.dump(d) for d in func.args.defaults]
    return repr((func.name, args, defaults, [ast.dump(_Unqualify().visit(s)) for s in body]))


def _cell_function(name: str) -> ast.FunctionDef:
    for source in _cells():
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return node
    raise AssertionError(f"no cell of lesson 05 defines {name}()")


@pytest.mark.parametrize("name", ["embed_in_groups", "build_chain"])
def test_the_cell_and_the_saved_helper_are_the_same_code(name):
    helper = ast.parse(textwrap.dedent(inspect.getsource(getattr(rag, name)))).body[0]
    assert _body(_cell_function(name)) == _body(helper)


def test_the_lesson_uses_the_chain_it_wrote_not_the_helper():
    code = "\n".join(_cells())
    assert "rag.build_chain(" not in code and code.count("build_chain(") >= 5


def test_the_streamed_answer_loop_stamps_ttft_once_at_the_first_text():
    loop = next(s for s in _cells() if 'for chunk in chain.stream(' in s and "ttft_s" in s)
    assert "if ttft_s is None:" in loop and "time.perf_counter() - t0" in loop
    assert loop.index('if chunk.get("answer")') < loop.index("ttft_s = now")
