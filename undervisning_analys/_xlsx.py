"""Excel workbooks saved so that the same tables give the same bytes (foundation).

openpyxl stamps the time of saving into ``docProps/core.xml`` and into every
zip entry, so two runs on the same data would give different files. The
package's reruns are byte-identical: every workbook it writes with openpyxl (the
sample's Skolenkäten workbooks) goes through :func:`workbook_bytes`; the workbooks
the main job writes in bulk (``tabeller.xlsx``, the dialogue notes) are written
with XlsxWriter and :data:`FIXED_TIME` as their date.
This module imports nothing from the package.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
import zipfile
from typing import Any

__all__ = ["FIXED_TIME", "workbook_bytes"]

#: The document and zip entry time written instead of the time of saving.
FIXED_TIME = _dt.datetime(2000, 1, 1)

_MODIFIED = re.compile(rb"<dcterms:modified[^>]*>[^<]*</dcterms:modified>")


def workbook_bytes(wb: Any) -> bytes:
    """The bytes of an openpyxl workbook with fixed dates (created, modified, zip times)."""
    wb.properties.created = FIXED_TIME
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _MODIFIED.sub(b'<dcterms:modified xsi:type="dcterms:W3CDTF">'
                                     b"2000-01-01T00:00:00Z</dcterms:modified>", data)
            zi = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    return out.getvalue()
