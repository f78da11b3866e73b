"""``reconcile import`` shown: a line per spec file written and per job skipped, then a
summary and what to run next.

Job ids and statuses are provider text and paths come from the command line: each passes
through ``reconciler.sanitize.one_line``. Nothing here does I/O.
"""

from __future__ import annotations

from reconciler.core.diagnostics import display_path
from reconciler.importer.command import ImportReport
from reconciler.sanitize import one_line


def render_report(report: ImportReport) -> str:
    """What ``reconcile import`` prints: a line per file written, per job skipped, a summary."""
    lines: list[str] = []
    for spec_file in report.written:
        review = [note.split(":", 1)[0] for note in spec_file.spec.notes if "placeholder" in note]
        extra = f"; review the placeholder {', '.join(review)}" if review else ""
        lines.append(
            f"wrote {one_line(display_path(spec_file.path))} ({report.provider} job"
            f" {one_line(spec_file.spec.remote_id)},"
            f" {one_line(spec_file.spec.raw_status) or 'status unknown'}{extra})"
        )
    lines.extend(f"skipped {one_line(str(job))}" for job in report.skipped)
    count = len(report.written)
    summary = (
        f"Imported {count} {report.provider} job{'s' if count != 1 else ''} into"
        f" {one_line(display_path(report.out_dir))}; skipped {len(report.skipped)}"
    )
    if report.managed:
        summary += f"; {report.managed} already managed by the repository's specs"
    if report.match is not None:
        summary += f"; {report.unmatched} did not match --match {report.match!r}"
    lines.append(summary + ".")
    if count:
        lines.append(
            f"Next: `reconcile plan {one_line(display_path(report.out_dir))}` should show no"
            " changes for"
            " them."
        )
    return "\n".join(lines) + "\n"
