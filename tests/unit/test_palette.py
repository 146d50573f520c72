"""Every plot uses the one colour-blind-safe palette of helpers/plots/style.py, or greys."""
import re
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib import colors

from helpers.plots import PALETTE

ROOT = Path(__file__).resolve().parents[2]
# The invoke timeline's "overhead" segment: the prefill colour lightened, always hatched and labelled.
TINTS = {"#d9c9a3"}
HTML_ONLY = {"envcheck.py"}   # colours of text marks in HTML (Okabe-Ito), not of a plot


def plotting_modules() -> list[Path]:
    files = [*(ROOT / "helpers" / "plots").glob("*.py"), *(ROOT / "helpers" / "lessons").glob("*.py"),
             *(ROOT / "helpers" / "chat_app").glob("*.py")]
    return [f for f in files if f.name not in HTML_ONLY and re.search(r"matplotlib|\bplt\.|\bax\.", f.read_text())]


def is_grey(c: str) -> bool:
    r, g, b = colors.to_rgb(c)
    return max(r, g, b) - min(r, g, b) < 0.02


def test_the_palette_is_petroffs_colour_blind_safe_cycle():
    petroff10 = matplotlib.style.library["petroff10"]["axes.prop_cycle"].by_key()["color"]
    assert [c.lower() for c in PALETTE] == ["#" + c.lstrip("#").lower() for c in petroff10[:len(PALETTE)]]


def test_a_plot_that_names_no_colour_uses_the_palette():
    assert plt.rcParams["axes.prop_cycle"].by_key()["color"] == PALETTE
    fig, ax = plt.subplots()
    line, = ax.plot([0, 1], [0, 1])
    assert colors.to_hex(line.get_color()) == PALETTE[0]
    plt.close(fig)


def test_no_plot_picks_another_colour():
    allowed = {c.lower() for c in PALETTE} | TINTS
    found = []
    for f in plotting_modules():
        text = f.read_text()
        for c in re.findall(r"#[0-9a-fA-F]{6}\b", text):
            if c.lower() not in allowed and not is_grey(c):
                found.append(f"{f.name}: {c}")
        for c in re.findall(r"""(?:colou?r|edgecolor|facecolor|fc|ec|mec|mfc)=["']([a-z]+)["']""", text):
            if c != "none" and not is_grey(c):
                found.append(f"{f.name}: {c}")
        for fmt in re.findall(r"""\.plot\([^)]*?["']([a-z]?[-:.o^s]+[a-z]?)["']""", text):
            letter = re.sub(r"[^a-z]", "", fmt)
            if letter and letter not in ("k", "w", "o", "s"):
                found.append(f"{f.name}: format {fmt!r}")
    assert plotting_modules() and not found, found
