"""Every view of what a command produced: plans, apply reports, statuses, import reports,
validation results and the upload progress bar, for people (text, markdown) and machines (JSON,
and GitHub Actions annotations for validation).

Views are pure: a value in, text out; no network, no provider, nothing that applies (a
contract in ``.importlinter``). Untrusted text (provider answers, names from the repository)
reaches a terminal only through ``reconciler.sanitize.one_line`` and markdown only through
``reconciler.views.markdown``. The command line imports each view where it shows it; this
package imports none of them itself.
"""
