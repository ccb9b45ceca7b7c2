"""Validate dashboard JSON against Grafana 13.2.3's own types, held closed: one readable line per problem.

    problems = validate(json.load(open("dashboards/cost.json")))
    # ['$.panels[3].maxDataPoints: unexpected key (not in Panel.stat)', ...]

The schema (`schemas/grafana-dashboard.schema.json` beside this module, made by scripts/grafana-schema.sh) composes
`@grafana/schema`'s Dashboard, RowPanel, Panel and VariableModel with each panel plugin's Options and
FieldConfig and `@grafana/prometheus`'s PromQuery, every object closed where the TypeScript type is
closed, widened only where Grafana's save code writes keys the types omit (listed in its `x-widened`).
Grafana itself cannot run where this is built; this is the most authoritative offline import check.
Messages name the closed type that rejects a key, and for a oneOf/anyOf the closest alternative.
"""
from __future__ import annotations

import collections
import functools
import json
import os
import re
from typing import Any, Dict, Iterator, List, NamedTuple, Tuple

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "schemas", "grafana-dashboard.schema.json")


@functools.lru_cache(maxsize=1)
def schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return json.load(f)


class Problem(NamedTuple):
    path: Tuple[Any, ...]   # instance path (keys / indices)
    message: str

    def __str__(self) -> str:
        return f"{json_path(self.path)}: {self.message}"


def json_path(path) -> str:
    """$.panels[3].options, as a reader would write it."""
    out = "$"
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p):
            out += f".{p}"
        else:
            out += f"[{json.dumps(p)}]"
    return out


def _short(value: Any, limit: int = 60) -> str:
    s = json.dumps(value, sort_keys=True)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _problems(err, names: Dict[int, str]) -> Iterator[Problem]:
    path, v = tuple(err.absolute_path), err.validator
    owner = names.get(id(err.schema))
    if v == "additionalProperties" and isinstance(err.instance, dict):
        props, patterns = err.schema.get("properties", {}), err.schema.get("patternProperties", {})
        suffix = f" (not in {owner})" if owner else ""
        for key in sorted(err.instance):
            if key not in props and not any(re.search(p, key) for p in patterns):
                yield Problem(path + (key,), f"unexpected key{suffix}")
    elif v == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        yield Problem(path, f"missing required key '{missing}'" + (f" (required by {owner})" if owner else ""))
    elif v in ("anyOf", "oneOf"):
        yield from _alternatives(err, names)
    elif v == "const":
        yield Problem(path, f"{_short(err.instance)} is not {_short(err.validator_value)}")
    elif v == "enum":
        yield Problem(path, f"{_short(err.instance)} is not one of [{', '.join(_short(x, 30) for x in err.validator_value)}]")
    elif v == "type":
        yield Problem(path, f"{_short(err.instance)} is not of type {err.validator_value!r}")
    else:
        yield Problem(path, f"{err.message} [{v}]")


def _alternatives(err, names: Dict[int, str]) -> Iterator[Problem]:
    """anyOf/oneOf: alternatives rejected on the instance's own JSON type are left out; when every other
    fails on one const/enum at one place (a discriminator) the allowed values are merged; else the
    alternative with the fewest, deepest errors is reported."""
    v, path = err.validator, tuple(err.absolute_path)
    by_alt: Dict[int, list] = collections.defaultdict(list)
    for sub in err.context or ():
        by_alt[sub.schema_path[0] if sub.schema_path else -1].append(sub)
    same_type = {i: errs for i, errs in by_alt.items()
                 if not any(e.validator == "type" and tuple(e.absolute_path) == path for e in errs)}
    if not same_type:
        yield Problem(path, f"{_short(err.instance)} matches no alternative of {v} (wrong JSON type)")
        return
    singles = [errs[0] for errs in same_type.values() if len(errs) == 1 and errs[0].validator in ("const", "enum")]
    if len(singles) == len(same_type) and len({tuple(e.absolute_path) for e in singles}) == 1:
        allowed: List[Any] = []
        for e in singles:
            allowed += [e.validator_value] if e.validator == "const" else list(e.validator_value)
        yield Problem(tuple(singles[0].absolute_path), f"{_short(singles[0].instance)} is not one of "
                      f"[{', '.join(_short(a, 30) for a in allowed)}] (no alternative of {v} matched)")
        return
    best = min(same_type.values(), key=lambda errs: (len(errs), -max(len(e.absolute_path) for e in errs)))
    for sub in sorted(best, key=lambda e: list(map(str, e.absolute_path))):
        for p in _problems(sub, names):
            yield Problem(p.path, f"{p.message} (closest alternative of {v})")


def validate(dashboard: Any) -> List[str]:
    """Every problem of `dashboard` as "JSON path: message", sorted; [] when Grafana's types accept it."""
    import jsonschema
    s = schema()
    validator = jsonschema.validators.validator_for(s, default=jsonschema.Draft7Validator)(s)
    names = {id(body): name for name, body in s.get("definitions", {}).items()}
    seen, out = set(), []
    for err in validator.iter_errors(dashboard):
        for p in _problems(err, names):
            if (p.path, p.message) not in seen:
                seen.add((p.path, p.message))
                out.append(p)
    return [str(p) for p in sorted(out, key=lambda p: (json_path(p.path), p.message))]
