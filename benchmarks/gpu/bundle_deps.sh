#!/usr/bin/env bash
# benchmarks/gpu/bundle_deps.sh — fetches, on a machine where apt works, the Debian packages the GPU
# check (run.sh) builds against, into <repo>/.gpu-deps (git-ignored), for a GPU machine that can
# reach no package registry: run.sh unpacks them there (dpkg -x, no root, nothing installed) and
# points CMake at them. ~3 MB. Only what run.sh's targets need (test_cuda, test_thrust_cuda,
# llmc_cuda_smoke, bench_gpu, the llmc CLI and llmc_make_random_checkpoint): doctest, nlohmann-json,
# CLI11, yaml-cpp, PCRE2, utf8proc (headers, CMake/pkg-config files and the shared libraries).
# The host-only suites (test_cuda_host, the Thrust CPP/OMP tests) run in CI, not there.
#
#   benchmarks/gpu/bundle_deps.sh [DEST]      (default <repo>/.gpu-deps)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEST=${1:-"$ROOT/.gpu-deps"}
packages=(
  doctest-dev nlohmann-json3-dev libcli11-dev
  libyaml-cpp-dev libyaml-cpp0.7
  libpcre2-dev libpcre2-8-0
  libutf8proc-dev libutf8proc2
)
command -v apt-get >/dev/null || { echo "bundle_deps.sh: apt-get is needed (a Debian or Ubuntu machine)" >&2; exit 1; }
mkdir -p "$DEST"
rm -f "$DEST"/*.deb
(cd "$DEST" && apt-get download "${packages[@]}") || {
  echo "bundle_deps.sh: apt-get download failed; run 'apt-get update' first (as root)" >&2
  exit 1
}
ls -l "$DEST"
echo "bundle_deps.sh: $(ls "$DEST"/*.deb | wc -l) packages in $DEST ($(du -sh "$DEST" | cut -f1)); carry this folder to the GPU machine"
