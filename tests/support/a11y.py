"""Accessibility checks run inside a page (Playwright): WCAG 2.x contrast of the text that
is on screen, computed from getComputedStyle (relative luminance, then (L1 + 0.05) / (L2 + 0.05))."""

# For every element matching `selector` that shows its own text: the text colour against the
# first opaque background up the tree (white at the top), and the WCAG AA minimum for its size
# (3:1 for large text: 24 px, or 18.66 px bold; 4.5:1 otherwise). Returns the failures.
CONTRAST_JS = """(selector) => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor); if (c && c[3] > 0.5) return c; }
    return [255, 255, 255, 1]; };
  const out = [];
  let checked = 0;
  for (const el of document.querySelectorAll(selector)) {
    const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!own || !box.width || !box.height) continue;
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || Number(s.opacity) === 0) continue;
    const fg = parse(s.color), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const px = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
    const need = px >= 24 || (bold && px >= 18.66) ? 3 : 4.5;
    checked += 1;
    if (ratio < need) out.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 40)}": ` +
                               `${ratio.toFixed(2)} < ${need} (${s.color} on rgb(${bg.slice(0, 3)}))`);
  }
  return {checked, failures: out};
}"""


def contrast_failures(page, selector: str = "body *") -> tuple[int, list[str]]:
    """(how many text elements were checked, the ones below WCAG AA)."""
    r = page.evaluate(CONTRAST_JS, selector)
    return r["checked"], r["failures"]
