"""`spot report`: numbers tied to hand-made files, edits marked exactly, a real browser.

Every run directory here is written by hand (no model runs), so the expected numbers are
derived in the test from the files' own values.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from spot import cli
from spot.eval.compare import build_table
from spot.report import plots
from spot.report.collect import collect
from spot.report.config import ReportConfig
from spot.report.diff import edit_spans
from spot.report.pairs import pair_html, sample
from spot.report.results import frontier, trained_evals
from spot.report.stage import report

BASE_MODEL = "org/base-model"
EVIL = "<script>window.pwned = 1; document.title = 'pwned'</script><img src=x onerror=\"window.pwned2 = 1\">"  # noqa: E501


def run_cli(args: list, capsys) -> tuple[int, str]:
    """``spot ARGS`` in-process through the real entry point: (exit code, stderr)."""
    argv, sys.argv = sys.argv, ["spot", *map(str, args)]
    code = 0
    try:
        cli.main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = argv
    return code, capsys.readouterr().err


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


GROUPS = {
    "toy-arith": "in-domain",
    "math500": "in-domain",
    "gsm8k": "in-domain",
    "toy-ood": "ood",
    "toy-prior": "general",
    "ifeval": "general",
}


def scores(model: str, **values: float) -> dict:
    suites = {
        name: {"group": GROUPS[name], "score": v, "stderr": 0.01} for name, v in values.items()
    }
    return {"model": model, "suites": suites}


def train_run(
    root: Path, name: str, objective: str, lr: float, *, steps: int = 6, extra: dict | None = None
) -> Path:
    """A training run directory: run.json and a metrics.jsonl with evaluations at 0 and 3."""
    path = root / "train" / name
    rows = [{"step": 0, "eval/toy-prior": 0.9, "eval/toy-arith": 0.5}]
    for s in range(1, steps + 1):
        row = {
            "step": s,
            "loss": 1.0 / s,
            "rewards/chosen": 0.1 * s,
            "rewards/rejected": -0.2 * s,
            "delta": -0.01 * s,
            "tether/chosen": 0.5 / s,
            "lr": lr,
            **(extra or {}),
        }
        if s % 3 == 0:
            row |= {"eval/toy-prior": 0.9 - 0.01 * s, "eval/toy-arith": 0.5 + 0.02 * s}
        rows.append(row)
    write_jsonl(path / "metrics.jsonl", rows)
    settings = {"model": BASE_MODEL, "objective": objective, "lr": lr, "beta": 1.0}
    write_json(path / "run.json", {"stage": "train", "settings": settings, "may_change": {}})
    return path


def sweep(root: Path) -> Path:
    """Three trained runs, their evaluations (tied three different ways), the base, a decoy."""
    train_run(root, "bco-lr1e-6", "bco", 1e-6)
    train_run(root, "bco-lr1e-5", "bco", 1e-5)
    train_run(root, "sft-lr1e-5", "sft", 1e-5)
    train_run(root, "dpo-lr1e-5", "dpo", 1e-5)  # never evaluated: a note, not a point
    write_json(
        root / "eval/base/scores.json",
        scores(
            BASE_MODEL,
            **{
                "toy-arith": 0.50,
                "math500": 0.40,
                "gsm8k": 0.90,
                "toy-ood": 0.1,
                "toy-prior": 0.90,
                "ifeval": 0.80,
            },
        ),
    )
    write_json(
        root / "eval/other/scores.json",
        scores("org/other-model", **{"toy-arith": 0.0, "toy-prior": 0.0}),
    )
    # tied by an absolute path into the run (its final model)
    final = str((root / "train/bco-lr1e-6/final").resolve())
    write_json(
        root / "eval/a/scores.json",
        scores(
            final,
            **{
                "toy-arith": 0.60,
                "math500": 0.44,
                "gsm8k": 0.10,
                "toy-prior": 0.88,
                "ifeval": 0.80,
            },
        ),
    )
    # tied by paths relative to the run directory's parent; final beats the checkpoint
    rel = f"{root.name}/train/bco-lr1e-5"
    write_json(
        root / "eval/b/scores.json",
        scores(
            f"{rel}/final",
            **{"toy-arith": 0.70, "math500": 0.50, "toy-prior": 0.80, "ifeval": 0.70},
        ),
    )
    write_json(
        root / "eval/b-step2/scores.json",
        scores(
            f"{rel}/checkpoints/step-2",
            **{"toy-arith": 0.99, "math500": 0.99, "toy-prior": 0.0, "ifeval": 0.0},
        ),
    )
    # tied by the folder's name only
    write_json(
        root / "eval/sft-lr1e-5/scores.json",
        scores("/elsewhere/model", **{"toy-arith": 0.55, "toy-prior": 0.50}),
    )
    return root


def test_frontier_points_equal_hand_derived_deltas(tmp_path):
    found = collect(sweep(tmp_path / "run"))
    tied = {run: e.name for run, e in trained_evals(found).items()}
    assert tied == {"bco-lr1e-6": "a", "bco-lr1e-5": "b", "sft-lr1e-5": "sft-lr1e-5"}
    points, notes = frontier(found)
    got = {p.run: (p.objective, p.lr, p.prior, p.in_domain, p.base) for p in points}
    # in-domain: mean over toy-arith and math500 (gsm8k, an extra, left out); prior: general
    want = {
        "bco-lr1e-6": (
            "bco",
            1e-6,
            ((0.88 - 0.90) + (0.80 - 0.80)) / 2,
            ((0.60 - 0.50) + (0.44 - 0.40)) / 2,
            "base",
        ),
        "bco-lr1e-5": (
            "bco",
            1e-5,
            ((0.80 - 0.90) + (0.70 - 0.80)) / 2,
            ((0.70 - 0.50) + (0.50 - 0.40)) / 2,
            "base",
        ),
        "sft-lr1e-5": ("sft", 1e-5, 0.50 - 0.90, 0.55 - 0.50, "base"),
    }
    assert got.keys() == want.keys()
    for run, (objective, lr, prior, in_domain, base) in want.items():
        assert got[run][:2] == (objective, lr) and got[run][4] == base
        assert got[run][2] == pytest.approx(prior) and got[run][3] == pytest.approx(in_domain)
    assert notes == ["dpo-lr1e-5: no evaluation of its model found"]


def test_edit_spans_mark_exactly_the_edited_words():
    rejected = "7 * 8 = 54, giving 54 + 3.\nTherefore \\boxed{57}."
    chosen = "7 * 8 = 56, giving 56 + 3.\nTherefore \\boxed{59}."
    a, b = edit_spans(rejected, chosen)
    assert "".join(t for t, _ in a) == rejected and "".join(t for t, _ in b) == chosen
    assert [t for t, edited in a if edited] == ["54", "54", "57"]
    assert [t for t, edited in b if edited] == ["56", "56", "59"]
    a, b = edit_spans("so 12 + 5 is it", "so 3 * 4 is it")  # one edit, not five
    assert [t for t, e in a if e] == ["12 + 5"] and [t for t, e in b if e] == ["3 * 4"]
    a, b = edit_spans("keep this", "keep this and more")
    assert [t for t, e in a if e] == [] and [t for t, e in b if e] == [" and more"]


def test_pair_html_escapes_model_text_and_marks_edits():
    row = {"id": "p<1>", "prompt": "Q & A", "chosen": f"{EVIL} 19", "rejected": f"{EVIL} 18"}
    page = pair_html(row, 0)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;window.pwned = 1;" in page and "p&lt;1&gt;" in page
    assert page.count("<del>18</del>") == 1 and page.count("<ins>19</ins>") == 1
    assert page.count("<del>") == 1 and page.count("<ins>") == 1


def test_pair_sample_spans_the_change_ratios():
    rows = [
        {"id": str(i), "chosen": "a", "rejected": "b", "change_ratio": i / 10}
        for i in (5, 0, 9, 3, 7, 1)
    ]
    # ordered 0 1 3 5 7 9: positions 0, 2.5 (rounds to 2) and 5
    assert [r["id"] for r in sample(rows, 3)] == ["0", "3", "9"]
    assert len(sample(rows, 10)) == 6 and sample(rows, 0) == []


def test_train_only_dir_gives_training_plots_and_no_table(tmp_path):
    run = train_run(tmp_path, "bco", "bco", 1e-6)
    out = report(ReportConfig(run_dir=run))
    page = out.read_text()
    assert out == run / "report.html"
    assert 'id="training"' in page and 'id="results"' not in page and 'id="frontier"' not in page
    pngs = sorted(p.name for p in run.glob("report-*.png"))
    assert pngs == ["report-eval-over-steps.png", "report-train-bco.png"]
    assert page.count("data:image/png;base64,") == 2
    titles = [t for t, _ in plots.panels(collect(run).train)]
    assert "implicit rewards (Figure 4)" in titles and "tether coefficients" in titles
    assert "distance from the base" not in titles and "prior log-probs" not in titles
    # metrics the lead adds later are drawn as soon as they are logged
    with_dist = train_run(tmp_path, "b2", "bco", 1e-6, extra={"dist/l2": 0.1, "prior/logp": -2.0})
    titles = [t for t, _ in plots.panels(collect(with_dist).train)]
    assert "distance from the base" in titles and "prior log-probs" in titles


def test_compare_only_dir_gives_the_table(tmp_path):
    base = scores("toy", **{"toy-arith": 0.5, "toy-prior": 0.9})
    trained = scores("runs/train/final", **{"toy-arith": 0.5333, "toy-prior": 0.85})
    write_json(tmp_path / "comparison.json", build_table([base, trained], ["base", "spot"]))
    page = report(ReportConfig(run_dir=tmp_path, pairs=0)).read_text()
    assert 'id="results"' in page and 'id="training"' not in page and 'id="frontier"' not in page
    assert '<td class="up" title="± 1.0">53.3 (↑3.3)</td>' in page
    assert '<td class="down" title="± 1.0">85.0 (↓5.0)</td>' in page
    assert "<td>base (base)</td>" not in page and "base (base)" in page


def test_evaluations_alone_give_a_table_with_the_base_first(tmp_path):
    sweep(tmp_path / "run")
    shutil.rmtree(tmp_path / "run" / "train")
    shutil.rmtree(tmp_path / "run" / "eval" / "other")
    page = report(ReportConfig(run_dir=tmp_path / "run", out=tmp_path / "r" / "x.html"))
    text = page.read_text()
    assert text.index("base (base)") < text.index(">a<") and 'id="frontier"' not in text
    assert (tmp_path / "r").is_dir() and not list((tmp_path / "r").glob("*.png"))


def test_damaged_files_are_named_and_the_rest_reported(tmp_path):
    run = train_run(tmp_path, "bco", "bco", 1e-6)
    with (run / "metrics.jsonl").open("a") as f:
        f.write("{torn\n")
    write_json(tmp_path / "eval/x/scores.json", {"model": "m"})  # no suites
    found = collect(tmp_path)
    assert len(found.train) == 1 and len(found.train[0].rows) == 7 and not found.evals
    assert any("1 damaged lines" in p for p in found.problems)
    assert any("eval/x/scores.json: left out" in p for p in found.problems)
    assert 'id="problems"' in report(ReportConfig(run_dir=tmp_path)).read_text()


def test_cli_errors_exit_2(tmp_path, capsys):
    code, err = run_cli(["report", tmp_path / "nope"], capsys)
    assert code == 2 and "RUN_DIR" in err and "no such directory" in err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hello")
    code, err = run_cli(["report", tmp_path / "empty"], capsys)
    assert code == 2 and "nothing to report" in err and "metrics.jsonl" in err
    run = train_run(tmp_path, "bco", "bco", 1e-6)
    code, err = run_cli(["report", run, "--out", tmp_path / "o/r.html", "--pairs", "5"], capsys)
    assert code == 0 and (tmp_path / "o/r.html").exists(), err
    code, err = run_cli(["report", run, "--pairs", "-1"], capsys)
    assert code == 2 and "--pairs" in err


def full_run(root: Path) -> Path:
    """Everything at once: a sweep, its filter (with a pair that tries to run script)."""
    sweep(root)
    kept = [
        {
            "id": "evil",
            "prompt": EVIL,
            "chosen": f"{EVIL} = 19",
            "rejected": f"{EVIL} = 18",
            "change_ratio": 0.01,
            "provenance": {},
        }
    ]
    kept += [
        {
            "id": f"k{i}",
            "prompt": "Compute: 2 + 2",
            "chosen": f"2 + 2 = 4 ({i})",
            "rejected": f"2 + 2 = 5 ({i})",
            "change_ratio": 0.1 + i / 100,
            "provenance": {},
        }
        for i in range(5)
    ]
    dropped = [
        {
            "id": "d",
            "prompt": "p",
            "chosen": "new",
            "rejected": "old",
            "change_ratio": 0.9,
            "provenance": {},
            "dropped": "over gamma",
        }
    ]
    write_jsonl(root / "filter/pairs.jsonl", kept)
    write_jsonl(root / "filter/pairs.dropped.jsonl", dropped)
    write_json(
        root / "filter/pairs.filter_stats.json",
        {"gamma": 0.6, "unit": "tokens", "kept": 6, "input": 7},
    )
    return root


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> Path:
    """The report of :func:`full_run`, made once for the tests that read it."""
    return report(ReportConfig(run_dir=full_run(tmp_path_factory.mktemp("full") / "run")))


def test_full_report_has_every_section(full_report):
    out = full_report
    page = out.read_text()
    for section in ("results", "frontier", "training", "filter", "pairs", "settings"):
        assert f'id="{section}"' in page, section
    pngs = sorted(p.name for p in out.parent.glob("*.png"))
    assert "report-frontier.png" in pngs and "report-change-ratio-pairs.png" in pngs
    assert page.count("data:image/png;base64,") == len(pngs)
    assert "<script" not in page


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run installs it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
    return path


def test_report_in_headless_chromium(full_report, tmp_path):
    """The page as a reader opens it from disk: no errors, every plot drawn, no script run."""
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    out = full_report
    flags = [
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=executable, headless=True, args=flags
        )
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(out.as_uri(), wait_until="load")
            widths = page.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
            state = page.evaluate(
                "({pwned: typeof window.pwned, pwned2: typeof window.pwned2, title: document.title,"
                " scripts: document.scripts.length})"
            )
            shown = page.locator(".text.rejected").first.inner_text()
        finally:
            browser.close()
    assert errors == []
    assert len(widths) == len(list(out.parent.glob("report-*.png"))) and all(w > 0 for w in widths)
    assert state == {
        "pwned": "undefined",
        "pwned2": "undefined",
        "title": "spot report: run",
        "scripts": 0,
    }
    assert shown.startswith("<script>window.pwned = 1;") and "<img src=x onerror=" in shown


def test_frontier_joins_a_method_over_rates_and_averages_seeds():
    from spot.report.collect import TrainRun
    from spot.report.results import Point

    def run(data, optimizer="adamw"):
        return TrainRun(
            Path("x"), "x", [], {"objective": "sft", "data": data, "optimizer": optimizer}
        )

    assert run("OUT/filter/surgical.jsonl").method == "sft (surgical)"
    assert run("OUT/elicit/correct.jsonl", "sgd").method == "sft (correct, sgd)"
    assert TrainRun(Path("x"), "bco-run", [], {"objective": "bco"}).method == "bco"
    pts = [
        Point("a", "sft", "sft (surgical)", lr, prior, gain, "e", "base")
        for lr, prior, gain in [(1e-3, -0.04, 0.05), (3e-4, 0.0, 0.03), (1e-3, -0.02, 0.06)]
    ]
    grouped = plots.by_method_and_lr(pts)
    assert [(lr, len(ps)) for lr, ps in grouped["sft (surgical)"]] == [(3e-4, 1), (1e-3, 2)]
    assert plots.frontier_figure(pts)[:8] == b"\x89PNG\r\n\x1a\n"
    assert plots.close_up(grouped) is None  # all near the base: one panel
    wrecked = [*pts, Point("d", "sft", "sft (direct)", 1e-3, -0.945, -0.485, "e", "base")]
    near = plots.close_up(plots.by_method_and_lr(wrecked))  # a close-up without the -94.5
    # each point of it is a (method, rate)'s seed mean: 1e-3's two seeds average to (-3, 5.5)
    assert near == [pytest.approx((0.0, 3.0)), pytest.approx((-3.0, 5.5))]
    assert plots.frontier_figure(wrecked)[:8] == b"\x89PNG\r\n\x1a\n"
