"""The Hermes Agent plugin: maps Hermes' lifecycle hooks onto the catalogue's metrics and serves /metrics.

Install hermes-dash in Hermes' environment (`pip install 'hermes-dash[hermes]'`), then enable it in
`$HERMES_HOME/config.yaml`:

    plugins:
      enabled: [hermes_dash]

How Hermes' hooks map onto the metrics (hermes-agent 0.19.0):
- a *turn* (the seed's "request") runs from `pre_llm_call` to `on_session_end`, which Hermes fires at
  the end of every turn, not of the session. A turn whose LLM call fails for good never reaches
  `on_session_end`: the final `api_request_error` (not retryable, or out of retries) ends it as error.
- a *step* is one LLM API call attempt, timed from `pre_api_request` (each retry is its own attempt).
- a *session* is active while one of its turns is in progress; it is finished — steps per session and
  outcome recorded — by `on_session_finalize` / `on_session_reset`, or after
  `session_idle_timeout_seconds` without a turn (Hermes' Python API never finalizes).
- cost comes from Hermes' own pricing where it knows the model, else from the config's price table,
  else the tokens are counted as unpriced.
A failure inside a hook never reaches the agent: it is caught, logged once per hook, and counted in
hermes_metrics_hook_errors_total.
"""
from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

from . import catalogue as C
from .config import load_config
from .exporter import ADDR_ENV, multiprocess_dir, prepare_multiprocess_dir, serve
from .instrumentation import HermesMetrics

log = logging.getLogger("hermes_dash")
_now = time.monotonic

# Hermes' post_tool_call status -> the catalogue's tool status (timeouts are told apart by error_type)
_TOOL_STATUS = {"ok": "success", "success": "success", "error": "error", "blocked": "blocked",
                "timeout": "timeout", "cancelled": "cancelled", "interrupted": "cancelled"}


@dataclass
class _SessionState:
    steps: int = 0
    turn_started: Optional[float] = None   # monotonic start of the turn in progress
    last_outcome: Optional[str] = None      # outcome of the last finished turn
    idle_since: float = 0.0


class HermesHooks:
    """The hook callbacks, bound to one HermesMetrics. Thread-safe: Hermes runs tools on worker threads.

        hooks = HermesHooks(HermesMetrics(registry=CollectorRegistry()))
        hooks.on_session_start(session_id="s1", model="m", platform="cli")
    """

    def __init__(self, metrics: HermesMetrics, clock: Callable[[], float] = _now):
        self.metrics = metrics
        self.idle_timeout = metrics.config.session_idle_timeout_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: Dict[str, _SessionState] = {}
        self._attempts: Dict[Any, float] = {}     # api_request_id -> monotonic start of the attempt
        self._logged: set = set()
        for name in C.HERMES_HOOKS:
            setattr(self, name, self._guard(name, getattr(self, "_" + name)))

    # -- plumbing -------------------------------------------------------------------------------------
    def _guard(self, name: str, fn: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(fn)
        def hook(**kw: Any) -> None:
            try:
                fn(**kw)
            except Exception:
                self.metrics.hook_failed(name)
                if name not in self._logged:
                    self._logged.add(name)
                    log.exception("hermes-dash: hook %s failed (logged once; counted in %s)",
                                  name, C.HOOK_ERRORS.name)
            return None  # observer only: a non-None return would steer Hermes
        return hook

    def register(self, ctx: Any) -> None:
        for name in C.HERMES_HOOKS:
            ctx.register_hook(name, getattr(self, name))

    def _session(self, sid: str) -> _SessionState:
        st = self._sessions.get(sid)
        if st is None:
            st = self._sessions[sid] = _SessionState(idle_since=self._clock())
        return st

    def _start_turn(self, st: _SessionState, now: float) -> None:
        if st.turn_started is not None:  # the previous turn never ended: it failed
            self._end_turn(st, "error", now)
        st.turn_started = now
        self.metrics.session_started()

    def _end_turn(self, st: _SessionState, status: str, now: float) -> None:
        if st.turn_started is None:
            return
        self.metrics.record_turn(status, now - st.turn_started)
        self.metrics.session_stopped()
        st.turn_started = None
        st.idle_since = now
        st.last_outcome = {"success": "completed", "error": "failed"}.get(status, status)

    def _finish(self, sid: str, now: float) -> None:
        st = self._sessions.pop(sid, None)
        if st is None:
            return
        self._end_turn(st, "interrupted", now)
        self.metrics.session_finished(st.steps, st.last_outcome or "abandoned", was_active=False)

    def sweep(self) -> None:
        """Finish sessions idle for longer than the idle timeout (runs at every scrape)."""
        now = self._clock()
        with self._lock:
            for sid in [s for s, st in self._sessions.items()
                        if st.turn_started is None and now - st.idle_since >= self.idle_timeout]:
                self._finish(sid, now)

    def finish_all(self) -> None:
        """Finish every open session (at interpreter exit)."""
        now = self._clock()
        with self._lock:
            for sid in list(self._sessions):
                self._finish(sid, now)

    # -- hooks (called by Hermes with keyword arguments only) -----------------------------------------
    def _on_session_start(self, session_id: str = "", **_: Any) -> None:
        with self._lock:
            self._session(session_id)

    def _pre_llm_call(self, session_id: str = "", **_: Any) -> None:
        with self._lock:
            self._start_turn(self._session(session_id), self._clock())

    def _pre_api_request(self, session_id: str = "", api_request_id: Any = None, model: str = "",
                         provider: Optional[str] = None, **_: Any) -> None:
        now = self._clock()
        with self._lock:
            st = self._session(session_id)
            if st.turn_started is None:  # an API call outside a turn (e.g. a subagent's first call)
                self._start_turn(st, now)
            self._attempts[api_request_id] = now
        self.metrics.llm_request(model, provider)

    def _attempt_seconds(self, api_request_id: Any, fallback: Any) -> Any:
        """Seconds since this attempt's pre_api_request, else Hermes' api_duration (which spans retries;
        the metrics drop it when it is not a finite number >= 0), else 0."""
        with self._lock:
            start = self._attempts.pop(api_request_id, None)
        if start is not None:
            return self._clock() - start
        return 0.0 if fallback is None else fallback

    def _post_api_request(self, session_id: str = "", api_request_id: Any = None, model: str = "",
                          provider: Optional[str] = None, base_url: Optional[str] = None,
                          api_duration: Optional[float] = None, finish_reason: Optional[str] = None,
                          usage: Optional[dict] = None, assistant_tool_call_count: int = 0,
                          **_: Any) -> None:
        seconds = self._attempt_seconds(api_request_id, api_duration)
        step_type = "tool_use" if assistant_tool_call_count or finish_reason == "tool_calls" else "answer"
        self.metrics.record_step(model, step_type, seconds)
        with self._lock:
            self._session(session_id).steps += 1
        if isinstance(usage, dict):
            prompt = _zero_if_none(usage.get("prompt_tokens"))
            completion = _zero_if_none(usage.get("output_tokens"))
            cost = _hermes_cost(model, usage, provider, base_url)
            self.metrics.record_usage(model, prompt, completion, provider=provider, cost_usd=cost)
        elif usage is not None:
            self.metrics.dropped(C.DROP_REASONS[0])  # not a mapping of token counts

    def _api_request_error(self, session_id: str = "", api_request_id: Any = None, model: str = "",
                           api_duration: Optional[float] = None, status_code: Optional[int] = None,
                           reason: Optional[str] = None, retryable: Optional[bool] = None,
                           retry_count: Optional[int] = None, max_retries: Optional[int] = None,
                           error: Any = None, **_: Any) -> None:
        seconds = self._attempt_seconds(api_request_id, api_duration)
        self.metrics.record_step(model, "error", seconds)
        self.metrics.record_llm_error(model, error, status_code=status_code, reason=reason)
        # Hermes increments retry_count after this hook and loops while retry_count < max_retries, so
        # this attempt was the last when retry_count + 1 >= max_retries (or the error is not retryable).
        # Hermes then returns early: no on_session_end will close the turn, so close it here. (A
        # provider fallback after the last retry starts a new turn in these metrics.)
        final = retryable is False or (retry_count is not None and max_retries is not None
                                       and retry_count + 1 >= max_retries)
        if final:
            with self._lock:
                self._end_turn(self._session(session_id), "error", self._clock())

    def _post_tool_call(self, tool_name: str = "", duration_ms: Optional[float] = None,
                        status: Optional[str] = None, error_type: Optional[str] = None,
                        **_: Any) -> None:
        s = _TOOL_STATUS.get((status or "").lower(), "error")
        et = (error_type or "").lower()
        if s == "error" and ("timeout" in et or "timed_out" in et):
            s = "timeout"
        elif s == "error" and ("cancel" in et or "interrupt" in et):
            s = "cancelled"
        self.metrics.record_tool_call(tool_name, s, _ms_to_seconds(duration_ms))

    def _on_session_end(self, session_id: str = "", completed: bool = False,
                        interrupted: bool = False, **_: Any) -> None:
        status = "interrupted" if interrupted else ("success" if completed else "error")
        now = self._clock()
        with self._lock:
            st = self._session(session_id)
            self._end_turn(st, status, now)
            if self.idle_timeout <= 0:
                self._finish(session_id, now)

    def _on_session_finalize(self, session_id: str = "", **_: Any) -> None:
        with self._lock:
            self._finish(session_id, self._clock())

    _on_session_reset = _on_session_finalize


def _zero_if_none(x: Any) -> Any:
    return 0 if x is None else x


def _ms_to_seconds(ms: Any) -> Any:
    """Hermes' duration_ms in seconds (None: 0). Anything but an int or a float is passed on as it is,
    for the metrics to drop and count."""
    if ms is None:
        return 0.0
    if type(ms) is int or type(ms) is float:
        try:
            return ms / 1000.0
        except OverflowError:
            return float("inf")
    return ms


def _token_count(x: Any) -> Optional[int]:
    """A usage field as an int >= 0 (None: 0), or None when it is not one."""
    if x is None:
        return 0
    if (type(x) is int and x >= 0) or (type(x) is float and 0 <= x < float("inf")):
        return int(x)
    return None


def _hermes_cost(model: Any, usage: dict, provider: Any, base_url: Any) -> Any:
    """Hermes' own estimate of one call's cost in USD, or None when Hermes cannot price it (or the usage
    holds a token count that is not one: the metrics then drop that count and price what remains)."""
    try:
        from agent.usage_pricing import CanonicalUsage, estimate_usage_cost
    except ImportError:  # not running inside Hermes
        return None
    try:
        counts = {k: _token_count(usage.get(k)) for k in (
            "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")}
        if None in counts.values():
            return None
        r = estimate_usage_cost(model if isinstance(model, str) else "", CanonicalUsage(**counts),
                                provider=provider, base_url=base_url)
        return None if r.amount_usd is None else float(r.amount_usd)
    except Exception:  # Hermes' pricing lookup failed: fall back to the table, else count as unpriced
        log.debug("hermes-dash: Hermes could not price %r", model, exc_info=True)
        return None


# -- the entry point ---------------------------------------------------------------------------------
_STATE: Dict[str, Any] = {}
_STATE_LOCK = threading.Lock()


def register(ctx: Any) -> None:
    """Hermes' plugin entry point (`hermes_agent.plugins`): subscribe the hooks and serve /metrics.

    Idempotent per process: a second call only registers the same hooks with the new context.
    """
    with _STATE_LOCK:
        hooks = _STATE.get("hooks")
        if hooks is None:
            hooks = _STATE["hooks"] = _build()
    hooks.register(ctx)


def _build() -> HermesHooks:
    from prometheus_client import CollectorRegistry
    cfg = load_config()
    path = multiprocess_dir()
    if path:
        prepare_multiprocess_dir(path)
    metrics = HermesMetrics(registry=CollectorRegistry(), config=cfg.instrumentation)
    hooks = HermesHooks(metrics)
    atexit.register(hooks.finish_all)
    address = os.environ.get(ADDR_ENV) or cfg.exporter.address
    try:
        _STATE["server"] = serve(metrics.registry, address, before_collect=hooks.sweep)
        log.info("hermes-dash: serving /metrics on http://%s/metrics", address)
    except ValueError as e:  # a bad HERMES_DASH_METRICS_ADDR (the config file's address is validated on load)
        log.error("hermes-dash: %s=%r: %s; /metrics is not served, metrics are still recorded",
                  ADDR_ENV, address, e)
    except OSError as e:
        # another worker of the same gateway already serves the shared multiprocess directory
        log.warning("hermes-dash: cannot serve /metrics on %s (%s); metrics are still recorded%s",
                    address, e.strerror, " for the worker that serves them" if path else "")
    return hooks
