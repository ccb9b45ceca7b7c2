"""Adversarial config values, a standing suite: hypothesis writes hostile values (quotes, backslashes, `$`,
`{{`, newlines, NUL, surrogates, huge strings and numbers, NaN-ish strings, negative numbers, absurd
durations) into one or two fields of a config file. Property: the file is refused cleanly — a ConfigError
of one short line `FILE: key: problem` whose key is one of the fields written — or everything it generates
is accepted by the real tools: `promtool check config` (which checks both rule files), `amtool check-config`,
promtool on every dashboard query, Grafana's dashboard schema; and every `job` matcher of every rule and
query selects exactly the configured jobs, the ones prometheus.yml scrapes. The promtool and amtool calls
are batched: one call each for all accepted examples."""
import collections.abc
import dataclasses
import json
import os
import re
import subprocess
from typing import Mapping, get_args, get_origin, get_type_hints

import promql_parser
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from hermes_dash.build import grafana_schema, generated_files, write_all
from hermes_dash.build.deploy import ALERTMANAGER_FILE, PROMETHEUS_FILE
from hermes_dash.build.lint import _nodes, dashboard_exprs, expand_macros, promtool_check_exprs
from hermes_dash.build.rules import ALERTS_FILE, RECORDING_FILE
from hermes_dash.config import Config, ConfigError, Duration, config_from_mapping, parse_yaml

from conftest import require_tool

#: examples per run (HERMES_DASH_ADVERSARIAL_EXAMPLES raises it for a longer hunt)
EXAMPLES = int(os.environ.get("HERMES_DASH_ADVERSARIAL_EXAMPLES", "500"))
NAME = "adversarial.yml"


def fields(cls=Config, prefix=""):
    """(dotted key, type) of every leaf field of the config, by walking the dataclasses."""
    out = []
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, tp = f"{prefix}{f.name}", hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += fields(tp, key + ".")
        else:
            out.append((key, tp))
    return out


FIELDS = fields()

#: pieces hostile strings are made of: what ends or escapes a PromQL/YAML/JSON string, what Grafana or
#: Go templates expand, separators, invisible and unencodable code points
FRAGMENTS = ["a", "Z", "0", "-", "_", ".", "|", "\\", '"', "'", "$", "${x}", "[[x]]", "{{", "}}", "{{ .X }}",
             '{{ with query "up" }}', "\n", "\r", "\t", "\x00", "\x7f", "\ud800", "\u202e", "\u2028", "\ufeff",
             "\uffff", " ", "é", "😀", "#", "@", ":", "/", "%", "{", "}", "*", "+", "?", "(", ")", "^", ",", "=",
             "~", "!", "&", "*x", "&x", "- ", ": ", "#x", "now", "-6h", "/d", ":9464", "[::1]", "127.0.0.1",
             "https://", "http://", "ftp://", "user:pw@", "example.org"]
#: beginnings that make a hostile string plausible for the field, so acceptances are common too
PREFIXES = {
    "alerting.runbook_url_base": ["https://x.example/", "http://h.example:8080/p?q=", "https://"],
    "grafana.time_from": ["now-", "now", "now-6h/"],
    "routing.slack_platform_channel": ["#"], "routing.slack_finance_channel": ["#"],
    "routing.secrets_dir": ["/etc/", "secrets/"],
    "prometheus.targets": ["agent.example:", "127.0.0.1:", "[::1]:"],
    "prometheus.alertmanagers": ["am.example:", "[fe80::1]:"],
    "exporter.address": ["127.0.0.1:", "0.0.0.0:"],
    "selectors.job": ["hermes-", "a.b|", "x\\|"],
}

fragments = st.lists(st.sampled_from(FRAGMENTS), max_size=6).map("".join)
#: pieces that are awkward but legitimate in most strings: escaping must carry them through
MILD = st.lists(st.sampled_from(["a", "Z", "0", "-", "_", ".", "\\", "é", "😀", "%", "+", "*", "(", "'", "/", "9"]),
                max_size=6).map("".join)


def text_for(key):
    prefix = st.sampled_from(PREFIXES.get(key, [""]))
    return st.one_of(
        fragments,
        st.builds(lambda p, s: p + s, prefix, fragments),
        st.builds(lambda p, s, n: p + s + n, prefix, MILD, st.sampled_from(["", "9464", "1"])),
        st.sampled_from(PREFIXES.get(key, ["plain"])),
        st.text(st.characters(codec=None, categories=None), max_size=12),
        st.sampled_from(["x" * 1025, "é" * 1024, "", " ", "NaN"]),
    )


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=1),
    st.integers(min_value=-10 ** 20, max_value=10 ** 20),
    st.sampled_from([0, 1, 2, 60, 1e15, 1e15 + 2, 10 ** 15 + 1, 10 ** 400, -0.0, 5e-324]),
    st.sampled_from(["NaN", "nan", "1e999", ".inf", "-1", "5%", "1_000", "0x10", True, None, [], {}]),
)
UNITS = ["y", "w", "d", "h", "m", "s", "ms"]
durations = st.one_of(
    st.builds(lambda parts: "".join(f"{n}{u}" for u, n in sorted(parts.items(), key=lambda p: UNITS.index(p[0]))),
              st.dictionaries(st.sampled_from(UNITS), st.integers(0, 400), min_size=1, max_size=3)),
    st.sampled_from(["0s", "0", "1h30m", "292y24w3d23h47m16s854ms", "292y24w3d23h47m16s855ms", "293y",
                     "999999999999999999999y", "9" * 400 + "s", "1.5h", "-5m", "5 m", "5M", "", "1d1d", "1ms"]),
    st.text(max_size=5),
    st.integers(-5, 10 ** 6),
)


def value_for(key, tp):
    """A strategy of hostile values for a field of type `tp`."""
    if tp is Duration:
        return durations
    if tp in (int, float):
        return numbers
    if tp is str:
        return text_for(key)
    if tp is bool:
        return st.one_of(st.booleans(), st.sampled_from(["yes", 1, None]))
    origin, args = get_origin(tp), get_args(tp)
    if origin is tuple and dataclasses.is_dataclass(args[0]):  # slo.page / slo.ticket: burn windows
        window = st.fixed_dictionaries({"factor": numbers, "long": durations, "short": durations})
        plausible = st.builds(lambda f, s, l: {"factor": f, "short": f"{s}m", "long": f"{s + l}m"},
                              st.floats(0, 100), st.integers(1, 10 ** 6), st.integers(1, 10 ** 6))
        return st.one_of(st.lists(window, max_size=3), st.lists(plausible, min_size=1, max_size=4), st.just([{"factor": 2, "long": "1h", "short": "5m"}] * 11),
                         text_for(key))
    if origin is tuple:
        return st.one_of(st.lists(value_for(key, args[0]), max_size=3), text_for(key))
    if origin in (Mapping, dict, collections.abc.Mapping):
        price = st.fixed_dictionaries({"prompt": numbers, "completion": numbers})
        return st.one_of(st.dictionaries(text_for(key), price, max_size=2), text_for(key))
    raise AssertionError(f"no strategy for {key}: {tp!r}")


#: the strings that reach generated files verbatim are drawn four times as often
OUTPUT_STRINGS = {"selectors.job", "alerting.runbook_url_base", "routing.slack_platform_channel",
                  "routing.slack_finance_channel", "routing.secrets_dir", "grafana.datasource", "grafana.time_from",
                  "prometheus.targets", "prometheus.alertmanagers"}
WEIGHTED = FIELDS + [f for f in FIELDS if f[0] in OUTPUT_STRINGS] * 3


@st.composite
def configs(draw):
    """A config file setting one or two fields to hostile values; (the mapping, the keys it sets)."""
    chosen = draw(st.lists(st.sampled_from(WEIGHTED), min_size=1, max_size=2, unique_by=lambda f: f[0]))
    data: dict = {}
    for key, tp in chosen:
        *sections, leaf = key.split(".")
        node = data
        for s in sections:
            node = node.setdefault(s, {})
        node[leaf] = draw(value_for(key, tp))
    return data, tuple(k for k, _ in chosen)


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def job_matchers(expr):
    """(op, value) of every `job` matcher in a PromQL expression, as the parser unquotes it."""
    ast = promql_parser.parse(expand_macros(expr))
    return [(str(m.op), m.value) for n in _nodes(ast) if isinstance(n, promql_parser.VectorSelector)
            for m in n.matchers.matchers if m.name == "job"]


def check_job_matchers(expr, jobs, where):
    """Every job matcher selects exactly `jobs` (several: a regex matching each and no near miss)."""
    for op, value in job_matchers(expr):
        if op == "MatchOp.Equal":
            assert value in jobs, (where, value, jobs)
        else:
            assert op == "MatchOp.Re" and len(jobs) > 1, (where, op, value)
            rx = re.compile(value)
            for j in jobs:
                assert rx.fullmatch(j), (where, value, j)
                for near in (j + "x", "x" + j, j[:-1], j + "\\", j.replace(".", "X")):
                    assert near in jobs or not rx.fullmatch(near), (where, value, near)


def accepted_output_holds(cfg, files):
    """In-process checks of one accepted config's output; its dashboard queries for the promtool batch."""
    jobs = cfg.selectors.jobs
    prom = yaml.safe_load(files[f"deploy/{PROMETHEUS_FILE}"])
    agents = [j for j in prom["scrape_configs"] if j["job_name"] == jobs[0]]
    # the static targets, exactly (no static job when only target files or Kubernetes find the agents)
    assert [t for j in agents for s in j.get("static_configs", []) for t in s["targets"]] == \
        list(cfg.prometheus.targets)
    am = yaml.safe_load(files[f"deploy/{ALERTMANAGER_FILE}"])
    channels = {r["name"]: r["slack_configs"][0]["channel"] for r in am["receivers"] if "slack_configs" in r}
    assert set(channels.values()) <= {cfg.routing.slack_platform_channel, cfg.routing.slack_finance_channel}
    for name in (RECORDING_FILE, ALERTS_FILE):
        for group in yaml.safe_load(files[f"rules/{name}"])["groups"]:
            for rule in group["rules"]:
                check_job_matchers(rule["expr"], jobs, rule.get("record") or rule.get("alert"))
                if "alert" in rule:
                    assert rule["annotations"]["runbook_url"] == \
                        f"{cfg.alerting.runbook_url_base}#{rule['alert'].lower()}"
    exprs = []
    for path, text in files.items():
        if path.endswith(".json"):
            d = json.loads(text)
            errors = grafana_schema.validate(d)
            assert errors == [], (path, errors[:3])
            ds = next(v for v in d["templating"]["list"] if v["name"] == "datasource")
            assert ds["current"]["value"] == cfg.grafana.datasource
            assert d["time"]["from"] == cfg.grafana.time_from
            for where, expr in dashboard_exprs(d):
                if where.endswith((': variable "job"', f': variable "{cfg.selectors.cluster_label}"')):
                    # the job picker (and the cluster picker before it) offers exactly the configured jobs
                    check_job_matchers(expr, jobs, where)
                else:  # everything else follows the picker
                    assert set(job_matchers(expr)) <= {("MatchOp.Re", "$job")}, (where, expr)
                exprs.append((where, expr))
    return exprs


def refusal_holds(message, keys):
    """A refusal is one short line `FILE: key: problem` naming one of the keys written (or a part of one)."""
    assert "\n" not in message and len(message) <= 400, message
    assert message.startswith(f"{NAME}: "), message
    key, sep, problem = message[len(NAME) + 2:].partition(": ")
    assert sep and problem, message
    assert any(key == k or key.startswith((k + ".", k + "[")) for k in keys), (keys, message)


def test_hostile_config_values_are_refused_or_accepted_by_the_real_tools(tmp_path):
    """For every field, hostile values are refused with `FILE: key: problem` naming that field, or their
    generated rules, prometheus.yml, alertmanager.yml and dashboards pass promtool, amtool and Grafana's
    schema, with every job matcher selecting exactly the configured jobs."""
    accepted, refused, seen_fields = [], [], set()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(example=configs())
    def one(example):
        data, keys = example
        text = yaml.dump(data, Dumper=_NoAliases, allow_unicode=False)
        try:
            cfg = config_from_mapping(parse_yaml(text, NAME), NAME)
        except ConfigError as e:
            refusal_holds(str(e), keys)
            refused.append(keys)
            return
        files = generated_files(cfg)
        exprs = accepted_output_holds(cfg, files)
        if len(accepted) < 120 and not any(a[0] == files for a in accepted):
            accepted.append((files, exprs, text))
        seen_fields.update(keys)

    one()
    assert len(refused) >= EXAMPLES // 4 and len(accepted) >= 20, (len(refused), len(accepted))
    # the real tools, one call each over every accepted example
    trees = []
    for i, (files, _, text) in enumerate(accepted):
        root = tmp_path / f"c{i:03d}"
        write_all(str(root), files)
        without_kubernetes_sd(root / "deploy" / PROMETHEUS_FILE)
        (root / NAME).write_text(text)
        trees.append(root)
    promtool, amtool = require_tool("promtool"), require_tool("amtool")
    for cmd, rel in (([promtool, "check", "config"], f"deploy/{PROMETHEUS_FILE}"),
                     ([amtool, "check-config"], f"deploy/{ALERTMANAGER_FILE}")):
        r = subprocess.run(cmd + [str(t / rel) for t in trees], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, failing_configs(r.stdout + r.stderr, trees)
    exprs = [(f"{t.name}: {w}", e) for t, (_, ex, _) in zip(trees, accepted) for w, e in ex]
    assert promtool_check_exprs(exprs, promtool) == []


def without_kubernetes_sd(path):
    """Debian's Prometheus 2.42 is built without kubernetes_sd_configs: a pod-discovery job's discovery is
    given as a target file instead (its relabelling kept), so promtool checks the rest of it."""
    data = yaml.safe_load(path.read_text())
    for job in data["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["file_sd_configs"] = [{"files": ["pods/*.json"]}]
    path.write_text(yaml.safe_dump(data, allow_unicode=True))


def failing_configs(output, trees):
    """The tools' complaints (promtool: a `PATH: problem` line after FAILED; amtool: `Checking 'PATH'  FAILED:
    problem`), each with the config text of the example it names, for the failure message."""
    complaints = [l.strip() for l in output.splitlines()
                  if l.strip().startswith(str(trees[0].parent)) or re.search(r"FAILED: \S", l)][:10]
    named = [t for t in trees if any(f"/{t.name}/" in c for c in complaints)]
    return "\n".join(complaints + [f"{t.name}: {(t / NAME).read_text()!r}" for t in named[:5]])


def test_every_field_has_a_hostile_strategy():
    """Each leaf field of the config (walked from the dataclasses, so new fields join by themselves) gets a
    strategy: the suite cannot silently skip a field, and a field of a new type fails here by name."""
    assert len(FIELDS) >= 57
    assert [k for k, tp in FIELDS if value_for(k, tp) is None] == []
