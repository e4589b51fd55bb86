#!/usr/bin/env bash
# Render a coresim HTML report with headless Chromium into a PNG and print the time it took to open it.
#   scripts/screenshot_report.sh REPORT.html OUT.png [WIDTHxHEIGHT]   (default 1280x2600)
# The time is the wall time of the whole headless run: browser start, load of the page from the file, Bokeh's
# rendering and the screenshot (an upper bound on the time to open the report). Needs the Debian package
# `chromium` (or chromium-browser / google-chrome on the PATH, or $CHROMIUM); exits 3 when there is none.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]" >&2
    exit 2
fi
report=$1 out=$2 size=${3:-1280x2600}
if [ ! -f "$report" ]; then
    echo "$0: $report: no such file" >&2
    exit 2
fi
browser=${CHROMIUM:-}
for name in chromium chromium-browser google-chrome; do
    [ -n "$browser" ] && break
    browser=$(command -v "$name" || true)
done
if [ -z "$browser" ]; then
    echo "$0: headless Chromium not found (apt-get install chromium, or set CHROMIUM)" >&2
    exit 3
fi
url="file://$(cd "$(dirname "$report")" && pwd)/$(basename "$report")"
tmp="$out.tmp.png"
profile=$(mktemp -d)
trap 'rm -rf "$profile" "$tmp"' EXIT
start=$(date +%s.%N)
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
    --window-size="${size/x/,}" --screenshot="$tmp" "$url" >/dev/null 2>&1
end=$(date +%s.%N)
mv "$tmp" "$out"
printf '%s: opened and rendered in %.2f s (headless %s), screenshot %s (%s bytes)\n' "$report" \
    "$(echo "$end - $start" | bc)" "$("$browser" --version 2>/dev/null | head -1)" "$out" "$(stat -c %s "$out")"
