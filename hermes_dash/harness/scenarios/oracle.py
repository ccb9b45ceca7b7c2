"""What each alert means, in plain Python over a scenario's events: which alerts must fire, and which must not.

    truth = scenario.expand()
    o = Oracle(truth, cfg)
    o.firing(ALERTS_BY_KEY[("HermesToolErrorRate", "warning")], minute=40)
    # {(("tool_name", "web_search"),): True, (("tool_name", "read_file"),): False}

The oracle never evaluates PromQL. Each condition is stated in domain terms over the events of a window
of minutes ("of the calls to this tool in the last 5 minutes, more than 5% did not succeed, and there
were at least 10"), with thresholds, minimum traffic, `for` durations and SLO targets read from the
same config the rules are generated from.

It answers True, False or None (unknown), and combines answers with three-valued logic. It says None
where the answer would hinge on how Prometheus estimates a rate rather than on what happened:
- a value within `MARGIN` (5%) of its threshold;
- a window whose events Prometheus cannot count exactly from its samples: the window's first sample is
  missing and the series does not start from zero inside it (scrape gap, a series that ends or restarts
  non-zero: rate() would extrapolate), its last sample is missing, a counter reset inside it cannot be
  seen because the new value is not below the old one, or events were lost in a crash (counted after the
  last scrape of a process that then died);
- an instant value read during a scrape gap (Prometheus' 5-minute lookback would decide).
A series that started from zero inside the window is counted exactly, as hermes-dash's zero-initialised
counters are. Exact windows are a documented property of the scenarios, not of PromQL: `strategies.py`
draws fault windows long enough that most evaluation times are decisive.
"""
from __future__ import annotations

import bisect
import functools

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ... import catalogue as C
from ...config import Config, duration_seconds
from ...build.text import le_value
from .model import DOWN, GAP, GONE, STALE, UP, Labels, Truth

MARGIN = 0.05
Tri = Optional[bool]


def t_and(*xs: Tri) -> Tri:
    """Three-valued AND: False wins, then unknown."""
    return False if any(x is False for x in xs) else None if any(x is None for x in xs) else True


def t_or(*xs: Tri) -> Tri:
    """Three-valued OR: True wins, then unknown."""
    return True if any(x is True for x in xs) else None if any(x is None for x in xs) else False


def above(value: Optional[float], threshold: float, margin: float = MARGIN) -> Tri:
    """value > threshold, unknown when value is unknown or within `margin` (relative) of the threshold."""
    if value is None:
        return None
    if threshold == 0:
        return value > 0
    if value > threshold * (1 + margin):
        return True
    if value < threshold * (1 - margin):
        return False
    return None


def below(value: Optional[float], threshold: float, margin: float = MARGIN) -> Tri:
    """value < threshold, unknown when value is unknown or within `margin` (relative) of the threshold."""
    if value is None:
        return None
    if value < threshold * (1 - margin):
        return True
    if value > threshold * (1 + margin):
        return False
    return None


def at_least(value: Optional[float], minimum: float) -> Tri:
    """value >= minimum, unknown within the margin (an event count against a minimum-traffic floor)."""
    if value is None:
        return None
    if value >= minimum * (1 + MARGIN):
        return True
    if value < minimum * (1 - MARGIN):
        return False
    return None


@dataclass(frozen=True)
class Window:
    """Events of one kind in the last `minutes` minutes before `at`, summed over instances; `exact` False
    when Prometheus could not count them from its samples. `present` False when no series had two samples
    in the window (the sum is then empty, not zero)."""
    total: float
    exact: bool
    present: bool

    @property
    def value(self) -> Optional[float]:
        return self.total if self.exact else None


class Oracle:
    def __init__(self, truth: Truth, cfg: Config):
        self.truth, self.cfg = truth, cfg
        self.t, self.f, self.slo = cfg.thresholds, cfg.alerting.for_durations, cfg.slo
        self.fleet = truth.scenario.fleet
        self._windows: Dict[tuple, Window] = {}
        self._selected: Dict[tuple, list] = {}
        self._turn_memo: Dict[tuple, Window] = {}
        self._index()
        self._conditions = self._build_conditions()
        self._memo: Dict[Tuple[Tuple[str, str], int], Dict[Labels, Tri]] = {}

    # --- counting events ---------------------------------------------------------------------------
    def _index(self) -> None:
        """Per series: prefix sums of events, the minutes with a sample, and the sample values."""
        self._series: Dict[str, List[Tuple[str, Dict[str, str], List[float], List[int], List[float]]]] = {}
        for inst in self.fleet.instances:
            for key, incr in self.truth.counters[inst].items():
                prefix = [0.0]
                for m in range(1, len(incr)):
                    prefix.append(prefix[-1] + incr[m])
                samples = self.truth.samples(inst, key)
                minutes = [m for m, v in enumerate(samples) if v not in (None, STALE)]
                self._series.setdefault(key[0], []).append(
                    (inst, dict(key[1]), prefix, minutes, [samples[m] for m in minutes]))  # type: ignore[misc]

    def _series_window(self, inst: str, prefix: List[float], minutes_: List[int], values: List[float],
                       at: int, minutes: int) -> Tuple[float, bool, bool]:
        """(events, exact, present) of one series in the minutes (at - minutes, at]: `exact` when the
        samples Prometheus holds count exactly those events, `present` when it holds two or more."""
        lo = max(0, at - minutes)
        events = prefix[at] - prefix[lo]
        i0, i1 = bisect.bisect_left(minutes_, lo), bisect.bisect_right(minutes_, at) - 1
        if i1 - i0 < 1:
            return 0.0, events == 0, False  # no rate at all: right only if nothing happened
        m0, v0, m1 = minutes_[i0], values[i0], minutes_[i1]
        # no extrapolation: the window's first and last samples are at its edges, or the series starts
        # from zero inside it (durationToZero == 0) ...
        exact = (m0 == lo or v0 == 0) and m1 == at
        # ... every counter reset is visible (the value drops), and no event was lost to it: what the old
        # process counted after its last scrape died with it ...
        for r in self.truth.resets[inst]:
            j = bisect.bisect_left(minutes_, r)
            if i0 < j <= i1 and (values[j - 1] > 0 and values[j] >= values[j - 1]
                                 or prefix[r - 1] != prefix[minutes_[j - 1]]):
                exact = False
        # ... and the samples cover every event of the window
        if prefix[m1] - prefix[m0] != events:
            exact = False
        return events, exact or events == 0, True  # nothing happened: zero however it is estimated

    def window(self, name: str, at: int, minutes: int, **labels: str) -> Window:
        """Events of series `name` whose labels equal `labels` (a value starting with "!" means "not
        equal"), summed over every instance."""
        key = (name, at, minutes, tuple(labels.items()))  # call sites pass labels in a fixed order
        hit = self._windows.get(key)
        if hit is not None:
            return hit
        sel = (name, key[3])
        series = self._selected.get(sel)
        if series is None:
            series = self._selected[sel] = [
                s for s in self._series.get(name, ()) if not any(
                    s[1].get(k) == v[1:] if v.startswith("!") else s[1].get(k) != v for k, v in labels.items())]
        total, exact, present = 0.0, True, False
        for inst, _, prefix, ms, vs in series:
            e, x, p = self._series_window(inst, prefix, ms, vs, at, minutes)
            total += e
            exact = exact and x
            present = present or p
        self._windows[key] = w = Window(total, exact, present)
        return w

    def ratio(self, num: Window, den: Window) -> Tuple[Optional[float], bool]:
        """(num / den, defined): defined False when there were no events at all (the ratio is NaN)."""
        if not (num.exact and den.exact):
            return None, True
        if not den.present or den.total == 0:
            return None, False
        return num.total / den.total, True

    def _ratio_above(self, num: Window, den: Window, threshold: float) -> Tri:
        r, defined = self.ratio(num, den)
        return False if not defined else above(r, threshold)

    def _ratio_below(self, num: Window, den: Window, threshold: float) -> Tri:
        r, defined = self.ratio(num, den)
        return False if not defined else below(r, threshold)

    # --- the conditions, per alert, in domain terms -------------------------------------------------
    def _turns(self, at: int, minutes: int, status: Optional[Sequence[str]] = None,
               slower_than: Optional[float] = None) -> Window:
        """Turns of the window, optionally only some statuses, optionally only those slower than N s
        (all turns minus those within that bucket boundary)."""
        memo_key = (at, minutes, status, slower_than)
        hit = self._turn_memo.get(memo_key)
        if hit is not None:
            return hit
        statuses = C.TURN_STATUSES if status is None else status
        parts = [self.window(C.TURN_DURATION.name + "_count", at, minutes, **{C.L_STATUS: st}) for st in statuses]
        if slower_than is not None:
            le = le_value(slower_than)
            parts += [Window(-w.total, w.exact, w.present) for w in (
                self.window(C.TURN_DURATION.name + "_bucket", at, minutes, **{C.L_STATUS: st, C.L_LE: le})
                for st in statuses)]
        w = Window(sum(w.total for w in parts), all(w.exact for w in parts), any(w.present for w in parts))
        self._turn_memo[memo_key] = w
        return w

    def _share_slower(self, at: int, seconds: float, share: float) -> Tri:
        """P(quantile 1-share) > seconds  <=>  more than `share` of the window's turns took longer."""
        if seconds not in C.TURN_BUCKETS:
            return None  # only bucket boundaries can be judged without interpolation
        return self._ratio_above(self._turns(at, 5, slower_than=seconds), self._turns(at, 5), share)

    def high_latency(self, at: int) -> Dict[Labels, Tri]:
        """More than 5% of the turns of the last 5 minutes took longer than latency_p95_seconds."""
        return {(): self._share_slower(at, self.t.latency_p95_seconds, 0.05)}

    def critical_latency(self, at: int) -> Dict[Labels, Tri]:
        """More than 1% of the turns of the last 5 minutes took longer than latency_p99_seconds."""
        return {(): self._share_slower(at, self.t.latency_p99_seconds, 0.01)}

    def step_latency(self, at: int) -> Dict[Labels, Tri]:
        """Per model: more than 5% of its reasoning steps of the last 5 minutes took longer than
        step_p95_seconds (its P95 is above it)."""
        seconds = self.t.step_p95_seconds
        out: Dict[Labels, Tri] = {}
        for model in self.fleet.models:
            if seconds not in C.STEP_DURATION.buckets:
                out[((C.L_MODEL, model),)] = None  # only bucket boundaries are judged without interpolation
                continue
            bucket = C.STEP_DURATION.name + "_bucket"
            every = self.window(bucket, at, 5, **{C.L_MODEL: model, C.L_LE: "+Inf"})
            within = self.window(bucket, at, 5, **{C.L_MODEL: model, C.L_LE: le_value(seconds)})
            slower = Window(every.total - within.total, every.exact and within.exact, every.present)
            out[((C.L_MODEL, model),)] = self._ratio_above(slower, every, 0.05)
        return out

    def tool_error_rate(self, at: int) -> Dict[Labels, Tri]:
        """Per tool: of its calls in the last 5 minutes, more than tool_error_rate did not succeed (errors,
        timeouts, cancellations, blocks), and there were at least tool_error_min_calls of them."""
        out = {}
        for tool in self.fleet.tools:
            calls = self.window(C.TOOL_CALLS.name, at, 5, **{C.L_TOOL: tool})
            failed = self.window(C.TOOL_CALLS.name, at, 5, **{C.L_TOOL: tool, C.L_STATUS: "!success"})
            out[((C.L_TOOL, tool),)] = t_and(self._ratio_above(failed, calls, self.t.tool_error_rate),
                                             at_least(calls.value, self.t.tool_error_min_calls))
        return out

    def llm_error_rate(self, at: int) -> Dict[Labels, Tri]:
        """Per model: of its LLM API calls in the last 5 minutes, more than llm_error_rate failed, with at
        least llm_error_min_requests calls."""
        out = {}
        for model in self.fleet.models:
            reqs = self.window(C.LLM_REQUESTS.name, at, 5, **{C.L_MODEL: model})
            errs = self.window(C.LLM_ERRORS.name, at, 5, **{C.L_MODEL: model})
            out[((C.L_MODEL, model),)] = t_and(self._ratio_above(errs, reqs, self.t.llm_error_rate),
                                               at_least(reqs.value, self.t.llm_error_min_requests))
        return out

    def instance_down(self, at: int) -> Dict[Labels, Tri]:
        """The instance's scrapes fail (it is down; a vanished target has no `up` at all)."""
        out = {}
        for inst in self.fleet.instances:
            st = self.truth.states[inst][at]
            out[((C.L_INSTANCE, inst),)] = None if st == GAP else st == DOWN
        return out

    def metrics_absent(self, at: int) -> Dict[Labels, Tri]:
        """No instance of the job is scraped successfully: each is down or gone."""
        states = [self.truth.states[i][at] for i in self.fleet.instances]
        if any(s == UP for s in states):
            return {(): False}
        return {(): None if any(s == GAP for s in states) else True}

    def cost_overrun(self, at: int) -> Dict[Labels, Tri]:
        """The fleet spent more than cost_per_hour_usd over the last 60 minutes."""
        return {(): above(self.window(C.COST.name, at, 60).value, self.t.cost_per_hour_usd)}

    def daily_cost_budget(self, at: int) -> Dict[Labels, Tri]:
        """The fleet spent more than daily_cost_budget_usd over the last 24 hours."""
        return {(): above(self.window(C.COST.name, at, 1440).value, self.t.daily_cost_budget_usd)}

    def daily_token_budget(self, at: int) -> Dict[Labels, Tri]:
        """The fleet used more than daily_token_budget tokens over the last 24 hours."""
        return {(): above(self.window(C.TOKENS.name, at, 1440).value, self.t.daily_token_budget)}

    def _token_rate(self, at: int) -> Tuple[Optional[float], bool]:
        """Tokens per second over the 5 minutes before `at` (None: unknown), and whether any series counted."""
        w = self.window(C.TOKENS.name, at, 5)
        return (w.total / 300 if w.exact else None), w.present

    def token_spike(self, at: int) -> Dict[Labels, Tri]:
        """The 5-minute token rate is above factor x its average over the last hour (the 5-minute rate
        taken each minute) and above the floor."""
        now, present = self._token_rate(at)
        if not present:
            return {(): False if now is not None else None}
        points = []
        for m in range(max(0, at - 60), at + 1):
            r, p = self._token_rate(m)
            if p:
                if r is None:
                    return {(): t_and(above(now, self.t.token_spike_min_tokens_per_second), None)}
                points.append(r)
        avg = sum(points) / len(points)
        return {(): t_and(above(now, self.t.token_spike_factor * avg),
                          above(now, self.t.token_spike_min_tokens_per_second))}

    def unpriced_tokens(self, at: int) -> Dict[Labels, Tri]:
        """Per model: it used tokens without a price in the last 5 minutes."""
        out = {}
        for model in self.fleet.models:
            w = self.window(C.UNPRICED_TOKENS.name, at, 5, **{C.L_MODEL: model})
            out[((C.L_MODEL, model),)] = None if w.value is None else w.present and w.total > 0
        return out

    def sessions_near_capacity(self, at: int) -> Dict[Labels, Tri]:
        """Per instance that is up: its active sessions exceed capacity_warning_ratio of its capacity."""
        out = {}
        for inst in self.fleet.instances:
            st = self.truth.states[inst][at]
            if st == GAP:
                out[((C.L_INSTANCE, inst),)] = None
            elif st in (DOWN, GONE):
                out[((C.L_INSTANCE, inst),)] = False
            else:
                active = self.truth.gauges[inst][(C.ACTIVE_SESSIONS.name, ())][at]
                out[((C.L_INSTANCE, inst),)] = above(active / self.t.session_capacity_per_instance,
                                                      self.t.capacity_warning_ratio)
        return out

    def task_completion_low(self, at: int) -> Dict[Labels, Tri]:
        """Of the sessions finished in the last 60 minutes (at least task_completion_min_sessions), fewer
        than task_completion_target completed."""
        done = self.window(C.SESSIONS.name, at, 60, **{C.L_OUTCOME: "completed"})
        every = self.window(C.SESSIONS.name, at, 60)
        return {(): t_and(self._ratio_below(done, every, self.t.task_completion_target),
                          at_least(every.value, self.t.task_completion_min_sessions))}

    def _burn(self, at: int, sli: str, windows, target: float) -> Tri:
        """For some burn window, the share of bad turns over both its long and its short window exceeds
        factor x (1 - target). Bad: ended in error, of the turns not interrupted (turn_errors); took longer
        than slo.turn_latency_seconds, of all turns (turn_slow)."""
        budget = 1 - target
        conds = []
        for bw in windows:
            parts = []
            for w in (bw.short, bw.long):
                minutes = _minutes(w)
                if sli == C.SLI_TURN_ERRORS:
                    bad, every = self._turns(at, minutes, status=("error",)), \
                        self._turns(at, minutes, status=("success", "error"))
                else:
                    bad, every = self._turns(at, minutes, slower_than=self.slo.turn_latency_seconds), \
                        self._turns(at, minutes)
                parts.append(self._ratio_above(bad, every, bw.factor * budget))
            conds.append(t_and(*parts))
        return t_or(*conds)

    def turn_error_burn(self, severity: str) -> Callable[[int], Dict[Labels, Tri]]:
        windows = self.slo.page if severity == C.CRITICAL else self.slo.ticket
        return lambda at: {(): self._burn(at, C.SLI_TURN_ERRORS, windows, self.slo.turn_success_target)}

    def turn_latency_burn(self, severity: str) -> Callable[[int], Dict[Labels, Tri]]:
        windows = self.slo.page if severity == C.CRITICAL else self.slo.ticket
        return lambda at: {(): self._burn(at, C.SLI_TURN_SLOW, windows, self.slo.turn_latency_target)}

    # --- alerts: condition + `for` -----------------------------------------------------------------
    def conditions(self) -> Dict[Tuple[str, str], Tuple[Callable[[int], Dict[Labels, Tri]], str]]:
        """(alertname, severity) -> (condition, for duration)."""
        return self._conditions

    def _build_conditions(self):
        f = self.f
        return {
            (C.A_HIGH_LATENCY, C.WARNING): (self.high_latency, f.high_latency),
            (C.A_CRITICAL_LATENCY, C.CRITICAL): (self.critical_latency, f.critical_latency),
            (C.A_STEP_LATENCY, C.WARNING): (self.step_latency, f.step_latency),
            (C.A_TOOL_ERROR_RATE, C.WARNING): (self.tool_error_rate, f.tool_error_rate),
            (C.A_LLM_ERROR_RATE, C.WARNING): (self.llm_error_rate, f.llm_error_rate),
            (C.A_INSTANCE_DOWN, C.CRITICAL): (self.instance_down, f.instance_down),
            (C.A_METRICS_ABSENT, C.CRITICAL): (self.metrics_absent, f.metrics_absent),
            (C.A_COST_OVERRUN, C.WARNING): (self.cost_overrun, f.cost_overrun),
            (C.A_DAILY_COST_BUDGET, C.WARNING): (self.daily_cost_budget, f.daily_cost_budget),
            (C.A_DAILY_TOKEN_BUDGET, C.WARNING): (self.daily_token_budget, f.daily_token_budget),
            (C.A_TOKEN_SPIKE, C.WARNING): (self.token_spike, f.token_spike),
            (C.A_UNPRICED_TOKENS, C.INFO): (self.unpriced_tokens, f.unpriced_tokens),
            (C.A_SESSIONS_NEAR_CAPACITY, C.WARNING): (self.sessions_near_capacity, f.sessions_near_capacity),
            (C.A_TASK_COMPLETION_LOW, C.WARNING): (self.task_completion_low, f.task_completion_low),
            (C.A_TURN_ERROR_BUDGET_BURN, C.CRITICAL): (self.turn_error_burn(C.CRITICAL), f.slo_page),
            (C.A_TURN_ERROR_BUDGET_BURN, C.WARNING): (self.turn_error_burn(C.WARNING), f.slo_ticket),
            (C.A_TURN_LATENCY_BUDGET_BURN, C.CRITICAL): (self.turn_latency_burn(C.CRITICAL), f.slo_page),
            (C.A_TURN_LATENCY_BUDGET_BURN, C.WARNING): (self.turn_latency_burn(C.WARNING), f.slo_ticket),
        }

    def condition(self, alert: Tuple[str, str], at: int) -> Dict[Labels, Tri]:
        """The alert's condition at one evaluation, per label set (memoised)."""
        key = (alert, at)
        if key not in self._memo:
            self._memo[key] = self._conditions[alert][0](at)
        return self._memo[key]

    def firing(self, alert: Tuple[str, str], at: int) -> Dict[Labels, Tri]:
        """Per label set: True when the condition held at every evaluation (each minute) of the last `for`,
        False when it failed at one of them, None when unknown."""
        span = _minutes(self._conditions[alert][1])
        per_minute = [self.condition(alert, m) for m in range(max(0, at - span), at + 1)]
        if at - span < 0:  # not evaluated long enough to have fired
            return {lb: False for lb in per_minute[-1]}
        return {lb: t_and(*(p[lb] for p in per_minute)) for lb in per_minute[-1]}


@functools.lru_cache(maxsize=None)
def _minutes(duration: str) -> int:
    return int(duration_seconds(duration) // 60)
