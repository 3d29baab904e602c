"""Reader throughput, embedding excluded: BibTeX records/s and PDF pages/s on generated files.

    PYTHONPATH=. python bench/readers.py [--records 2000] [--pdfs 50]

Generates a Zotero-style BibTeX file (accents, @string macros, multi-line abstracts) and
two-column PDFs (tests/pdfgen.py, needs fpdf2), then times :func:`rag.ingest.parse_paths`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.ingest import parse_paths
from tests.pdfgen import LOREM, two_column_pdf


def bib_file(path: Path, n: int) -> Path:
    out = ['@string{nips = "Advances in Neural Information Processing Systems"}\n']
    for i in range(n):
        out.append(
            f"@inproceedings{{key{i},\n"
            f'  title = {{Paper {i}: {{Low-Rank}} M{{\\"u}}ller Adapters}},\n'
            f'  author = {{M{{\\"u}}ller, J{{\\"o}}rg and Smith, Ann and Doe, J.}},\n'
            f"  booktitle = nips,\n  year = {{{2000 + i % 25}}},\n  doi = {{10.1234/x.{i}}},\n"
            f"  abstract = {{{LOREM}\n  {LOREM}}},\n}}\n"
        )
    path.write_text("\n".join(out), encoding="utf-8")
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--pdfs", type=int, default=50)
    ap.add_argument("--pages", type=int, default=4, help="pages per PDF")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bib = bib_file(root / "big.bib", args.records)
        t = time.perf_counter()
        result = parse_paths([bib])
        bib_s = time.perf_counter() - t
        assert len(result.papers) == args.records, len(result.papers)
        pdf_dir = root / "pdfs"
        pdf_dir.mkdir()
        sections = [(f"{i} Section {i}", LOREM * 6) for i in range(1, 4 * args.pages + 1)]
        for i in range(args.pdfs):
            two_column_pdf(
                pdf_dir / f"p{i}.pdf", title=f"Generated paper {i}", abstract=LOREM,
                sections=sections, pages=args.pages,
            )  # fmt: skip
        t = time.perf_counter()
        result = parse_paths([pdf_dir])
        pdf_s = time.perf_counter() - t
        assert len(result.papers) == args.pdfs, len(result.papers)
        pages = args.pdfs * args.pages
    print(f"{'reader':<8} {'input':<28} {'seconds':>8} {'rate':>16}")
    print(f"{'bibtex':<8} {f'{args.records} records':<28} {bib_s:>8.2f} "
          f"{args.records / bib_s:>10.0f} rec/s")  # fmt: skip
    print(f"{'pdf':<8} {f'{args.pdfs} PDFs, {pages} pages':<28} {pdf_s:>8.2f} "
          f"{pages / pdf_s:>8.1f} pages/s")  # fmt: skip


if __name__ == "__main__":
    main()
