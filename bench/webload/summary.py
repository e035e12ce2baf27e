"""A run's verdicts on its targets, and its section of docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

from report import DOCS, docs_section_replace  # bench/ is on sys.path when a script runs

from .config import TARGET_MASK_SAVE_P95_MS, TARGET_REVIEW_NEXT_P95_MS

DOCS_HEADING = "## Web load"
DOCS_NOTES_MARKER = "<!-- web-load notes -->"


def targets(result: dict) -> dict:
    """mask_save and review_next p95 against their targets, and no errors in any scenario."""
    out = {}
    annotate = result["scenarios"].get("annotate", {}).get("endpoints", {})
    browse = result["scenarios"].get("browse", {}).get("endpoints", {})
    if "mask_save" in annotate:
        value = annotate["mask_save"]["p95_ms"]
        out["mask_save_p95_ms"] = {
            "target": TARGET_MASK_SAVE_P95_MS,
            "value": value,
            "met": value < TARGET_MASK_SAVE_P95_MS,
        }
    if "review_next_api" in browse:
        value = browse["review_next_api"]["p95_ms"]
        out["review_next_p95_ms"] = {
            "target": TARGET_REVIEW_NEXT_P95_MS,
            "value": value,
            "met": value < TARGET_REVIEW_NEXT_P95_MS,
        }
    errors = sum(s.get("errors", 0) for s in [*result["scenarios"].values(), *result.get("baseline", {}).values()])
    out["errors"] = {"target": 0, "value": errors, "met": errors == 0}
    return out


def write_docs(result: dict, path: Path = DOCS) -> None:
    """The run as the "## Web load" section of docs/benchmarks.md; the notes under
    DOCS_NOTES_MARKER (written by hand) are kept."""
    cfg = result["config"]
    lines = [
        DOCS_HEADING,
        "",
        f"gunicorn ({cfg['workers']} gthread workers x {cfg['threads']} threads) + PostgreSQL 15 + Redis + one Celery "
        f"worker, DEBUG=false, on {result['machine']['cpus']} shared CPUs ({result['machine']['cpu']}), "
        f"{result['date'][:10]}. {cfg['users']} logged-in users, closed loop, think time {cfg['think']} s "
        f"(uniform 0.5x-1.5x) between actions, {cfg['duration']} s per scenario; the load generator "
        f"(Python threads, requests) runs on the same machine. One project of {result['data']['images']:,} "
        f"images ({result['data']['review_items']:,} pending review items). Command:",
        "",
        f"    {result['command']}",
        "",
    ]
    for name, scenario in result["scenarios"].items():
        lines += [
            f"**{name}** ({scenario['requests']} requests, {scenario['requests_per_s']} req/s, "
            f"{scenario['errors']} errors; counters {scenario['counters'] or 'none'}; "
            f"load before `{scenario['load_before'].split('load average:')[-1].strip()}`, "
            f"after `{scenario['load_after'].split('load average:')[-1].strip()}`)",
            "",
            "| Endpoint | Requests | Errors | p50 ms | p95 ms | max ms |",
            "|---|---|---|---|---|---|",
        ]
        for endpoint, s in scenario["endpoints"].items():
            lines.append(
                f"| {endpoint} | {s['count']} | {s['errors']} | {s['p50_ms']} | {s['p95_ms']} | {s['max_ms']} |"
            )
        lines.append("")
    if result.get("baseline"):
        lines += [
            "Baseline: the same actions with 1 user and no think time (service time without queueing, "
            "same shared machine):",
            "",
            "| Endpoint | Requests | p50 ms | p95 ms | max ms |",
            "|---|---|---|---|---|",
        ]
        for scenario in result["baseline"].values():
            for endpoint, s in scenario["endpoints"].items():
                lines.append(f"| {endpoint} | {s['count']} | {s['p50_ms']} | {s['p95_ms']} | {s['max_ms']} |")
        lines.append("")
    if result.get("query_profile"):
        lines += [
            "SQL queries per request (`--query-profile`, one in-process request each): "
            + ", ".join(f"{k} {v['queries']}" for k, v in result["query_profile"].items())
            + ".",
            "",
        ]
    lines += ["| Target | Goal | Measured | Met |", "|---|---|---|---|"]
    for name, t in result["targets"].items():
        goal = "0" if name == "errors" else f"< {t['target']:.0f} ms"
        lines.append(f"| {name} | {goal} | {t['value']} | {'yes' if t['met'] else 'no'} |")
    lines.append("")
    docs_section_replace("\n".join(lines), heading=DOCS_HEADING, path=path, keep_marker=DOCS_NOTES_MARKER)
