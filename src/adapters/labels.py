"""Labels: each code as a QR code (SVG, PNG) and a batch's A4 label sheet (PDF).

The sheet has one row per device: its charger label (the pairing payload) on the left, its box label (the box
security payload) on the right, each QR code beside its text (what it is, the station id, the code as printed,
serial number, model, MAC address). Each QR code is embedded as a PNG image, the form label printers and
scanners handle best.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from cloudbay_domain.codes import DeviceCodes, grouped

ERROR_CORRECTION = "m"  # 15 % of the code may be damaged and it still reads
BORDER = 4  # the quiet zone, in modules, that scanners need
ROW_HEIGHT = 44 * mm
QR_SIZE = 36 * mm
MARGIN = 12 * mm


def qr_svg(payload: str) -> bytes:
    out = io.BytesIO()
    segno.make(payload, error=ERROR_CORRECTION).save(out, kind="svg", scale=4, border=BORDER)
    return out.getvalue()


def qr_png(payload: str, scale: int = 8) -> bytes:
    out = io.BytesIO()
    segno.make(payload, error=ERROR_CORRECTION).save(out, kind="png", scale=scale, border=BORDER)
    return out.getvalue()


@dataclass(frozen=True)
class SheetDevice:
    codes: DeviceCodes
    model: str
    mac_address: str


def _label(canvas: Canvas, x: float, y: float, payload: str, lines: Sequence[str]) -> None:
    canvas.drawImage(ImageReader(io.BytesIO(qr_png(payload, scale=6))), x, y, QR_SIZE, QR_SIZE)
    text = canvas.beginText(x + QR_SIZE + 3 * mm, y + QR_SIZE - 4 * mm)
    for n, line in enumerate(lines):
        text.setFont("Helvetica-Bold" if n == 0 else "Helvetica", 9 if n == 0 else 8)
        text.textLine(line)
    canvas.drawText(text)


def label_sheet(batch_id: str, devices: Sequence[SheetDevice]) -> bytes:
    """The batch's label sheet: A4 pages, one row of two labels per device."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"CloudBay labels, batch {batch_id}")
    width, height = A4
    per_page = int((height - 2 * MARGIN) // ROW_HEIGHT)
    for n, device in enumerate(devices):
        if n and n % per_page == 0:
            canvas.showPage()
        y = height - MARGIN - (n % per_page + 1) * ROW_HEIGHT + 4 * mm
        codes, facts = device.codes, [f"serial {device.codes.station_id}", device.model, f"MAC {device.mac_address}"]
        charger = ["Charger label", f"station {codes.station_id}", f"pairing code {grouped(codes.pairing)}", *facts]
        box = ["Box security code (inside the box)", f"station {codes.station_id}", grouped(codes.box), *facts]
        _label(canvas, MARGIN, y, codes.charger_payload, charger)
        _label(canvas, width / 2, y, codes.box_payload, box)
    if not devices:
        canvas.drawString(MARGIN, height - MARGIN, f"batch {batch_id} has no devices")
    canvas.showPage()
    canvas.save()
    return out.getvalue()
