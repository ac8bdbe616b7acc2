#!/usr/bin/env bash
# Regenerates the status page's screenshots (login, system, users, user: 1200x800 PNGs) in this
# folder, by running the browser test with TANDEM_SCREENSHOTS pointing here. Needs chromium and
# chromedriver (Debian: apt-get install chromium chromium-driver).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
CI=1 TANDEM_SCREENSHOTS="$here" cargo test -p tandem-service --test status_page -- --nocapture
ls -l "$here"/*.png
