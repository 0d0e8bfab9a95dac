"""Benchmarks (not part of the test suite: pyproject's testpaths leave bench/ out).

Run: .venv/bin/pytest bench/ --benchmark-only -p no:cacheprovider

Each benchmark puts its timings into the ``bench_results`` dict; the terminal summary prints them
side by side, with the ratio of each measurement to its baselines from the same run and the
budget where one is set.
"""

from __future__ import annotations

import pytest

RESULTS: dict[str, dict] = {}
# Request cost (test_request_cost.py): name -> label, medians, queries; "bare" is the baseline.
REQUEST_RESULTS: dict[str, dict] = {}

# name -> label, in the order printed
LABELS = {
    "invoice_html_10_lines": "HTML only (template to string), 10 lines",
    "invoice_pdf_1_line": "PDF, 1-line invoice",
    "invoice_pdf_10_lines": "PDF, 10-line invoice",
    "credit_note_pdf": "PDF, credit note",
    "invoice_pdf_download_rendering": "GET …/pdf rendering, nothing stored",
    "invoice_detail_json": "GET the invoice's JSON detail, 10 lines",
    "invoice_pdf_stored": "GET …/pdf of a stored file, 10 lines",
}
# name -> the measurements its CPU median is divided by
BASELINES = {
    "invoice_pdf_1_line": ("invoice_html_10_lines",),
    "invoice_pdf_10_lines": ("invoice_html_10_lines", "invoice_pdf_1_line"),
    "credit_note_pdf": ("invoice_pdf_10_lines",),
    "invoice_pdf_download_rendering": ("invoice_pdf_10_lines",),
    "invoice_pdf_stored": (
        "invoice_detail_json",
        "invoice_pdf_10_lines",
        "invoice_pdf_download_rendering",
    ),
}


# Every target checked in the run: (benchmark, what, measured, target, met), printed together
# at the end (``make bench`` fails when one is missed: each benchmark asserts its own).
TARGETS: list[tuple[str, str, str, str, bool]] = []


@pytest.fixture
def bench_target(request):
    """``bench_target(what, measured, target, met)`` records one checked target."""
    name = request.node.module.__name__.rsplit(".", 1)[-1]

    def record(what: str, measured: str, target: str, met: bool) -> None:
        TARGETS.append((name, what, measured, target, met))

    return record


@pytest.fixture
def bench_results() -> dict[str, dict]:
    """name -> {median, min (wall ms), cpu (CPU median ms), rounds, budget (ms or None)}."""
    return RESULTS


@pytest.fixture
def request_cost_results() -> dict[str, dict]:
    return REQUEST_RESULTS


def pytest_terminal_summary(terminalreporter):
    if REQUEST_RESULTS:
        _request_cost_summary(terminalreporter)
    if RESULTS:
        _pdf_summary(terminalreporter)
    if TARGETS:
        _targets_summary(terminalreporter)


def _targets_summary(terminalreporter):
    write = terminalreporter.write_line
    terminalreporter.section("Targets, same run")
    write(f"{'benchmark':<22}{'what':<44}{'measured':<34}{'target':<20}verdict")
    for name, what, measured, target, met in TARGETS:
        write(f"{name:<22}{what:<44}{measured:<34}{target:<20}{'met' if met else 'MISSED'}")
    missed = sum(1 for *_, met in TARGETS if not met)
    write(f"{len(TARGETS) - missed} of {len(TARGETS)} targets met")


def _pdf_summary(terminalreporter):
    write = terminalreporter.write_line
    terminalreporter.section("PDF rendering, same run (ms)")
    write(
        f"{'measurement':<42}{'wall med':>9}{'wall min':>9}{'CPU med':>9}{'rounds':>7}"
        "   ratio of CPU medians; budget (CPU median)"
    )
    for name, label in LABELS.items():
        result = RESULTS.get(name)
        if result is None:
            continue
        notes = [
            f"{result['cpu'] / RESULTS[base]['cpu']:.1f}x {LABELS[base]}"
            for base in BASELINES.get(name, ())
            if base in RESULTS
        ]
        budget = result.get("budget")
        measure = result.get("budget_on", "cpu")
        if budget is not None:
            within = result[measure] <= budget if measure == "cpu_p95" else result[measure] < budget
            verdict = "within" if within else "OVER"
            label_of = {"cpu": "CPU median", "cpu_p95": "CPU p95"}[measure]
            notes.append(
                f"budget {budget:.0f} ms ({label_of}): {verdict} ({result[measure] / budget:.0%})"
            )
        write(
            f"{label:<42}{result['median']:>9.1f}{result['min']:>9.1f}{result['cpu']:>9.1f}"
            f"{result['rounds']:>7}   " + "; ".join(notes)
        )
    write("")
    header = f"{'wall p50':>9}{'wall p95':>9}{'CPU p50':>9}{'CPU p95':>9}"
    write(f"{'percentiles over every call (ms)':<42}{header}")
    for name, label in LABELS.items():
        result = RESULTS.get(name)
        if result is None or "wall_p50" not in result:
            continue
        write(
            f"{label:<42}{result['wall_p50']:>9.1f}{result['wall_p95']:>9.1f}"
            f"{result['cpu_p50']:>9.1f}{result['cpu_p95']:>9.1f}"
        )


def _request_cost_summary(terminalreporter):
    write = terminalreporter.write_line
    terminalreporter.section("Request cost, same run (ms per request)")
    write(
        f"{'route':<28}{'wall med':>9}{'wall min':>9}{'CPU med':>9}{'queries':>8}{'calls':>7}"
        f"{'rounds':>7}   wall / bare   CPU / bare   calls / bare"
    )
    bare = REQUEST_RESULTS.get("bare")
    for result in REQUEST_RESULTS.values():
        ratios = ""
        if bare is not None:
            ratios = (
                f"{result['median'] / bare['median']:>11.1f}x"
                f"{result['cpu'] / bare['cpu']:>12.1f}x"
                f"{result['calls'] / bare['calls']:>14.1f}x"
            )
        write(
            f"{result['label']:<28}{result['median']:>9.2f}{result['min']:>9.2f}"
            f"{result['cpu']:>9.2f}{result['queries']:>8}{result['calls']:>7.0f}"
            f"{result['rounds']:>7}   {ratios}"
        )
