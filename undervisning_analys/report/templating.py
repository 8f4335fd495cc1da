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


def render(template: str, **context: Any) -> str:
    """Render a template with the inlined CSS."""
    return _env().get_template(template).render(css=_css(), version=__version__, **context)


__all__ = ["render"]
