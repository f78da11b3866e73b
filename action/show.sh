#!/usr/bin/env bash
# Prints files of untrusted text (reconcile's reports: spec file names, spec values, provider
# answers) to the step's log with workflow commands off. GitHub's runner reads any log line that
# starts with `::` (after blanks) as a command (`::add-mask::`, `::stop-commands::`,
# `::set-output`, forged `::error` annotations), whatever wrote it; between
# `::stop-commands::TOKEN` and `::TOKEN::` it reads none. The token is drawn after the files
# were written, so nothing in them can end the quiet early. Everything goes to stdout: the
# runner reads stdout and stderr as they come, so a file sent to stderr could be read after the
# commands are back on.
#
#   bash show.sh FILE...
set -euo pipefail
token=$(python -c 'import secrets; print(secrets.token_hex(16))')
echo "::stop-commands::$token"
for file in "$@"; do
  if [ -f "$file" ]; then cat -- "$file"; fi
done
echo "::$token::"
