"""prometheus_client metrics for a Hermes agent, built from the catalogue, with helpers to feed them.

    from prometheus_client import CollectorRegistry
    from hermes_dash.instrumentation import HermesMetrics
    m = HermesMetrics(registry=CollectorRegistry())

    @m.track_tool("web_search")            # sync or async; success / error / timeout / cancelled
    async def web_search(q): ...

    with m.tool_call("read_file"):         # the same as a context manager
        ...
    with m.step("hermes-3-70b") as step:   # timed around the step itself
        step.step_type = "tool_use"
    m.record_usage("hermes-3-70b", prompt_tokens=900, completion_tokens=120, provider="nous")

Label values known in advance are initialised at zero so rate() sees the first increment; values that
come from outside (tool, model and provider names) are bounded per process, and past the bound counted
under `other`. This module does not serve /metrics (``hermes_dash.exporter``) and does not know about
Hermes' hooks (``hermes_dash.plugin``).
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import re
import sys
import threading
import time
from asyncio import CancelledError as _AsyncCancelled
from concurrent.futures import CancelledError as _FutureCancelled
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, TypeVar

from prometheus_client import (REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics)

from . import catalogue as C
from .config import DEFAULT, Instrumentation, Price

F = TypeVar("F", bound=Callable[..., Any])
_perf = time.perf_counter
_INF = float("inf")
_NOT_A_NUMBER, _NOT_FINITE, _NEGATIVE, _TOO_LARGE, _MAX = C.NOT_A_NUMBER, C.NOT_FINITE, C.NEGATIVE, C.TOO_LARGE, C.MAX_SAMPLE

# Exceptions that mean "stopped before it finished" rather than "failed". asyncio.CancelledError is a
# BaseException since 3.8; concurrent.futures has its own.
_CANCELLED = (_AsyncCancelled, _FutureCancelled, KeyboardInterrupt, SystemExit, GeneratorExit)


def tool_status_for(exc: Optional[BaseException]) -> str:
    """The tool-call status an outcome maps to: None is success; timeouts, cancellations, errors.

        tool_status_for(None)              # 'success'
        tool_status_for(TimeoutError())    # 'timeout'
    """
    if exc is None:
        return "success"
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError and socket.timeout are aliases since 3.11
        return "timeout"
    if isinstance(exc, _CANCELLED):
        return "cancelled"
    return "error"


_RATE_LIMIT_WORDS = ("rate limit", "rate_limit", "ratelimit", "too many requests", "quota")
_CONTEXT_WORDS = ("context length", "context_length", "context window", "maximum context",
                  "too many tokens", "context_too_long", "prompt is too long", "reduce the length")
_TIMEOUT_WORDS = ("timeout", "timed out", "deadline")


def classify_llm_error(error: Any = None, *, status_code: Optional[int] = None,
                       reason: Optional[str] = None) -> str:
    """Map an LLM API failure onto the catalogue's error types.

    Uses, in order: Hermes' `reason` (rate_limit, timeout, context_overflow, ...), the HTTP status
    (429 rate limit, 408/504 timeout, 413 context), the exception type, then its message. Arguments
    of the wrong type are ignored; it never raises.

        classify_llm_error(status_code=429)                      # 'rate_limit'
        classify_llm_error(TimeoutError("read timed out"))       # 'timeout'
    """
    r = reason.lower() if isinstance(reason, str) else ""
    if r:
        if "rate" in r or "quota" in r:
            return "rate_limit"
        if "context" in r or "too_long" in r or "overflow" in r:
            return "context_too_long"
        if "timeout" in r or "timed_out" in r:
            return "timeout"
    code = status_code if type(status_code) is int else None
    if code == 429:
        return "rate_limit"
    if code in (408, 504):
        return "timeout"
    if code == 413:
        return "context_too_long"
    if isinstance(error, TimeoutError):
        return "timeout"
    try:
        if isinstance(error, dict):
            text = f"{error.get('type', '')} {error.get('message', '')}".lower()
        elif error is None:
            text = ""
        else:
            text = f"{type(error).__name__} {error}".lower()
    except Exception:  # an error whose str() fails is still an API error
        return "api_error"
    if any(w in text for w in _RATE_LIMIT_WORDS) or "ratelimiterror" in text:
        return "rate_limit"
    if any(w in text for w in _CONTEXT_WORDS):
        return "context_too_long"
    if any(w in text for w in _TIMEOUT_WORDS):
        return "timeout"
    return "api_error"


#: characters a label value may not carry: C0 and C1 controls, DEL, Unicode line separators (some text
#: parsers split lines on them) and surrogates (not encodable as UTF-8: one broke every scrape)
_BAD_LABEL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
REPLACEMENT_CHAR = "\ufffd"
_HASH_HEX = 8  # hex digits of the hash suffix of a truncated value


def label_value_is_clean(value: str, max_length: int) -> bool:
    """True when `value` can be used as a label value unchanged (see `sanitise_label_value`)."""
    return len(value) <= max_length and _BAD_LABEL_CHARS.search(value) is None


def sanitise_label_value(value: str, max_length: int) -> str:
    """`value` made safe as a label value: valid UTF-8 without control characters, at most `max_length`.

    Surrogates, control characters and line separators become U+FFFD; a longer value keeps its first
    characters and ends in `~` and a hash of the whole value, so long values stay distinct:

        sanitise_label_value("web\\ud83d", 128)      # 'web\\ufffd'
        sanitise_label_value("x" * 200, 16)           # 'xxxxxxx~' + 8 hex digits
    Idempotent: a sanitised value is returned unchanged.
    """
    s = _BAD_LABEL_CHARS.sub(REPLACEMENT_CHAR, value)
    if len(s) > max_length:
        digest = hashlib.blake2b(s.encode("utf-8"), digest_size=_HASH_HEX // 2).hexdigest()
        s = s[: max_length - _HASH_HEX - 1] + "~" + digest
    return s


class _Bounded:
    """Maps incoming values of one open label onto at most `limit` distinct values, else `other`.

    Any object is accepted: None and "" are `unknown`, other non-strings their str() (`unknown` when
    that fails); the text is sanitised (`sanitise_label_value`) and each call whose value had to change
    is counted (`on_sanitised`). `on_new(value)` runs once per admitted value (to initialise its series
    at zero), under a lock. `other` itself is always admitted and does not count against the bound.
    The hit path is one dict lookup with no lock. Only exact `str` values that needed no change (and
    None) are cached, and only when admitted: the cache holds at most `limit` + 3 short keys, whatever
    arrives (NaN != NaN would never hit a cache of raw values and grew it without bound).
    """

    __slots__ = ("label", "limit", "max_length", "admitted", "_seen", "_values", "_lock", "_on_new",
                 "_on_overflow", "_on_sanitised")

    def __init__(self, label: str, limit: int, on_new: Callable[[str], None],
                 on_overflow: Callable[[str], None], on_sanitised: Callable[[str], None] = lambda _: None,
                 max_length: int = DEFAULT.instrumentation.max_label_length):
        self.label = label
        self.limit = limit
        self.max_length = max_length
        self.admitted = 0
        self._seen: Dict[Any, str] = {}     # raw value (clean str or None) -> label value
        self._values: Dict[str, str] = {}   # admitted label values
        self._lock = threading.Lock()
        self._on_new = on_new
        self._on_overflow = on_overflow
        self._on_sanitised = on_sanitised

    def __call__(self, value: Any) -> str:
        try:
            return self._seen[value]
        except Exception:  # KeyError; TypeError (unhashable); whatever a hostile __hash__ or __eq__ raises
            return self._admit(value)

    def _clean(self, raw: Any) -> Tuple[str, bool]:
        """(label value, whether the text had to change)."""
        if raw is None:
            return C.UNKNOWN, False
        if type(raw) is str:
            text = raw
        else:
            try:
                text = str(raw)
            except Exception:
                return C.UNKNOWN, True
        if not text:
            return C.UNKNOWN, False
        if label_value_is_clean(text, self.max_length):
            return text, False
        return sanitise_label_value(text, self.max_length), True

    def _admit(self, raw: Any) -> str:
        value, changed = self._clean(raw)
        with self._lock:
            if changed:
                self._on_sanitised(self.label)
            out = self._values.get(value)
            if out is None:
                if value != C.OTHER and self.admitted >= self.limit:
                    if C.OTHER not in self._values:
                        self._on_new(C.OTHER)
                        self._values[C.OTHER] = C.OTHER
                    self._on_overflow(self.label)
                    return C.OTHER  # not cached: every overflowing call is counted
                self._on_new(value)
                self._values[value] = out = value
                self.admitted += value != C.OTHER
            if not changed and (raw is None or type(raw) is str):
                self._seen[raw] = out
        return out


def trace_exemplar() -> Optional[Dict[str, str]]:
    """The exemplar of an observation made now: the trace and span id of the OpenTelemetry span current in
    this thread, when something in the process (a tracing plugin) has imported OpenTelemetry and a valid
    span is current; else None. Never imports OpenTelemetry itself: without it, one dict lookup.

        trace_exemplar()    # {'trace_id': '4bf92f3577b34da6a3ce929d0e0e4736', 'span_id': '00f067aa0ba902b7'}
    """
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    try:
        ctx = trace.get_current_span().get_span_context()
        if not ctx.is_valid:
            return None
        return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}
    except Exception:  # a broken or foreign OpenTelemetry must never cost an observation
        return None


class _ToolTimer:
    """Times and counts one tool call: the one body behind `HermesMetrics.tool_call` (a sync or async
    context manager) and `HermesMetrics.track_tool` (a sync or async decorator, which wraps the call in
    one of these), as prometheus_client's Timer serves both."""

    __slots__ = ("_children", "_start")

    def __init__(self, children):
        self._children = children

    def __enter__(self) -> "_ToolTimer":
        self._start = _perf()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        elapsed = _perf() - self._start
        counters, duration = self._children
        counters["success" if exc is None else tool_status_for(exc)].inc()
        duration.observe(elapsed, trace_exemplar())

    async def __aenter__(self) -> "_ToolTimer":
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb) -> None:
        self.__exit__(exc_type, exc, tb)


class Step:
    """Context manager timing one reasoning step around the step itself (see HermesMetrics.step).

    Set `step_type` inside the block when it is only known at the end; an exception makes it `error`.
    """

    __slots__ = ("_metrics", "model", "step_type", "_start", "duration")

    def __init__(self, metrics: "HermesMetrics", model: str, step_type: str):
        self._metrics = metrics
        self.model = model
        self.step_type = step_type
        self.duration: Optional[float] = None

    def __enter__(self) -> "Step":
        self._start = _perf()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.duration = _perf() - self._start
        step_type = "error" if exc_type is not None else self.step_type
        self._metrics.record_step(self.model, step_type, self.duration)

    async def __aenter__(self) -> "Step":
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb) -> None:
        self.__exit__(exc_type, exc, tb)


#: how a `with m.session()` block ended (tool_status_for of its exception) -> the session's outcome
_SESSION_OUTCOME = {"success": "completed", "cancelled": "interrupted"}


class Session:
    """One agent session: active while open; steps and outcome recorded when it closes.

    Outcome defaults to `completed` on a normal exit, `interrupted` on cancellation, `failed` on an
    exception; set `outcome` inside the block to override it.
    """

    __slots__ = ("_metrics", "steps", "outcome", "platform")

    def __init__(self, metrics: "HermesMetrics", platform: Any = None):
        self._metrics = metrics
        self.steps = 0
        self.outcome: Optional[str] = None
        self.platform = platform

    def step(self, model: str, step_type: str = "answer") -> Step:
        """Time one step of this session and count it."""
        self.steps += 1
        return self._metrics.step(model, step_type)

    def __enter__(self) -> "Session":
        self._metrics.platform_label(self.platform)  # its series exist at zero before the session ends
        self._metrics.session_started()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        outcome = self.outcome
        if outcome is None:
            status = tool_status_for(exc)
            outcome = _SESSION_OUTCOME.get(status, "failed")
        self._metrics.session_finished(self.steps, outcome, platform=self.platform)


class HermesMetrics:
    """Every metric of the catalogue on one registry, and the helpers that feed them.

        m = HermesMetrics(registry=CollectorRegistry(), config=Instrumentation(max_label_values=10))
        m.record_tool_call("search", "timeout", 2.5)
    """

    def __init__(self, registry: Optional[CollectorRegistry] = REGISTRY,
                 config: Instrumentation = DEFAULT.instrumentation):
        # `_created` series double the series count and Prometheus 2.x ignores them in the text format.
        # prometheus_client can only turn them off for the whole process.
        disable_created_metrics()
        self.config = config
        self.registry = registry
        g = {spec.name: _make_metric(spec, registry) for spec in C.METRICS}
        self._tool_calls = g[C.TOOL_CALLS.name]
        self._tool_duration = g[C.TOOL_DURATION.name]
        self._turn_duration = g[C.TURN_DURATION.name]
        self._step_duration = g[C.STEP_DURATION.name]
        self._tokens = g[C.TOKENS.name]
        self._unpriced = g[C.UNPRICED_TOKENS.name]
        self._cost = g[C.COST.name]
        self._llm_errors = g[C.LLM_ERRORS.name]
        self._llm_requests = g[C.LLM_REQUESTS.name]
        self._active = g[C.ACTIVE_SESSIONS.name]
        self._queue = g[C.QUEUE_DEPTH.name]
        self._session_steps = g[C.SESSION_STEPS.name]
        self._sessions = g[C.SESSIONS.name]
        self._turns = g[C.TURNS.name]
        self._overflow = g[C.LABEL_OVERFLOW.name]
        self._hook_errors = g[C.HOOK_ERRORS.name]
        self._sanitised = g[C.LABEL_SANITISED.name]
        self._dropped = {r: g[C.DROPPED_SAMPLES.name].labels(reason=r) for r in C.DROP_REASONS}
        self._expired = {w: g[C.EXPIRED.name].labels(what=w) for w in C.EXPIRED_KINDS}
        # children cached per admitted tool: ({status: counter child}, duration child)
        self._tool_children: Dict[str, Tuple[Dict[str, Any], Any]] = {}
        self._cost_children: Dict[Tuple[str, str], Dict[str, Any]] = {}
        # per admitted model: ({step type: step duration child}, {error type: LLM errors child}, LLM requests
        # child); the hot path looks children up in these instead of calling .labels() (a lock and a tuple)
        self._model_children: Dict[str, Tuple[Dict[str, Any], Dict[str, Any], Any]] = {}
        # per admitted model: ({token type: hermes_tokens_total child}, {token type: unpriced child})
        self._token_children: Dict[str, Tuple[Dict[str, Any], Dict[str, Any]]] = {}
        # per admitted platform: ({outcome: sessions child}, {status: turns child})
        self._platform_children: Dict[str, Tuple[Dict[str, Any], Dict[str, Any]]] = {}
        self._prices: Dict[str, Price] = dict(config.prices)
        limit, length = config.max_label_values, config.max_label_length
        self.tool_label = _Bounded(C.L_TOOL, limit, self._init_tool, self._overflowed, self._sanitised_one,
                                   length)
        self.model_label = _Bounded(C.L_MODEL, limit, self._init_model, self._overflowed,
                                    self._sanitised_one, length)
        self.provider_label = _Bounded(C.L_PROVIDER, limit, lambda v: None, self._overflowed,
                                       self._sanitised_one, length)
        self.platform_label = _Bounded(C.L_PLATFORM, limit, self._init_platform, self._overflowed,
                                       self._sanitised_one, length)
        self._init_closed_sets()
        for t in config.known_tools:
            self.tool_label(t)
        for mdl in config.known_models:
            self.model_label(mdl)

    # -- series initialisation ------------------------------------------------------------------------
    def _init_closed_sets(self) -> None:
        self._turn_children = {status: self._turn_duration.labels(status=status) for status in C.TURN_STATUSES}
        for label in C.OPEN_LABELS:
            self._overflow.labels(label=label)
            self._sanitised.labels(label=label)
        for hook in C.HERMES_HOOKS:
            self._hook_errors.labels(hook=hook)

    def _init_tool(self, tool: str) -> None:
        counters = {s: self._tool_calls.labels(tool_name=tool, status=s) for s in C.TOOL_STATUSES}
        self._tool_children[tool] = (counters, self._tool_duration.labels(tool_name=tool))

    def _init_model(self, model: str) -> None:
        self._token_children[model] = ({tt: self._tokens.labels(model=model, token_type=tt) for tt in C.TOKEN_TYPES},
                                       {tt: self._unpriced.labels(model=model, token_type=tt) for tt in C.TOKEN_TYPES})
        self._model_children[model] = (
            {st: self._step_duration.labels(model=model, step_type=st) for st in C.STEP_TYPES},
            {et: self._llm_errors.labels(model=model, error_type=et) for et in C.LLM_ERROR_TYPES},
            self._llm_requests.labels(model=model))

    def _init_platform(self, platform: str) -> None:
        self._platform_children[platform] = (
            {o: self._sessions.labels(outcome=o, platform=platform) for o in C.SESSION_OUTCOMES},
            {s: self._turns.labels(platform=platform, status=s) for s in C.TURN_STATUSES})

    def _overflowed(self, label: str) -> None:
        self._overflow.labels(label=label).inc()

    def _sanitised_one(self, label: str) -> None:
        self._sanitised.labels(label=label).inc()

    # -- numbers --------------------------------------------------------------------------------------
    def sample(self, x: Any) -> Optional[float]:
        """`x` as a float when it is a number from 0 to catalogue.MAX_SAMPLE (1e15); else None, and the drop
        counted by reason.

        Every number that reaches a metric passes here (tool-timer and step durations measured by this
        module are differences of perf_counter and need not): a negative duration would lower a
        histogram's _sum, a NaN or an infinity would stay in it for good.

            m.sample(1.5)            # 1.5
            m.sample(float("nan"))   # None; hermes_dropped_samples_total{reason="not_finite"} += 1
        """
        t = type(x)
        if t is float or t is int:
            try:
                f = float(x)
            except OverflowError:  # an int beyond float range
                self._dropped[_NOT_FINITE].inc()
                return None
        elif t is bool or isinstance(x, (str, bytes, bytearray)) or x is None:
            self._dropped[_NOT_A_NUMBER].inc()
            return None
        else:  # Decimal, Fraction, numpy scalars ...
            try:
                f = float(x)
            except OverflowError:
                self._dropped[_NOT_FINITE].inc()
                return None
            except Exception:
                self._dropped[_NOT_A_NUMBER].inc()
                return None
        if 0.0 <= f <= _MAX:
            return f
        self._dropped[_NEGATIVE if -_INF < f < 0.0 else _TOO_LARGE if _MAX < f < _INF else _NOT_FINITE].inc()
        return None

    def dropped(self, reason: str) -> None:
        """Count one input dropped for `reason` (one of catalogue.DROP_REASONS)."""
        self._dropped[reason].inc()

    def expired(self, what: str) -> None:
        """Count one turn, pending API request or session given up on (catalogue.EXPIRED_KINDS)."""
        self._expired[what].inc()

    def _cost_children_of(self, model: str, provider: str) -> Dict[str, Any]:
        """{cost type: counter child} of one model and provider, created (at zero) on first use."""
        key = (model, provider)
        children = self._cost_children.get(key)
        if children is None:
            children = self._cost_children.setdefault(key, {t: self._cost.labels(model=model, provider=provider,
                                                                                 token_type=t)
                                                            for t in C.COST_TYPES})
        return children

    # -- tools ----------------------------------------------------------------------------------------
    def tool_call(self, tool_name: str) -> _ToolTimer:
        """Context manager (sync or async) timing and counting one call of `tool_name`."""
        return _ToolTimer(self._tool_children[self.tool_label(tool_name)])

    def track_tool(self, tool_name: str) -> Callable[[F], F]:
        """Decorator for a sync or async tool function: each call runs inside `tool_call(tool_name)`."""
        children, label = self._tool_children, self.tool_label

        def decorator(func: F) -> F:
            if inspect.iscoroutinefunction(func):
                @functools.wraps(func)
                async def awrapper(*args, **kwargs):
                    with _ToolTimer(children[label(tool_name)]):
                        return await func(*args, **kwargs)
                return awrapper  # type: ignore[return-value]

            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                with _ToolTimer(children[label(tool_name)]):
                    return func(*args, **kwargs)
            return wrapper  # type: ignore[return-value]
        return decorator

    def record_tool_call(self, tool_name: str, status: str, seconds: float) -> None:
        """Record a tool call timed elsewhere (Hermes' post_tool_call hook). The call counts whatever
        `seconds` is; a duration that is not a finite number >= 0 is dropped (and counted)."""
        counters, duration = self._tool_children[self.tool_label(tool_name)]
        counters[status].inc()
        s = self.sample(seconds)
        if s is not None:
            duration.observe(s, trace_exemplar())

    # -- steps, turns, sessions -----------------------------------------------------------------------
    def step(self, model: str, step_type: str = "answer") -> Step:
        """Context manager timing one reasoning step; set `.step_type` inside when known late."""
        return Step(self, model, step_type)

    def record_step(self, model: str, step_type: str, seconds: float) -> None:
        """One reasoning step timed elsewhere; a bad duration is dropped (and counted)."""
        m = self.model_label(model)
        child = self._model_children[m][0].get(step_type) or self._step_duration.labels(model=m, step_type=step_type)
        s = self.sample(seconds)
        if s is not None:
            child.observe(s, trace_exemplar())

    def record_turn(self, status: str, seconds: float, platform: Any = None) -> None:
        """One agent turn (the seed's "request"): status success, error or interrupted, from Hermes'
        `platform` (None or "": unknown). The turn counts whatever `seconds` is; a duration that is not
        a finite number >= 0 is dropped (and counted)."""
        self._platform_children[self.platform_label(platform)][1][status].inc()
        s = self.sample(seconds)
        if s is not None:
            (self._turn_children.get(status) or self._turn_duration.labels(status=status)).observe(s, trace_exemplar())

    def session(self, platform: Any = None) -> Session:
        """Context manager for one session: active while open, steps and outcome recorded at close,
        counted under `platform` (where the session came from: cli, telegram, ...; None: unknown)."""
        return Session(self, platform)

    def session_started(self) -> None:
        """One more active session (the plugin: a session's turn began)."""
        self._active.inc()

    def session_stopped(self) -> None:
        """One active session fewer, not finished yet (the plugin: a turn ended, the session idles)."""
        self._active.dec()

    def session_finished(self, steps: int, outcome: str, *, was_active: bool = True,
                         platform: Any = None) -> None:
        """One finished session: its step count, outcome and Hermes platform (None or "": unknown);
        `was_active`: it was counted as active."""
        if was_active:
            self._active.dec()
        s = self.sample(steps)
        if s is not None:
            self._session_steps.observe(s)
        self._platform_children[self.platform_label(platform)][0][outcome].inc()

    def set_active_sessions(self, n: int) -> None:
        s = self.sample(n)
        if s is not None:
            self._active.set(s)

    def set_queue_depth(self, n: int) -> None:
        """Messages waiting for an agent in this process; a value that is not a finite number >= 0 is
        dropped (and counted)."""
        s = self.sample(n)
        if s is not None:
            self._queue.set(s)

    # -- LLM calls, tokens, cost ----------------------------------------------------------------------
    def llm_request(self, model: str, provider: Optional[str] = None) -> None:
        """Count one LLM API call attempt (the denominator of the LLM error rate)."""
        m = self.model_label(model)
        self._model_children[m][2].inc()
        self._cost_children_of(m, self._provider(provider))

    def record_llm_error(self, model: str, error: Any = None, *, status_code: Optional[int] = None,
                         reason: Optional[str] = None) -> str:
        """Count one failed LLM call attempt; returns the error type it was classified as."""
        et = classify_llm_error(error, status_code=status_code, reason=reason)
        self._model_children[self.model_label(model)][1][et].inc()
        return et

    def _provider(self, provider: Any) -> str:
        if provider is None or (type(provider) is str and not provider):
            provider = self.config.default_provider
        return self.provider_label(provider)

    def price(self, model: Any) -> Optional[Price]:
        """The configured per-token price of `model`, or None (also for a model that is not a string)."""
        return self._prices.get(model) if type(model) is str else None

    def record_usage(self, model: str, prompt_tokens: Any = 0, completion_tokens: Any = 0, *,
                     cache_read_tokens: Any = 0, cache_write_tokens: Any = 0, reasoning_tokens: Any = 0,
                     provider: Optional[str] = None, costs: Optional[Mapping[str, Any]] = None) -> Optional[float]:
        """Count one LLM call's tokens by type and their cost; returns the cost in USD, or None when some
        of its tokens could not be priced.

        The counts are disjoint (catalogue.TOKEN_TYPES): `prompt_tokens` is the input neither read from
        nor written to the prompt cache, `completion_tokens` the output less `reasoning_tokens`. Each
        type is priced from `costs` (USD by token type, e.g. Hermes' own pricing; key "request" for a
        per-call fee), else from the config's price table, else its tokens are also counted in
        hermes_unpriced_tokens_total, so a missing price is visible, never $0. A number that is not a
        finite number >= 0 is dropped and counted (never raised): a bad token count counts as 0, a bad
        cost as if none was given.

            m.record_usage("gpt-x", 300, 100, cache_read_tokens=600, reasoning_tokens=200, provider="openai")
        """
        m = self.model_label(model)
        tokens, unpriced = self._token_children[m]
        spent = self._cost_children_of(m, self._provider(provider))
        table = self.price(model)
        if costs is not None and not isinstance(costs, Mapping):
            self._dropped[_NOT_A_NUMBER].inc()
            costs = None
        total, complete = 0.0, True
        for tt, raw in zip(C.TOKEN_TYPES, (prompt_tokens, completion_tokens, cache_read_tokens,
                                           cache_write_tokens, reasoning_tokens)):
            n = self.sample(raw)
            if not n:
                continue
            tokens[tt].inc(n)
            usd = costs.get(tt) if costs else None
            usd = None if usd is None else self.sample(usd)
            if usd is None and table is not None:
                per = table.of(tt)
                usd = None if per is None else n * per
            if usd is None:
                unpriced[tt].inc(n)
                complete = False
            else:
                spent[tt].inc(usd)
                total += usd
        fee = costs.get(C.COST_REQUEST) if costs else None
        fee = self.sample(fee) if fee is not None else (table.request if table is not None else None)
        if fee:
            spent[C.COST_REQUEST].inc(fee)
            total += fee
        return total if complete else None

    # -- the exporter's own health --------------------------------------------------------------------
    def hook_failed(self, hook: str) -> None:
        self._hook_errors.labels(hook=hook).inc()


def _make_metric(spec: C.Metric, registry: Optional[CollectorRegistry]):
    kw: Dict[str, Any] = dict(labelnames=spec.labels, registry=registry)
    if spec.type == C.COUNTER:
        return Counter(spec.base_name, spec.help, **kw)
    if spec.type == C.GAUGE:
        return Gauge(spec.name, spec.help, multiprocess_mode=spec.multiprocess_mode or "all", **kw)
    if spec.type == C.HISTOGRAM:
        return Histogram(spec.name, spec.help, buckets=spec.buckets, **kw)
    raise ValueError(f"unknown metric type {spec.type!r} for {spec.name}")
