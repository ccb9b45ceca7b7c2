"""SLOs of agent turns: the recorded error ratios (group `hermes_slo_recording_rules`) and the
multi-window, multi-burn-rate alerts over them (group `hermes_slo`), as the Google SRE workbook and
Sloth define them.

Each SLI is recorded once per burn-rate window the config names (`slo.page` and `slo.ticket`). An alert
has a critical (page) form and a warning (ticket) form; each fires when the error ratio over both the
long and the short window of any of its conditions is above factor x the error budget (1 - target).
"""
from __future__ import annotations

from typing import Sequence, Tuple

from ... import catalogue as C
from ...config import BurnWindow, Config, duration_ms, duration_seconds
from ..promql import duration, matcher, ratio
from ..text import le_value, num, pct
from .model import Alert, Group, Recording, job_scope, keep, on

RECORDING_GROUP = "hermes_slo_recording_rules"
GROUP = "hermes_slo"
#: what the SLO dashboard reads: the components of each SLI per instance, as 5m rates ...
COMPONENTS_GROUP = "hermes_slo_dashboard_rules"
#: ... and as increases over each burn-rate window and the SLO period, every WINDOWS_INTERVAL
WINDOWS_GROUP = "hermes_slo_window_rules"
WINDOWS_INTERVAL = "5m"
WINDOWS_INTERVAL_SECONDS = 300


def slo_windows(cfg: Config) -> Tuple[str, ...]:
    """Every burn-rate window the SLO alerts read, shortest first."""
    ws = {w for bw in cfg.slo.page + cfg.slo.ticket for w in (bw.long, bw.short)}
    return tuple(sorted(ws, key=lambda w: (duration_seconds(w), w)))


def recording_group(cfg: Config) -> Group:
    """hermes:turn_errors:ratio_rate<w> and hermes:turn_slow:ratio_rate<w> for every window."""
    e = job_scope(cfg)
    turns, buckets = C.TURN_DURATION.name + "_count", C.TURN_DURATION.name + "_bucket"
    job = keep(cfg, C.L_JOB)
    le = matcher(C.L_LE, le_value(cfg.slo.turn_latency_seconds))
    error, not_interrupted = matcher(C.L_STATUS, "error"), matcher(C.L_STATUS, "interrupted", "!=")
    windows = slo_windows(cfg)
    errors = [Recording(C.slo_rule(C.SLI_TURN_ERRORS, w),
                        ratio(e.sum(turns, w, error, by=job), e.sum(turns, w, not_interrupted, by=job)))
              for w in windows]
    slow = [Recording(C.slo_rule(C.SLI_TURN_SLOW, w),
                      f"1 - (\n  {e.sum(buckets, w, le, by=job)}\n  /\n  {e.sum(turns, w, by=job)}\n)")
            for w in windows]
    return Group(RECORDING_GROUP, tuple(errors + slow))


def dashboard_windows(cfg: Config) -> Tuple[str, ...]:
    """The windows the SLO dashboard shows: every burn-rate window, then the SLO period."""
    ws = slo_windows(cfg)
    return ws if cfg.slo.period in ws else ws + (cfg.slo.period,)


def component_groups(cfg: Config) -> Tuple[Group, Group]:
    """Per instance, the bad and valid turns of each SLI: 5m rates at every evaluation, and increases over
    each dashboard window every 5 minutes, summed from those rates at 5m steps (a subquery: 8,640 points
    for 30 days instead of every raw sample)."""
    e = job_scope(cfg)
    turns, buckets = C.TURN_DURATION.name + "_count", C.TURN_DURATION.name + "_bucket"
    by = keep(cfg, C.L_JOB, C.L_INSTANCE)
    le = matcher(C.L_LE, le_value(cfg.slo.turn_latency_seconds))
    rates = {
        C.SLO_TURNS_FAILED: e.sum(turns, "5m", matcher(C.L_STATUS, "error"), by=by),
        C.SLO_TURNS_JUDGED: e.sum(turns, "5m", matcher(C.L_STATUS, "interrupted", "!="), by=by),
        C.SLO_TURNS_SLOW: f"{e.sum(turns, '5m', by=by)}\n-\n{e.sum(buckets, '5m', le, by=by)}",
        C.SLO_TURNS: e.sum(turns, "5m", by=by),
    }
    # Prometheus 2.x includes a subquery's start: a window 1ms short holds exactly window/5m of the 5m rates
    increases = [Recording(C.slo_component_increase(kind, w),
                           f"sum_over_time({e.rec(C.slo_component_rate(kind))}"
                           f"[{duration(duration_ms(w) - 1)}:{WINDOWS_INTERVAL}]) * {WINDOWS_INTERVAL_SECONDS}")
                 for kind in C.SLO_COMPONENTS for w in dashboard_windows(cfg)]
    return (Group(COMPONENTS_GROUP, tuple(Recording(C.slo_component_rate(k), x) for k, x in rates.items())),
            Group(WINDOWS_GROUP, tuple(increases), interval=WINDOWS_INTERVAL))


def _burn(cfg: Config, sli: str, windows: Sequence[BurnWindow], target: float) -> str:
    """(short > F*budget and long > F*budget) or ... for each burn window."""
    e = job_scope(cfg)
    parts = []
    for bw in windows:
        limit = f"({num(bw.factor)} * (1 - {num(target)}))"
        parts.append(f"(\n  {e.rec(C.slo_rule(sli, bw.short))} > {limit}\n"
                     f"  and {on(cfg)}\n  {e.rec(C.slo_rule(sli, bw.long))} > {limit}\n)")
    return "\nor\n".join(parts)


def alerts(cfg: Config) -> Tuple[Alert, ...]:
    s, f = cfg.slo, cfg.alerting.for_durations
    out = []
    for name, sli, target, what in (
            (C.A_TURN_ERROR_BUDGET_BURN, C.SLI_TURN_ERRORS, s.turn_success_target,
             f"{pct(s.turn_success_target)} of turns succeed"),
            (C.A_TURN_LATENCY_BUDGET_BURN, C.SLI_TURN_SLOW, s.turn_latency_target,
             f"{pct(s.turn_latency_target)} of turns finish within {num(s.turn_latency_seconds)}s")):
        for windows, for_, sev, speed in ((s.page, f.slo_page, C.CRITICAL, "fast"),
                                           (s.ticket, f.slo_ticket, C.WARNING, "slowly")):
            factors = ", or ".join(f"{num(bw.factor)}x over {bw.long} and {bw.short}" for bw in windows)
            out.append(Alert(
                name, _burn(cfg, sli, windows, target), for_, sev, C.TEAM_PLATFORM,
                f"Hermes is burning its turn {'success' if sli == C.SLI_TURN_ERRORS else 'latency'} "
                f"error budget {speed}",
                "Job {{ $labels.job }} misses the SLO \"" + what + "\" on {{ $value | humanizePercentage }} of "
                f"turns over the shortest window: the error budget burns at least {factors}.",
                labels=((C.L_SLO, sli),)))
    return tuple(out)
