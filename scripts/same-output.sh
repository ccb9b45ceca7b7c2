#!/usr/bin/env bash
# Prove a refactor changed no generated output: build every generated file (dashboards, rules, deploy
# files) at two git revisions, with the default config and with each config below, and compare the trees
# byte for byte. Exit 0 when identical, 1 with a diff when not.
# Usage: scripts/same-output.sh OLD_REV [NEW_REV]   (NEW_REV defaults to the working tree)
set -euo pipefail
old=${1:?usage: scripts/same-output.sh OLD_REV [NEW_REV]}
new=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)
py=${PY:-$top/.venv/bin/python}
work=$(mktemp -d)
trap 'git -C "$top" worktree remove --force "$work/old" >/dev/null 2>&1 || true;
      [ -n "$new" ] && git -C "$top" worktree remove --force "$work/new" >/dev/null 2>&1; rm -rf "$work"' EXIT

mkdir -p "$work/configs"
: > "$work/configs/default.yml"
cat > "$work/configs/custom.yml" <<'YML'
instrumentation: {max_label_values: 10, known_tools: [terminal], known_models: [m1]}
thresholds: {latency_p95_seconds: 20, latency_p99_seconds: 60, tool_error_rate: 0.1, llm_error_rate: 0.2,
             cost_per_hour_usd: 12.5, daily_cost_budget_usd: 300, daily_token_budget: 1000000,
             session_capacity_per_instance: 8, capacity_warning_ratio: 0.75, task_completion_target: 0.8,
             tool_error_min_calls: 3, llm_error_min_requests: 4, task_completion_min_sessions: 5,
             token_spike_factor: 3, token_spike_min_tokens_per_second: 50}
slo: {turn_success_target: 0.995, turn_latency_target: 0.95, turn_latency_seconds: 30,
      page: [{factor: 10, long: 2h, short: 10m}], ticket: [{factor: 2, long: 2d, short: 4h}]}
alerting: {runbook_url_base: "https://runbooks.example/hermes", for_durations: {high_latency: 7m, slo_page: 1m}}
routing: {secrets_dir: /run/secrets, slack_platform_channel: "#ops", group_wait: 10s, repeat_interval: 2h}
prometheus: {scrape_interval: 30s, evaluation_interval: 30s, targets: ["a:9464", "b:9464"], alertmanagers: ["am:9093"]}
selectors: {job: hermes-prod}
grafana: {datasource: Mimir, time_from: now-24h}
YML

build() {  # build REV_DIR OUT
  for c in "$work"/configs/*.yml; do
    name=$(basename "$c" .yml)
    mkdir -p "$2/$name"
    (cd "$1" && "$py" -m hermes_dash.cli build --config "$c" --root "$2/$name" >/dev/null)
  done
}
git -C "$top" worktree add --detach "$work/old" "$old" >/dev/null 2>&1
build "$work/old" "$work/out-old"
if [ -n "$new" ]; then
  git -C "$top" worktree add --detach "$work/new" "$new" >/dev/null 2>&1
  build "$work/new" "$work/out-new"
else
  build "$top" "$work/out-new"
fi
if diff -r "$work/out-old" "$work/out-new"; then
  n=$(find "$work/out-new" -type f | wc -l)
  echo "same-output: $n generated files identical at $old and ${new:-the working tree} ($(ls "$work/configs" | wc -l) configs)"
else
  echo "same-output: generated files differ between $old and ${new:-the working tree}" >&2
  exit 1
fi
