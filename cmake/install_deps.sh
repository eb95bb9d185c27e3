#!/usr/bin/env bash
# Installs the Debian packages llmc's build, tests, examples and benchmarks use, when missing.
# Run as root (or with sudo available). Safe to run again: it only installs what is absent.
set -euo pipefail
packages=(
  cmake g++ make                # build
  libeigen3-dev xtensor-dev     # tensor adapters (optional components)
  nlohmann-json3-dev            # io: safetensors headers, config.json, compressed-tensors config
  libyaml-cpp-dev libcli11-dev  # recipes and the llmc command line
  libopenblas-dev               # host BLAS for GEMM/SYRK fast paths and the SGEMM baselines
  doctest-dev libbenchmark-dev  # tests and benchmarks
  libpcre2-dev libutf8proc-dev  # tokenizer: split regexes with Unicode classes, NFC normalization
  clang-14 libclang-rt-14-dev   # libFuzzer target for the safetensors header parser
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "llmc: all build dependencies are installed"
  exit 0
fi
echo "llmc: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
