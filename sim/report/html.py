"""Pieces of a self-contained HTML page: escaped text, tables, embedded PNGs; nothing loaded
from the network."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:72em;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f8f8f8;border:1px solid #ddd;padding:.8em;overflow:auto;font-size:.8em}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
nav a{margin-right:1em}.note{color:#555;font-size:.9em}
"""


def esc(text: object) -> str:
    """`text` escaped for HTML (quotes too, so it is safe in attributes)."""
    return html.escape(str(text), quote=True)


def attrs(values: Mapping[str, object]) -> str:
    """` name="value"` pairs, escaped; values that are None are left out."""
    return "".join(f' {esc(k)}="{esc(v)}"' for k, v in values.items() if v is not None)


def cell(text: object, data: Mapping[str, object] | None = None, num: bool = False) -> str:
    """A <td>, with data-* attributes carrying the exact figures behind the text."""
    cls = ' class="num"' if num else ""
    return f"<td{cls}{attrs(data or {})}>{esc(text)}</td>"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], ident: str = "") -> str:
    """A table of ready cells (strings from `cell`, or plain text escaped here)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(c if c.startswith("<td") else cell(c) for c in r) + "</tr>"
                   for r in rows)
    id_attr = f' id="{esc(ident)}"' if ident else ""
    return f"<table{id_attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(name: str, png: bytes) -> str:
    """A PNG embedded as a data: URI, with its name as caption."""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(name)}</figcaption></figure>")


def pre(text: str, ident: str = "") -> str:
    """Preformatted text, escaped (a scenario file, a text report)."""
    id_attr = f' id="{esc(ident)}"' if ident else ""
    return f"<pre{id_attr}>{esc(text)}</pre>"


def page(title: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """The whole page: a title, a table of contents, and (id, heading, body) sections."""
    nav = "".join(f'<a href="#{esc(i)}">{esc(h)}</a>' for i, h, _ in sections)
    body = "".join(f'<section id="{esc(i)}"><h2>{esc(h)}</h2>{b}</section>'
                   for i, h, b in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "img-src data:; style-src 'unsafe-inline'\">"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{esc(title)}</h1><nav>{nav}</nav>{body}</body></html>\n")
