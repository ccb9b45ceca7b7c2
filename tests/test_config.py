"""Config files: overrides apply; bad files fail naming the file and the key."""
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
