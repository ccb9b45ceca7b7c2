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
- what it tracks is bounded and expires (docs/security.md, "Limits"): a turn whose session fires no
  hook for `turn_max_age_seconds` is given up on, a pending API request after
  `api_request_max_age_seconds`; an end hook with nothing to end creates nothing. Each process sweeps
  its own sessions in a daemon thread every `sweep_interval_seconds`.
A failure inside a hook never reaches the agent: it is caught, logged once per hook, and counted in
hermes_metrics_hook_errors_total. Wrong argument types are not failures: they are ignored, or the
numbers dropped and counted.
"""
from __future__ import annotations

import atexit
import functools
import hashlib
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from decimal import Decimal
from typing import Any, Callable, Dict, Optional

from . import catalogue as C
from . import store
from .config import DEFAULT, load_config
from .daemon import Mode, plugin_mode
from .exporter import ADDR_ENV, MetricsServer, prepare_multiprocess_dir
from .instrumentation import HermesMetrics

log = logging.getLogger("hermes_dash")
_now = time.monotonic
DEFAULT_SWEEP_SECONDS = DEFAULT.instrumentation.sweep_interval_seconds

# Hermes' post_tool_call status -> the catalogue's tool status (timeouts are told apart by error_type)
_TOOL_STATUS = {"ok": "success", "success": "success", "error": "error", "blocked": "blocked",
                "timeout": "timeout", "cancelled": "cancelled", "interrupted": "cancelled"}


class _SessionState:
    __slots__ = ("steps", "turn_started", "last_outcome", "last_seen", "platform")

    def __init__(self, now: float):
        self.platform: Any = None                   # Hermes' platform, from the first hook that names one
        self.steps = 0
        self.turn_started: Optional[float] = None   # monotonic start of the turn in progress
        self.last_outcome: Optional[str] = None     # outcome of the last finished (or expired) turn
        self.last_seen = now                        # monotonic time of the session's last hook


_MAX_KEY = 256  # characters of a session or API request id kept as a key; longer ids are hashed


def _key(x: Any) -> Any:
    """A bounded, hashable key for a session or API request id, whatever Hermes passes: short strings
    and small ints as they are, anything else as its str() (a hash of it when longer than 256)."""
    t = type(x)
    if t is str:
        if len(x) <= _MAX_KEY:
            return x
    elif x is None or (t is int and -(1 << 63) <= x < (1 << 63)):
        return x
    else:
        try:
            x = str(x)
        except Exception:
            return None
        if len(x) <= _MAX_KEY:
            return x
    return "#" + hashlib.blake2b(x.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _text(x: Any) -> str:
    """A hook's string argument in lower case, or "" when it is not a string."""
    return x.lower() if isinstance(x, str) else ""


def _flag(x: Any) -> bool:
    """A hook's boolean argument: True, or a non-zero int; anything else is False."""
    return x is True or (type(x) is int and x != 0)


def _int(x: Any) -> Optional[int]:
    return x if type(x) is int else None


class HermesHooks:
    """The hook callbacks, bound to one HermesMetrics. Thread-safe: Hermes runs tools on worker threads.

        hooks = HermesHooks(HermesMetrics(registry=CollectorRegistry()))
        hooks.on_session_start(session_id="s1", model="m", platform="cli")

    What it tracks is bounded: at most `max_open_sessions` sessions and `max_pending_api_requests`
    pending API requests; turns and requests that outlive their maximum age are expired by `sweep()`
    (run by the sweeper thread, `start_sweeper()`, and at every scrape). Only hooks that begin
    something create a session (on_session_start, pre_llm_call, pre_api_request); a stray end hook
    never does.
    """

    def __init__(self, metrics: HermesMetrics, clock: Callable[[], float] = _now):
        cfg = metrics.config
        self.metrics = metrics
        self.idle_timeout = cfg.session_idle_timeout_seconds
        self.turn_max_age = cfg.turn_max_age_seconds
        self.api_request_max_age = cfg.api_request_max_age_seconds
        self.max_sessions = cfg.max_open_sessions
        self.max_attempts = cfg.max_pending_api_requests
        self.sweep_interval = cfg.sweep_interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        # session key -> state, least recently active first (moved to the end at each of its hooks)
        self._sessions: "OrderedDict[Any, _SessionState]" = OrderedDict()
        # api_request_id key -> monotonic start of the attempt, oldest first
        self._attempts: "OrderedDict[Any, float]" = OrderedDict()
        self._logged: set = set()
        self._stop: Optional[threading.Event] = None
        for name in C.HERMES_HOOKS:
            setattr(self, name, self._guard(name, getattr(self, "_" + name)))

    # -- plumbing -------------------------------------------------------------------------------------
    def _guard(self, name: str, fn: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(fn)
        def hook(*_args: Any, **kw: Any) -> None:  # Hermes passes keywords only; anything else is ignored
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

    def _session(self, sid: Any, now: float, create: bool = True) -> Optional[_SessionState]:
        """The state of session `sid` (touched: its last hook is now), created when `create`, else None
        for a session this process does not track. Lock held by the caller."""
        key = _key(sid)
        st = self._sessions.get(key)
        if st is not None:
            st.last_seen = now
            self._sessions.move_to_end(key)
            return st
        if not create:
            return None
        while len(self._sessions) >= self.max_sessions:
            oldest = next(iter(self._sessions))
            self.metrics.expired(C.EXPIRED_SESSION)
            self._finish(oldest, now, expire_turn=True)
        st = self._sessions[key] = _SessionState(now)
        return st

    def _platform(self, st: Optional[_SessionState], platform: Any) -> None:
        """Note the session's platform from the first hook that names one, as its bounded label value
        (a later hook never changes it: the gateway finalizes every session at shutdown as "gateway")."""
        if st is not None and st.platform is None and isinstance(platform, str) and platform:
            st.platform = self.metrics.platform_label(platform)

    def _start_turn(self, st: _SessionState, now: float) -> None:
        if st.turn_started is not None:  # the previous turn never ended: it failed
            self._end_turn(st, "error", now)
        st.turn_started = now
        self.metrics.session_started()

    def _end_turn(self, st: _SessionState, status: str, now: float) -> None:
        if st.turn_started is None:
            return
        self.metrics.record_turn(status, now - st.turn_started, st.platform)
        self.metrics.session_stopped()
        st.turn_started = None
        st.last_outcome = C.TURN_OUTCOMES[status]

    def _expire_turn(self, st: _SessionState) -> None:
        """Give up on the turn in progress: not recorded, no longer active, counted."""
        st.turn_started = None
        st.last_outcome = "abandoned"
        self.metrics.session_stopped()
        self.metrics.expired(C.EXPIRED_TURN)

    def _finish(self, key: Any, now: float, expire_turn: bool = False) -> None:
        st = self._sessions.pop(key, None)
        if st is None:
            return
        if expire_turn and st.turn_started is not None:
            self._expire_turn(st)
        self._end_turn(st, "interrupted", now)
        self.metrics.session_finished(st.steps, st.last_outcome or "abandoned", was_active=False,
                                      platform=st.platform)

    def sweep(self) -> None:
        """Expire pending API requests and turns past their maximum age, and finish sessions idle for
        the idle timeout (with an idle timeout of 0, sessions finish when their turn ends: a session
        with no turn yet is left alone until the turn's maximum age). Runs in the sweeper thread and at
        every scrape; it looks only at the sessions quiet for longer than the shorter of the two ages
        (both tables are kept oldest first)."""
        with self._lock:
            now = self._clock()
            while self._attempts:
                key, start = next(iter(self._attempts.items()))
                if now - start < self.api_request_max_age:
                    break
                del self._attempts[key]
                self.metrics.expired(C.EXPIRED_API_REQUEST)
            idle = self.idle_timeout if self.idle_timeout > 0 else self.turn_max_age
            horizon = min(idle, self.turn_max_age)
            done = []
            for key, st in self._sessions.items():
                quiet = now - st.last_seen
                if quiet < horizon:
                    break  # every later session had a hook more recently
                if st.turn_started is not None and quiet >= self.turn_max_age:
                    self._expire_turn(st)
                if st.turn_started is None and quiet >= idle:
                    done.append(key)
            for key in done:
                self._finish(key, now)

    def finish_all(self) -> None:
        """Finish every open session (at interpreter exit)."""
        with self._lock:
            now = self._clock()
            for key in list(self._sessions):
                self._finish(key, now)

    def start_sweeper(self, interval: Optional[float] = None) -> Optional[threading.Thread]:
        """Run `sweep()` every `interval` seconds (default: sweep_interval_seconds) in a daemon thread,
        so this process finishes its own idle sessions whether or not it serves /metrics."""
        interval = self.sweep_interval if interval is None else interval
        if interval <= 0 or self._stop is not None:
            return None
        stop = self._stop = threading.Event()

        def run() -> None:
            while not stop.wait(interval):
                try:
                    self.sweep()
                except Exception:
                    if "sweep" not in self._logged:
                        self._logged.add("sweep")
                        log.exception("hermes-dash: sweeping sessions failed (logged once)")
        t = threading.Thread(target=run, name="hermes-dash-sweeper", daemon=True)
        t.start()
        return t

    def stop_sweeper(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None

    # -- hooks (called by Hermes with keyword arguments only) -----------------------------------------
    def _on_session_start(self, session_id: Any = "", platform: Any = None, **_: Any) -> None:
        with self._lock:
            self._platform(self._session(session_id, self._clock()), platform)

    def _pre_llm_call(self, session_id: Any = "", platform: Any = None, **_: Any) -> None:
        with self._lock:
            now = self._clock()
            st = self._session(session_id, now)
            self._platform(st, platform)
            self._start_turn(st, now)

    def _pre_api_request(self, session_id: Any = "", api_request_id: Any = None, model: Any = "",
                         provider: Any = None, platform: Any = None, **_: Any) -> None:
        with self._lock:
            now = self._clock()
            st = self._session(session_id, now)
            self._platform(st, platform)
            if st.turn_started is None:  # an API call outside a turn (e.g. a subagent's first call)
                self._start_turn(st, now)
            key = _key(api_request_id)
            self._attempts.pop(key, None)  # a retry reuses the id: it starts again, newest
            while len(self._attempts) >= self.max_attempts:
                self._attempts.popitem(last=False)
                self.metrics.expired(C.EXPIRED_API_REQUEST)
            self._attempts[key] = now
        self.metrics.llm_request(model, provider)

    def _attempt_seconds(self, session_id: Any, api_request_id: Any, fallback: Any) -> Any:
        """Seconds since this attempt's pre_api_request, else Hermes' api_duration (which spans retries;
        the metrics drop it when it is not a finite number >= 0), else 0. Touches the session."""
        with self._lock:
            now = self._clock()
            start = self._attempts.pop(_key(api_request_id), None)
            self._session(session_id, now, create=False)
        if start is not None:
            return now - start
        return 0.0 if fallback is None else fallback

    def _post_api_request(self, session_id: Any = "", api_request_id: Any = None, model: Any = "",
                          provider: Any = None, base_url: Any = None, api_duration: Any = None,
                          finish_reason: Any = None, usage: Any = None, assistant_tool_call_count: Any = 0,
                          **_: Any) -> None:
        seconds = self._attempt_seconds(session_id, api_request_id, api_duration)
        calls = _int(assistant_tool_call_count)
        step_type = "tool_use" if (calls or 0) > 0 or _text(finish_reason) == "tool_calls" else "answer"
        self.metrics.record_step(model, step_type, seconds)
        with self._lock:
            st = self._session(session_id, self._clock(), create=False)
            if st is not None:
                st.steps += 1
        if isinstance(usage, dict):
            counts = _token_types(usage)
            prompt, completion, read, write, reasoning = counts
            self.metrics.record_usage(model, prompt, completion, cache_read_tokens=read, cache_write_tokens=write,
                                      reasoning_tokens=reasoning, provider=provider,
                                      costs=_hermes_costs(model, counts, provider, base_url))
        elif usage is not None:
            self.metrics.dropped(C.NOT_A_NUMBER)  # not a mapping of token counts

    def _api_request_error(self, session_id: Any = "", api_request_id: Any = None, model: Any = "",
                           api_duration: Any = None, status_code: Any = None, reason: Any = None,
                           retryable: Any = None, retry_count: Any = None, max_retries: Any = None,
                           error: Any = None, **_: Any) -> None:
        seconds = self._attempt_seconds(session_id, api_request_id, api_duration)
        self.metrics.record_step(model, "error", seconds)
        self.metrics.record_llm_error(model, error, status_code=status_code, reason=reason)
        # Hermes increments retry_count after this hook and loops while retry_count < max_retries, so
        # this attempt was the last when retry_count + 1 >= max_retries (or the error is not retryable).
        # Hermes then returns early: no on_session_end will close the turn, so close it here. (A
        # provider fallback after the last retry starts a new turn in these metrics.)
        count, most = _int(retry_count), _int(max_retries)
        final = retryable is False or (count is not None and most is not None and count + 1 >= most)
        if final:
            with self._lock:
                now = self._clock()
                st = self._session(session_id, now, create=False)
                if st is not None:
                    self._end_turn(st, "error", now)
                    if self.idle_timeout <= 0:  # one turn, one session: this one failed
                        self._finish(_key(session_id), now)

    def _post_tool_call(self, tool_name: Any = "", duration_ms: Any = None, status: Any = None,
                        error_type: Any = None, **_: Any) -> None:
        s = _TOOL_STATUS.get(_text(status), "error")
        et = _text(error_type)
        if s == "error" and ("timeout" in et or "timed_out" in et):
            s = "timeout"
        elif s == "error" and ("cancel" in et or "interrupt" in et):
            s = "cancelled"
        self.metrics.record_tool_call(tool_name, s, _ms_to_seconds(duration_ms))

    def _on_session_end(self, session_id: Any = "", completed: Any = False, interrupted: Any = False,
                        **_: Any) -> None:
        status = "interrupted" if _flag(interrupted) else ("success" if _flag(completed) else "error")
        with self._lock:
            now = self._clock()
            st = self._session(session_id, now, create=False)
            if st is None or st.turn_started is None:  # nothing to end: never a phantom session
                self.metrics.dropped(C.NO_TURN)
                return
            self._end_turn(st, status, now)
            if self.idle_timeout <= 0:
                self._finish(_key(session_id), now)

    def _on_session_finalize(self, session_id: Any = "", **_: Any) -> None:
        # an unknown session (already finished by the idle timeout, or never seen here): nothing to do
        with self._lock:
            self._finish(_key(session_id), self._clock())

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


def _token_types(usage: dict) -> tuple:
    """Hermes' usage (its CanonicalUsage as a dict) as the catalogue's disjoint token types, in
    catalogue.TOKEN_TYPES order: prompt = input_tokens (Hermes' uncached input), completion =
    output_tokens - reasoning_tokens, cache_read, cache_write, reasoning (at most output_tokens: a
    provider reporting more reasoning than output must not make the sum exceed what was billed). A
    count that is not a number is passed on as it is, for the metrics to drop and count."""
    get = usage.get
    inp, out, read, write, reasoning = (_zero_if_none(get(k)) for k in (
        "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"))
    if "input_tokens" not in usage:  # a usage with only prompt_tokens (input and cache together)
        p, cr, cw = _token_count(get("prompt_tokens")), _token_count(read), _token_count(write)
        inp = get("prompt_tokens") if None in (p, cr, cw) else max(0, p - cr - cw)
    o, r = _token_count(out), _token_count(reasoning)
    if o is not None and r is not None:
        reasoning = min(r, o)
        out = o - reasoning
    return inp, out, read, write, reasoning


def _hermes_costs(model: Any, counts: tuple, provider: Any, base_url: Any) -> Optional[Dict[str, float]]:
    """Hermes' own pricing of one call, by cost type (catalogue.COST_TYPES), from its pricing entry for the
    route (one lookup, cached): each token type at its own price, as Hermes' estimate_usage_cost
    multiplies them (reasoning tokens are output tokens to Hermes: the output price), so a type Hermes has
    no price for (a route without cache-write pricing) is left to the table or counted as unpriced while
    the others are priced; the per-call fee as `request`. None outside Hermes."""
    entry = _pricing_entry(model, provider, base_url)
    if entry is None:  # outside Hermes, or Hermes has no price for the route
        return None
    per_million = {"prompt": entry.input_cost_per_million, "completion": entry.output_cost_per_million,
                   "cache_read": entry.cache_read_cost_per_million,
                   "cache_write": entry.cache_write_cost_per_million, "reasoning": entry.output_cost_per_million}
    out: Dict[str, float] = {}
    try:
        for tt, raw in zip(C.TOKEN_TYPES, counts):
            n, price = _token_count(raw), per_million[tt]
            if n and price is not None:
                out[tt] = float(Decimal(n) * price / _ONE_MILLION)
        fee = getattr(entry, "request_cost", None)
        if fee:
            out[C.COST_REQUEST] = float(fee)
    except Exception:  # an entry of another shape (another Hermes version): the table prices the call
        log.debug("hermes-dash: Hermes' pricing entry for %r is not usable", model, exc_info=True)
        return {}
    return out


_ONE_MILLION = Decimal(1_000_000)
#: [Hermes' get_pricing_entry, or None outside Hermes], looked up once (a failing import searches the
#: whole path each time)
_PRICING: list = []
#: (model, provider, base_url) -> (monotonic expiry, Hermes' pricing entry or None). Hermes looks prices
#: up on the network for some routes (OpenRouter, an OpenAI-compatible /models) and does not cache a
#: failure: one lookup per route every PRICE_TTL_SECONDS at most, never one per LLM call
_PRICE_CACHE: Dict[tuple, tuple] = {}
PRICE_TTL_SECONDS = 600.0
_PRICE_CACHE_MAX = 256


def _pricing_entry(model: Any, provider: Any, base_url: Any) -> Any:
    if not _PRICING:
        try:
            from agent.usage_pricing import get_pricing_entry
            _PRICING.append(get_pricing_entry)
        except ImportError:  # not running inside Hermes
            _PRICING.append(None)
    get_entry = _PRICING[0]
    if get_entry is None:
        return None
    key = tuple(x if isinstance(x, str) else None for x in (model, provider, base_url))
    now = _now()
    hit = _PRICE_CACHE.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    try:
        entry = get_entry(key[0] or "", provider=key[1], base_url=key[2])
    except Exception:  # Hermes' pricing lookup failed: the table prices the call, else it is unpriced
        log.debug("hermes-dash: Hermes could not price %r", model, exc_info=True)
        entry = None
    if len(_PRICE_CACHE) >= _PRICE_CACHE_MAX:
        _PRICE_CACHE.clear()
    _PRICE_CACHE[key] = (now + PRICE_TTL_SECONDS, entry)
    return entry


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


def sweep_interval(configured: float, serves: bool) -> float:
    """How often this process sweeps its sessions: as configured, except that a process serving no
    /metrics (it writes into the daemon's directory) sweeps at the default interval when the config says
    0 (sweep only at scrapes), since nothing ever scrapes it."""
    return configured if configured > 0 or serves else DEFAULT_SWEEP_SECONDS


def is_one_shot(argv: Any) -> bool:
    """Whether this process is `hermes -z` / `--oneshot`: Hermes then leaves by os._exit right after the
    turn's on_session_end, with no on_session_finalize and no atexit (Hermes' own test of its argv)."""
    return any(a in ("-z", "--oneshot") or a.startswith("--oneshot=") for a in argv[1:] if isinstance(a, str))


def _build() -> HermesHooks:
    from prometheus_client import CollectorRegistry
    cfg = load_config()
    mode = plugin_mode(os.environ, cfg.exporter.daemon_grace_seconds)
    metrics = None
    if mode.kind == "daemon":
        try:  # this process's metrics become files in the daemon's directory, which it serves
            store.route_metrics(mode.directory, [m.base_name for m in C.METRICS])
            store.prepare(mode.directory)
            metrics = HermesMetrics(registry=CollectorRegistry(), config=cfg.instrumentation)
        except Exception as e:
            store.unroute([m.base_name for m in C.METRICS])
            log.warning("hermes-dash: cannot write to %s (%s); this process serves its own /metrics", mode.directory, e)
            mode = Mode("single", reason=f"{mode.directory}: {e}")
            metrics = None
    elif mode.kind == "multiprocess":
        prepare_multiprocess_dir(mode.directory)
    if metrics is None:
        metrics = HermesMetrics(registry=CollectorRegistry(), config=cfg.instrumentation)
    _STATE["mode"] = mode
    hooks = HermesHooks(metrics)
    if is_one_shot(sys.argv):  # nothing runs after the turn's on_session_end: finish its session there
        hooks.idle_timeout = 0
    # a process that serves no /metrics is never scraped: "only at scrapes" (0) would mean never there
    hooks.start_sweeper(sweep_interval(cfg.instrumentation.sweep_interval_seconds, mode.serve))
    atexit.register(hooks.finish_all)
    if not mode.serve:
        log.info("hermes-dash: %s", mode.reason)
        return hooks
    address = os.environ.get(ADDR_ENV) or cfg.exporter.address
    try:
        # when another worker of the same gateway serves the shared directory, retry in the background:
        # this worker takes /metrics over when that one dies
        server = _STATE["server"] = MetricsServer(
            metrics.registry, address, before_collect=hooks.sweep,
            retry_seconds=cfg.exporter.bind_retry_seconds, max_label_length=cfg.instrumentation.max_label_length)
        if server.serving:
            log.info("hermes-dash: serving /metrics on http://%s/metrics", address)
    except ValueError as e:  # a bad HERMES_DASH_METRICS_ADDR (the config file's address is validated on load)
        log.error("hermes-dash: %s=%r: %s; /metrics is not served, metrics are still recorded",
                  ADDR_ENV, address, e)
    return hooks
