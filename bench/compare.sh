#!/usr/bin/env bash
# One command for the side-by-side benchmark: installs the peers and tools (Debian packages),
# builds Rauta and the load tools, then runs every scenario (bench/compare.py --help for options).
# Usage: bench/compare.sh [--rounds 3] [--duration 8] [--scenarios h1-small,latency,…]
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in nginx:nginx-light haproxy:haproxy caddy:caddy wrk:wrk h2load:nghttp2-client openssl:openssl \
            taskset:util-linux python3:python3; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  echo "installing: ${need[*]}" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  # policy-rc.d-less machines would start the packaged services on ports 80/443; stop them after.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  for svc in nginx haproxy caddy; do $sudo systemctl stop "$svc" 2>/dev/null || true; done
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --profile dist -q -p rauta
cargo build --release -q --manifest-path bench/tools/Cargo.toml
exec python3 bench/compare.py "$@"
