"""Generated PDFs for the reader tests and the benchmark (fpdf2, a dev dependency)."""

from __future__ import annotations

from pathlib import Path

LOREM = (
    "Low-rank adapters are trained while the pretrained weights stay frozen. "
    "The adapters add few parameters and no inference latency once merged. "
    "We measure accuracy on eight benchmarks and report the mean over three seeds. "
)


def two_column_pdf(
    path: Path,
    *,
    title: str,
    abstract: str,
    sections: list[tuple[str, str]],
    header: str = "",
    pages: int = 2,
) -> Path:
    """A paper laid out in two columns: title across the top, then each page's left column
    written before its right column (as LaTeX does); sections spread over ``pages`` pages."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    per_page = max(1, -(-len(sections) // pages))
    chunks = [sections[i : i + per_page] for i in range(0, len(sections), per_page)]
    for number, chunk in enumerate(chunks):
        pdf.add_page()
        y = 15.0
        if number == 0:
            if header:
                pdf.set_font("Helvetica", size=7)
                pdf.set_xy(10, 5)
                pdf.cell(0, 4, header)
            pdf.set_font("Helvetica", "B", 18)
            pdf.set_xy(10, 15)
            pdf.multi_cell(190, 8, title, align="C")
            y = pdf.get_y() + 6
        columns = [chunk[: (len(chunk) + 1) // 2], chunk[(len(chunk) + 1) // 2 :]]
        if number == 0:
            columns[0] = [("Abstract", abstract), *columns[0]]
        for col, items in enumerate(columns):
            pdf.set_xy(10 + col * 100, y)
            for heading, body in items:
                pdf.set_x(10 + col * 100)
                pdf.set_font("Helvetica", "B", 11)
                pdf.multi_cell(90, 6, heading)
                pdf.set_x(10 + col * 100)
                pdf.set_font("Helvetica", size=9)
                pdf.multi_cell(90, 4.5, body)
    pdf.output(str(path))
    return path


def scanned_pdf(path: Path) -> Path:
    """A page with only a drawn rectangle: no text layer, as a scan has none."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    pdf.output(str(path))
    return path
