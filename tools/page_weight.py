"""Page weight of built book pages, measured from the files (deterministic, no browser).

    python tools/page_weight.py _build/html chapters/normalization/why_normalize.html ...

For each page: the HTML itself (text, embedded outputs and interactive figures), the images it
shows (<img src> files), and the scripts and stylesheets it loads (<script src>, <link href>;
shared by every page, so a reader downloads them once). MathJax fonts and other files that
scripts fetch later are not counted.
"""

from __future__ import annotations

import pathlib
import re
import sys
from urllib.parse import urlparse

_REF = re.compile(r'<(img|script|link)\b[^>]*?\b(src|href)="([^"]+)"', re.I)


def weigh(html_root: pathlib.Path, page: str) -> dict[str, int]:
    path = html_root / page
    text = path.read_text(encoding="utf-8")
    sizes = {"html": len(text.encode()), "images": 0, "assets": 0}
    seen = set()
    for tag, _attr, ref in _REF.findall(text):
        url = urlparse(ref)
        if url.scheme or url.netloc or ref.startswith("data:"):
            continue
        target = (path.parent / url.path).resolve()
        if target in seen or not target.is_file():
            continue
        if tag.lower() == "link" and not target.suffix == ".css":
            continue
        seen.add(target)
        sizes["images" if tag.lower() == "img" else "assets"] += target.stat().st_size
    return sizes


if __name__ == "__main__":
    root = pathlib.Path(sys.argv[1])
    for page in sys.argv[2:]:
        s = weigh(root, page)
        print(f"{page}: html {s['html'] / 1e3:.0f} kB + images {s['images'] / 1e3:.0f} kB "
              f"= {(s['html'] + s['images']) / 1e3:.0f} kB page-specific; "
              f"+ {s['assets'] / 1e3:.0f} kB shared scripts/styles")
