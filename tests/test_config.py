"""Config files: overrides apply; bad files fail naming the file and the key."""
import json

import pytest

from hermes_dash.config import DEFAULT, ConfigError, Price, load_config


def write(tmp_path, text):
    p = tmp_path / "hermes-dash.yml"
    p.write_text(text)
    return str(p)


def test_defaults_without_a_file(monkeypatch):
    """No path and no HERMES_DASH_CONFIG gives the defaults."""
    monkeypatch.delenv("HERMES_DASH_CONFIG", raising=False)
    assert load_config(None) == DEFAULT


def test_overrides_apply(tmp_path, monkeypatch):
    """Keys in the file override the defaults; the rest stay; the env var names the file."""
    p = write(tmp_path, "instrumentation:\n  max_label_values: 5\n  prices:\n"
                        "    m: {prompt: 1.0e-6, completion: 2.0e-6}\n  known_tools: [a, b]\n")
    monkeypatch.setenv("HERMES_DASH_CONFIG", p)
    cfg = load_config()
    assert cfg.instrumentation.max_label_values == 5
    assert cfg.instrumentation.prices == {"m": Price(prompt=1e-6, completion=2e-6)}
    assert cfg.instrumentation.known_tools == ("a", "b")
    assert cfg.exporter == DEFAULT.exporter


@pytest.mark.parametrize("text, key, what", [
    ("instrumentation:\n  max_labels: 3\n", "instrumentation.max_labels", "unknown key"),
    ("instrumentation:\n  max_label_values: many\n", "instrumentation.max_label_values", "expected a number"),
    ("instrumentation:\n  max_label_values: -1\n", "instrumentation.max_label_values", ">= 0"),
    ("instrumentation:\n  max_label_values: 0\n", "instrumentation.max_label_values", "at least 1"),
    ("instrumentation:\n  prices:\n    m: {prompt: 1}\n", "instrumentation.prices.m", "completion"),
    ("instrumentation:\n  prices:\n    m: {prompt: -1, completion: 1}\n",
     "instrumentation.prices.m.prompt", ">= 0"),
    ("exporter:\n  address: localhost\n", "exporter.address", "HOST:PORT"),
    ("- a list\n", "<top>", "expected a mapping"),
    ("instrumentation: [\n", "", "not valid YAML"),
])
def test_bad_files_name_file_and_key(tmp_path, text, key, what):
    """Each kind of bad file raises ConfigError naming the file, the dotted key and the problem."""
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert msg.startswith(p + ": ")
    if key:
        assert f": {key}: " in msg
    assert what in msg


def test_missing_file(tmp_path):
    """A path that does not exist is an error naming it."""
    with pytest.raises(ConfigError, match="nope.yml: cannot read"):
        load_config(str(tmp_path / "nope.yml"))


# -- the file itself: size, encoding, YAML features a config never needs ---------------------------------

#: billion laughs: 9 anchors, each a list of 9 aliases of the one before; under a known key
BOMB = 'selectors:\n  job:\n  - &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"  - &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def test_yaml_bomb_is_refused_at_its_first_anchor(tmp_path):
    """The billion-laughs file (9^9 strings from 9 anchors) stops at its first anchor: one short line,
    exit 2, within a 512 MiB address-space limit and a few seconds (it used to take 1 GiB and print 351 MB)."""
    import resource
    import subprocess
    import sys
    p = tmp_path / "bomb.yml"
    p.write_text(BOMB)
    assert len(BOMB) < 400

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))
    r = subprocess.run([sys.executable, "-m", "hermes_dash.cli", "build", "--config", str(p), "--root",
                        str(tmp_path / "out")], capture_output=True, text=True, timeout=30, preexec_fn=limit)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == (f"hermes-dash build: {p}: line 3, column 5: YAML anchors and aliases are not allowed; "
                        f"write each value out\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, where", [
    ("thresholds: &t {latency_p95_seconds: 3}\n", "line 1, column 13"),
    ("thresholds: {latency_p95_seconds: 3}\nslo: *t\n", "line 2, column 6"),
])
def test_anchors_and_aliases_are_refused(tmp_path, text, where):
    """Any anchor or alias is refused with its line and column, not only a bomb."""
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: {where}: YAML anchors and aliases are not allowed; write each value out"


def test_file_over_one_mib_is_refused_and_one_mib_is_read(tmp_path):
    """A config of exactly 1 MiB loads; one byte more is refused without parsing it."""
    head = "selectors:\n  job: big\n"
    p = write(tmp_path, head + "#" * ((1 << 20) - len(head) - 1) + "\n")
    assert load_config(p).selectors.job == "big"
    p = write(tmp_path, head + "#" * ((1 << 20) - len(head)) + "\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: larger than 1 MiB (1048576 bytes): not a hermes-dash config"


def test_non_utf8_file_is_a_clean_error(tmp_path):
    """A byte that is not UTF-8 is named with its offset, not a UnicodeDecodeError traceback."""
    p = tmp_path / "latin1.yml"
    p.write_bytes(b"thresholds:\n  latency_p95_seconds: 1\n\xff\n")
    with pytest.raises(ConfigError) as e:
        load_config(str(p))
    assert str(e.value) == f"{p}: not UTF-8 text (byte 0xff at offset 37)"


@pytest.mark.parametrize("text, message", [
    ("instrumentation: [\n", "line 2, column 1: not valid YAML: expected the node content, but found '<stream end>'"),
    ("a: \x00\n", "position 3: not valid YAML: unacceptable character #x0000: special characters are not allowed"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "line 1, column 19: nested more than 16 levels deep"),
    ("thresholds:\n  latency_p95_seconds: 1\n  latency_p95_seconds: 2\n",
     "line 3, column 3: key 'latency_p95_seconds' appears twice"),
])
def test_yaml_problems_are_one_line_with_their_place(tmp_path, text, message):
    """Invalid YAML, a deep nesting (no RecursionError) and a key given twice are each one line naming the place."""
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: {message}"


# -- values: numbers, durations, strings -----------------------------------------------------------------

@pytest.mark.parametrize("text, key, problem", [
    ("thresholds:\n  latency_p95_seconds: " + "9" * 400 + "\n", "thresholds.latency_p95_seconds",
     "must be at most 1e+15, got a 400-digit number"),
    ("thresholds:\n  latency_p95_seconds: " + "9" * 5000 + "\n", "thresholds.latency_p95_seconds",
     "must be at most 1e+15, got a 5000-digit number"),
    ("thresholds:\n  daily_token_budget: 1.0e+16\n", "thresholds.daily_token_budget",
     "must be at most 1e+15, got 1e+16"),
    ("instrumentation:\n  max_label_values: 10000000000000000\n", "instrumentation.max_label_values",
     "must be at most 1e+15, got 10000000000000000"),
    ("thresholds:\n  latency_p95_seconds: .nan\n", "thresholds.latency_p95_seconds",
     "must be a finite number >= 0, got nan"),
    ("alerting:\n  for_durations: {high_latency: 999999999999999999999y}\n", "alerting.for_durations.high_latency",
     "is longer than Prometheus accepts (292y24w3d23h47m16s854ms), got '999999999999999999999y'"),
    ("alerting:\n  for_durations: {high_latency: 292y24w3d23h47m16s855ms}\n", "alerting.for_durations.high_latency",
     "is longer than Prometheus accepts (292y24w3d23h47m16s854ms), got '292y24w3d23h47m16s855ms'"),
    ("alerting:\n  for_durations: {high_latency: " + "9" * 5000 + "s}\n", "alerting.for_durations.high_latency",
     "is longer than Prometheus accepts (292y24w3d23h47m16s854ms), got '999999999999999999999999999999999999999999"
     "999999999999999999…' (5001 characters)"),
    ("routing:\n  group_interval: 0s\n", "routing.group_interval", "must be longer than 0, got '0s'"),
    ("routing:\n  repeat_interval: 0ms\n", "routing.repeat_interval", "must be longer than 0, got '0ms'"),
    ("prometheus:\n  scrape_interval: 0s\n", "prometheus.scrape_interval", "must be longer than 0, got '0s'"),
    ("slo:\n  page: [{factor: 2, long: 1h, short: 0s}]\n", "slo.page[0].short", "must be longer than 0, got '0s'"),
    ("slo:\n  page: [" + ", ".join(["{factor: 2, long: 1h, short: 5m}"] * 11) + "]\n", "slo.page",
     "at most 10 burn windows, got 11"),
])
def test_huge_numbers_and_durations_are_refused(tmp_path, key, text, problem):
    """Numbers above 1e15 (of any length), durations beyond Prometheus' range (about 292 years) and zero
    intervals Prometheus or Alertmanager refuse or replace are refused naming the key, in one short line."""
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: {key}: {problem}"


def test_longest_duration_prometheus_accepts_loads(tmp_path):
    """292y24w3d23h47m16s854ms, the longest duration promtool 2.42 accepts, is accepted; 0s is a valid `for`."""
    p = write(tmp_path, "alerting:\n  for_durations: {high_latency: 292y24w3d23h47m16s854ms, critical_latency: 0s}\n")
    assert load_config(p).alerting.for_durations.high_latency == "292y24w3d23h47m16s854ms"


@pytest.mark.parametrize("value, problem", [
    ('"a\\nb"', "must not contain U+000A (a control character) at position 1"),
    ('"a\\0"', "must not contain U+0000 (a control character) at position 1"),
    ('"\\ud800"', "must not contain U+D800 (a surrogate) at position 0"),
    ('"ab\\u202e"', "must not contain U+202E (a format character) at position 2"),
    ('"a\\u2028"', "must not contain U+2028 (a line or paragraph separator) at position 1"),
    ('"\\uffff"', "must not contain U+FFFF (a noncharacter) at position 0"),
    ("x" * 1025, "is 1025 characters long, more than 1024"),
])
def test_strings_with_control_characters_or_too_long_are_refused(tmp_path, value, problem):
    """Every string value is refused when it holds a control, format, surrogate, separator or noncharacter
    code point, or exceeds 1024 characters; the message gives the code point and position, not the value."""
    p = write(tmp_path, f"routing:\n  secrets_dir: {value}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: routing.secrets_dir: {problem}"


def test_odd_keys_are_shown_on_one_line(tmp_path):
    """An unknown key with a newline in it is quoted, so the error stays one line."""
    p = write(tmp_path, '"a\\nb": 1\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value).startswith(f"{p}: 'a\\nb': unknown key (known: ")
    assert "\n" not in str(e.value)


# -- values that reach PromQL, YAML, Go templates, Grafana ----------------------------------------------

@pytest.mark.parametrize("section, key, value, problem", [
    ("selectors", "job", "hermes-$instance",
     "must not contain $, [[ or ]] (Grafana would expand it as a variable), got 'hermes-$instance'"),
    ("selectors", "job", "[[instance]]",
     "must not contain $, [[ or ]] (Grafana would expand it as a variable), got '[[instance]]'"),
    ("selectors", "job", "a||b", "must be a job name, or several separated by |, none empty and without quotes, "
     "got 'a||b'"),
    ("selectors", "job", "hermes-a | hermes-b", "job name 'hermes-a ' begins or ends with a space"),
    ("selectors", "job", "a|b|a", "job name 'a' is listed twice"),
    ("alerting", "runbook_url_base", "https://x.example/{{ .Foo",
     "must not contain {{ or }} (it would run as a Go template), got 'https://x.example/{{ .Foo'"),
    ("alerting", "runbook_url_base", 'https://x.example/{{ with query "up" }}{{ end }}',
     "must not contain {{ or }} (it would run as a Go template), "
     "got 'https://x.example/{{ with query \"up\" }}{{ end }}'"),
    ("alerting", "runbook_url_base", "ftp://x.example/RUNBOOK.md",
     "must be an http(s) URL, got 'ftp://x.example/RUNBOOK.md'"),
    ("alerting", "runbook_url_base", "https:///RUNBOOK.md", "must be an http(s) URL with a host, got 'https:///RUNBOOK.md'"),
    ("alerting", "runbook_url_base", "https://me:hunter2@x.example/RUNBOOK.md",
     "must not carry credentials (user:password@): it is written into every alert"),
    ("alerting", "runbook_url_base", "https://x.example/RUNBOOK.md#top",
     "must not have a #fragment: each alert adds #<its name>, got 'https://x.example/RUNBOOK.md#top'"),
    ("alerting", "runbook_url_base", "https://x.example/RUN BOOK.md",
     "must be a URL without spaces, got 'https://x.example/RUN BOOK.md'"),
    ("alerting", "runbook_url_base", "https://x.example:99999/", "has a bad port, got 'https://x.example:99999/'"),
    ("routing", "slack_platform_channel", "#ops{{ .CommonLabels.job }}",
     "must not contain {{ or }} (it would run as a Go template), got '#ops{{ .CommonLabels.job }}'"),
    ("routing", "slack_finance_channel", "", "must not be empty"),
    ("routing", "secrets_dir", "", "must not be empty"),
    ("grafana", "datasource", "${other}",
     "must not contain $, [[ or ]] (Grafana would expand it as a variable), got '${other}'"),
    ("grafana", "datasource", "", "must not be empty"),
    ("grafana", "time_from", "yesterday",
     "must be a Grafana relative time such as now-6h or now-7d/d, got 'yesterday'"),
    *[("selectors", "cluster_label", v, "must be a Prometheus label name of its own (letters, digits, _; not a "
       f"label the metrics, targets or alerts already carry), got {v!r}")
      for v in ("model", "tool_name", "instance", "job", "severity", "le", "datasource", "__meta_cluster", "k8s-cluster",
                "1dc")],
    ("prometheus", "targets[1]", "a b:9464",
     "expected HOST:PORT (a host name or IP address, a port from 1 to 65535), got 'a b:9464'"),
    ("prometheus", "targets[1]", ":9464",
     "expected HOST:PORT (a host name or IP address, a port from 1 to 65535), got ':9464'"),
    ("prometheus", "alertmanagers[1]", "am:0",
     "expected HOST:PORT (a host name or IP address, a port from 1 to 65535), got 'am:0'"),
    ("prometheus", "alertmanagers[1]", "[not-ipv6]:9093",
     "expected HOST:PORT (a host name or IP address, a port from 1 to 65535), got '[not-ipv6]:9093'"),
])
def test_values_that_would_break_or_mistarget_the_output_are_refused(tmp_path, section, key, value, problem):
    """Each value that would expand in Grafana, run as a template, leak credentials or give a target
    Prometheus cannot scrape is refused naming the key."""
    field, _, index = key.partition("[")
    yaml_value = json.dumps(value)
    if index:
        yaml_value = f"[{json.dumps('ok.example:1')}, {yaml_value}]"
    p = write(tmp_path, f"{section}:\n  {field}: {yaml_value}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: {section}.{key}: {problem}"


def test_hostile_but_harmless_values_are_accepted(tmp_path):
    """Backslashes in job names (escaped for PromQL), several jobs with regex characters, IPv6 targets,
    Grafana relative times with rounding and unicode channel names are accepted as written."""
    p = write(tmp_path, "selectors: {job: 'x\\|a.b|c+d'}\nprometheus: {targets: ['[::1]:9464', 'agent_1.example:80']}\n"
                        "grafana: {time_from: now-7d/d}\nrouting: {slack_platform_channel: '#équipe'}\n"
                        "alerting: {runbook_url_base: 'http://wiki.example:8080/runbooks?page=hermes'}\n")
    cfg = load_config(p)
    assert cfg.selectors.jobs == ("x\\", "a.b", "c+d")
    assert cfg.prometheus.targets == ("[::1]:9464", "agent_1.example:80")
    assert (cfg.grafana.time_from, cfg.routing.slack_platform_channel) == ("now-7d/d", "#équipe")


BAD_FILES = {
    "alias": "thresholds: &t {latency_p95_seconds: 3}\nslo: *t\n",
    "latin1": b"selectors:\n  job: caf\xe9\n",
    "digits": "thresholds:\n  latency_p95_seconds: " + "9" * 400 + "\n",
    "duration": "alerting:\n  for_durations: {high_latency: 999999999999999999999y}\n",
    "dollar": "selectors:\n  job: hermes-$instance\n",
    "template": "alerting:\n  runbook_url_base: 'https://x.example/{{ .Foo'\n",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_config_build_exits_2_with_one_line_and_writes_nothing(tmp_path, name):
    """`hermes-dash build` with each bad file: exit 2, one line on stderr naming the file, every file as it was."""
    from conftest import cli
    assert cli("build", "--root", str(tmp_path)).returncode == 0
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    bad = tmp_path / f"{name}.yml"
    content = BAD_FILES[name]
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    r = cli("build", "--config", str(bad), "--root", str(tmp_path), timeout=30)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.startswith(f"hermes-dash build: {bad}: ") and r.stderr.count("\n") == 1 and len(r.stderr) < 300
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file() and p != bad}
    assert after == before
