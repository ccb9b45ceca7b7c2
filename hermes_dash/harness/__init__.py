"""The test harness: what proves the generated rules and dashboards against real servers.

``simulate`` drives hermes-dash's own instrumentation as a fleet of synthetic agents (live /metrics, or
hours of history as OpenMetrics); ``history`` turns that history into a Prometheus TSDB with the
recording rules backfilled; ``servers`` starts the real Prometheus and Alertmanager on 127.0.0.1 with
free ports; ``demo`` ties them together for `make demo`; ``scenarios`` generates promtool rule tests with
hypothesis against an independent oracle, and mutants the suite must catch. Needs the `test` extra
(hypothesis) and Debian's prometheus and prometheus-alertmanager; imports the runtime and build layers,
never the CLI. Nothing here is installed into or run by a Hermes agent.
"""
