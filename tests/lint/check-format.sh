#!/usr/bin/env bash
# tests/lint/check-format.sh — fails if any C source or header under common/,
# gateway/, sync/, cli/, bench/, tests/unit/ or tests/fuzz/ differs from what
# clang-format makes of it with the repository's .clang-format. Prints the
# offending lines.
#
# Fix the tree with:
#   find common gateway sync cli bench tests/unit tests/fuzz -name '*.[ch]' -exec clang-format -i {} +
#
# CLANG_FORMAT picks the binary (default: clang-format).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$root"
clang_format=${CLANG_FORMAT:-clang-format}
command -v "$clang_format" >/dev/null || {
    echo "check-format: $clang_format not found (apt-get install clang-format)" >&2
    exit 1
}

dirs=()
for d in common gateway sync cli bench tests/unit tests/fuzz; do
    [ -d "$d" ] && dirs+=("$d")
done
files=()
if [ "${#dirs[@]}" -gt 0 ]; then
    mapfile -t files < <(find "${dirs[@]}" -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
fi
if [ "${#files[@]}" -eq 0 ]; then
    echo "check-format: no C files to check"
    exit 0
fi

report=$(mktemp)
trap 'rm -f "$report"' EXIT
if "$clang_format" --dry-run -Werror "${files[@]}" 2>"$report"; then
    echo "check-format: ${#files[@]} files formatted as .clang-format says ($("$clang_format" --version))"
    exit 0
fi
mapfile -t bad < <(grep -oE '^[^:]+\.[ch]:' "$report" | tr -d : | LC_ALL=C sort -u)
echo "check-format: ${#bad[@]} of ${#files[@]} files differ from .clang-format:" >&2
printf '    %s\n' "${bad[@]}" >&2
echo "first violations:" >&2
head -n 60 "$report" >&2
echo "fix with: clang-format -i ${bad[*]}" >&2
exit 1
