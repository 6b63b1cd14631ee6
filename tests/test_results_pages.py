"""The results pages (README.md, benchmarks/results/README.md) match their committed data:
every generated block (``benchmarks/report.py``) is what its data gives today."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("nc_results_report", REPO / "benchmarks" / "report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


@pytest.mark.parametrize("page", report.PAGES, ids=[p.name if p.parent == REPO else "results/README.md" for p in report.PAGES])
def test_page_is_in_sync_with_its_data(page):
    text = page.read_text()
    new, changed, _ = report.regenerate(text, page.name)
    assert not changed, "out of date, run `python benchmarks/report.py`:\n" + "\n".join(changed)
    assert text.count("<!--nc:") >= 10  # the pages do use generated blocks


def test_a_hand_edited_number_is_caught():
    text = "x <!--nc: bdvalue kodak-factorized jpeg=kodak-hyperprior psnr-->−3.0 %<!--/nc--> y\n"
    assert not report.regenerate(text, "t")[1]
    _, changed, _ = report.regenerate(text.replace("−3.0 %", "−30.0 %"), "t")
    assert changed == ["t:1: bdvalue kodak-factorized jpeg=kodak-hyperprior psnr"]


def test_tables_come_from_the_data(tmp_path, monkeypatch):
    """A point's bpp changed in results.json changes the generated table."""
    run = tmp_path / "kodak-factorized"
    run.mkdir()
    for f in ("results.json", "pipeline.yaml"):
        (run / f).write_text((report.RESULTS / "kodak-factorized" / f).read_text())
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    before = report.points("kodak-factorized")
    doc = json.loads((run / "results.json").read_text())
    doc["results"]["bpp"][0] = 0.2999
    (run / "results.json").write_text(json.dumps(doc))
    assert report.points("kodak-factorized") != before and "| 0.0035 | 0.2999 |" in report.points("kodak-factorized")


def test_unknown_function_is_an_error():
    with pytest.raises(ValueError, match="unknown function"):
        report.render("nope kodak-factorized")


def test_one_point_s_numbers_come_from_its_results():
    raw = json.loads((report.RESULTS / "kodak-charm" / "results.json").read_text())["results"]
    assert [report.point("kodak-charm", str(i), "bpp") for i in range(4)] == [f"{v:.4f}" for v in raw["bpp"]]
    assert report.point("kodak-charm", "3", "psnr") == f"{raw['psnr-rgb'][3]:.2f}"
    assert report.point("kodak-charm", "0", "ms-ssim") == f"{raw['ms-ssim-rgb'][0]:.4f}"


def test_a_lossless_coding_time_comes_from_its_results():
    raw = json.loads((report.RESULTS / "lossless-pixelcnn" / "results.json").read_text())["results"]
    (row,) = [r for r in raw if r["label"] == "coder=range"]
    assert report.lvalue("lossless-pixelcnn", "coder=range", "decoding_time") == f"{row['decoding_time']:.0f} s"
    assert report.lvalue("lossless-pixelcnn", "coder=range", "bits_per_dim") == f"{row['bits_per_dim']:.4f}"


def test_the_coders_table_comes_from_its_json():
    doc = json.loads((report.RESULTS / "coders.json").read_text())
    lines = report.coders("coders.json").splitlines()[2:]
    assert len(lines) == len(doc["throughput"])
    for line, row in zip(lines, doc["throughput"], strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[:3] == [row["case"], row["coder"], row["direction"]]
        assert float(cells[3]) == pytest.approx(row["symbols"] / row["nc_seconds"] / 1e6, abs=0.006)
        assert cells[5] == f"{row['nc_over_raw_throughput']:.3f}"
