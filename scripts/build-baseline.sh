#!/usr/bin/env bash
# Builds the handler of an earlier commit (`make dist`'s profile) for the load benchmark's
# baseline comparison: make bench BASELINE=<commit>. The build is kept under DIR and reused
# while the commit stays the same.
set -euo pipefail
commit=${1:?usage: build-baseline.sh COMMIT DIR}
dir=${2:?usage: build-baseline.sh COMMIT DIR}
full=$(git rev-parse --verify --quiet "$commit^{commit}") || {
  echo "baseline $commit is not in this clone's history (a shallow clone?): skipped" >&2
  exit 1
}
if [[ -x "$dir/dist/handler" && "$(cat "$dir/commit" 2>/dev/null)" == "$full" ]]; then
  exit 0
fi
rm -rf "$dir/src"
mkdir -p "$dir/src"
git archive "$full" | tar -x -C "$dir/src"
# DIR is usually inside this repository's target folder, and cargo would take the extracted
# package for a stray member of the repository's workspace: it is a workspace of its own.
if ! grep -q '^\[workspace\]' "$dir/src/Cargo.toml"; then
  printf '\n[workspace]\n' >>"$dir/src/Cargo.toml"
fi
echo "building the baseline handler at ${full:0:12} (once; kept in $dir)" >&2
CARGO_TARGET_DIR="$dir" cargo build --profile dist --locked --bin handler \
  --manifest-path "$dir/src/Cargo.toml"
echo "$full" >"$dir/commit"
