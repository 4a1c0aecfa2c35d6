"""Per-rule wall time and memory from Snakemake benchmark files (csceval.run_summary)."""

import pytest

from csceval.run_summary import main, summarise_benchmarks

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _write(path, wall, rss, cpu):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")


def test_rules_are_summed_over_jobs_and_peak_memory_is_the_maximum(tmp_path, capsys):
    _write(tmp_path / "estimate" / "ffc" / "cla" / "twfe.tsv", 1.5, 200.0, 1.0)
    _write(tmp_path / "estimate" / "fnp" / "cla" / "twfe.tsv", 2.5, 300.0, 2.0)
    _write(tmp_path / "simulate.tsv", 9.0, "NA", 8.0)
    summary = summarise_benchmarks(tmp_path).set_index("rule")
    assert summary.loc["estimate", "jobs"] == 2
    assert summary.loc["estimate", "wall_s_total"] == pytest.approx(4.0)
    assert summary.loc["estimate", "wall_s_max"] == pytest.approx(2.5)
    assert summary.loc["estimate", "max_rss_mb"] == pytest.approx(300.0)
    assert summary.index[0] == "simulate", "rules are listed longest first"
    main([str(tmp_path)])
    assert "| estimate | 2 | 4.0 | 2.5 | 3.0 | 300 |" in capsys.readouterr().out


def test_no_benchmarks_or_a_foreign_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the workflow first"):
        summarise_benchmarks(tmp_path)
    (tmp_path / "x.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="not a Snakemake benchmark file"):
        summarise_benchmarks(tmp_path)
