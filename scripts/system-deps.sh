#!/usr/bin/env bash
# Install the real Prometheus tools the tests run: promtool + prometheus (2.42 on bookworm),
# amtool + alertmanager (0.25), and VictoriaMetrics + vmagent + vmalert (1.79: the scale-out tests), from
# Debian's packages. No daemon is left running. Needs root on Debian/Ubuntu.
set -euo pipefail
need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
command -v vmalert >/dev/null || need+=(victoria-metrics)
command -v systemd-analyze >/dev/null || need+=(systemd)   # verifies deploy/systemd/hermes-dash.service
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "system-deps: missing ${need[*]} and no apt-get: install promtool and amtool yourself" >&2; exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${need[*]}: run as root, or: sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
  exit 1
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's postinst may start the services where systemd runs; the tests start their own on free ports.
for s in prometheus prometheus-alertmanager victoria-metrics; do
  command -v systemctl >/dev/null && systemctl is-active --quiet "$s" 2>/dev/null && systemctl stop "$s" || true
done
# victoria-metrics' unit is enabled on install: keep it from starting at boot (the others are left as
# Debian installs them, as before)
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --quiet victoria-metrics 2>/dev/null || true
fi
