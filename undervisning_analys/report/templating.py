"""Render the report templates (Jinja2, ``templates/*.html.j2``) with the CSS inlined.

A report is one file that opens and prints (A4) anywhere without network
access: the CSS and the figures (SVG as ``data:`` URIs) are inlined.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from .. import __version__

_ENV: Any = None


def _env() -> Any:
    global _ENV
    if _ENV is None:
        import jinja2

        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("undervisning_analys.report", "templates"),
            autoescape=True, trim_blocks=True, lstrip_blocks=True,
            undefined=jinja2.StrictUndefined)
    return _ENV


def _css() -> str:
    return resources.files("undervisning_analys.report").joinpath("report.css").read_text(
        encoding="utf-8")


def css_string(text: str) -> str:
    """``text`` as the inside of a CSS string literal, safe inside ``<style>``.

    Backslash and double quote are escaped as CSS escapes; ``<``, ``>`` and ``&``
    too (so no ``</style>`` can close the block), and line breaks become spaces.
    """
    out = []
    for ch in " ".join(str(text).split()):
        out.append(f"\\{ord(ch):06x}" if ch in '\\"<>&' else ch)
    return "".join(out)


def page_css(running_head: str) -> str:
    """The print page's margin boxes: a running head and "Sida n av m" at the foot.

    Continuation pages of a printed report then carry the school (or
    municipality) and period, and every page its number.
    """
    head = css_string(running_head)
    return ("@page { @top-left { content: \"" + head + "\"; font-size: 8pt; color: #555; "
            "font-family: sans-serif; } @bottom-right { content: \"Sida \" counter(page) "
            "\" av \" counter(pages); font-size: 8pt; color: #555; font-family: sans-serif; "
            "} }")


def render(template: str, **context: Any) -> str:
    """Render a template with the inlined CSS (and the page's running head, if given)."""
    head = context.pop("running_head", None)
    page = page_css(head) if head else ""
    return _env().get_template(template).render(css=_css(), page_css=page,
                                                version=__version__, **context)


__all__ = ["css_string", "page_css", "render"]
