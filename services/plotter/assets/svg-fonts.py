"""Makes the font subsets every SVG chart carries: DejaVu Sans regular and bold, cut
to the characters of SVG_UNICODE_RANGE in ../src/charts/theme.rs, as WOFF2 (about
12 kB each instead of 700 kB), so an SVG shows the same letters with the same widths
as the PNG in any browser, with or without DejaVu installed.

    python3 -m venv /tmp/fonttools && /tmp/fonttools/bin/pip install fonttools brotli
    /tmp/fonttools/bin/python services/plotter/assets/svg-fonts.py
"""

import pathlib
import re

from fontTools import subset

HERE = pathlib.Path(__file__).resolve().parent
THEME = HERE.parent / "src" / "charts" / "theme.rs"

ranges = re.search(r'SVG_UNICODE_RANGE: &str =\s*"([^"]+)"', THEME.read_text()).group(1)
for name in ["DejaVuSans", "DejaVuSans-Bold"]:
    options = subset.Options()
    options.flavor = "woff2"
    options.hinting = False
    options.desubroutinize = True
    options.layout_features = []
    options.name_IDs = ["*"]
    font = subset.load_font(str(HERE / f"{name}.ttf"), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=subset.parse_unicodes(ranges.replace(" ", "")))
    subsetter.subset(font)
    out = HERE / f"{name}-svg.woff2"
    subset.save_font(font, str(out), options)
    print(f"{out.name}: {out.stat().st_size} bytes")
