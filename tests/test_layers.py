"""The layers by lifetime: the runtime (what runs inside an agent) imports only prometheus_client and pyyaml;
the generators (hermes_dash.build) import the runtime; the test harness (hermes_dash.harness) imports both;
the CLI is a front door nothing imports. Each layer's third-party imports are declared in pyproject.toml."""
import ast
import sys
import tomllib
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

from conftest import ROOT

PACKAGE = ROOT / "hermes_dash"
RUNTIME = {"hermes_dash", "hermes_dash.catalogue", "hermes_dash.config", "hermes_dash.instrumentation",
           "hermes_dash.store", "hermes_dash.exporter", "hermes_dash.daemon", "hermes_dash.plugin"}
LAYERS = ("runtime", "build", "harness", "cli")
#: modules a runtime module may import besides the runtime and the standard library: its two dependencies,
#: and Hermes' own `agent` package, which the plugin imports only when it runs inside Hermes
RUNTIME_THIRD_PARTY = {"prometheus_client", "yaml", "agent"}
#: what each extra adds, by import name -> distribution name in pyproject.toml
EXTRA_MODULES = {"build": {"grafanalib": "grafanalib", "promql_parser": "promql-parser", "jsonschema": "jsonschema"},
                 "preview": {"matplotlib": "matplotlib", "numpy": "numpy"},
                 "test": {"hypothesis": "hypothesis"}}


def layer(module: str) -> str:
    if module in RUNTIME:
        return "runtime"
    if module == "hermes_dash.cli":
        return "cli"
    for name in ("build", "harness"):
        if module == f"hermes_dash.{name}" or module.startswith(f"hermes_dash.{name}."):
            return name
    raise AssertionError(f"{module} belongs to no layer: add it to RUNTIME or move it into a subpackage")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool) -> Iterator[Tuple[str, int]]:
    """Every module `source` imports (at any depth, relative imports resolved), with its line."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{a.name}" for a in node.names  # `from . import catalogue`: the submodule
                    if target.startswith("hermes_dash") and _is_module(f"{target}.{a.name}")]
            yield from ((sub, node.lineno) for sub in subs)
            if not subs:
                yield target, node.lineno


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def violations(source: str, module: str, is_package: bool = False) -> List[str]:
    """What `module` (of the layer its name says) imports that its layer may not."""
    own = layer(module)
    allowed_internal = {"runtime": {"runtime"}, "build": {"runtime", "build"},
                        "harness": {"runtime", "build", "harness"}, "cli": set(LAYERS)}[own]
    third = {"runtime": RUNTIME_THIRD_PARTY,
             "build": RUNTIME_THIRD_PARTY | set(EXTRA_MODULES["build"]),
             "harness": RUNTIME_THIRD_PARTY | set(EXTRA_MODULES["build"]) | set(EXTRA_MODULES["preview"])
             | set(EXTRA_MODULES["test"])}.get(own)
    out = []
    for target, line in imports(source, module, is_package):
        top = target.split(".")[0]
        if top == "hermes_dash":
            if target == "hermes_dash.cli":
                out.append(f"{module}:{line}: imports the CLI")
            elif target != "hermes_dash" and layer(target) not in allowed_internal:
                out.append(f"{module}:{line}: {own} imports {layer(target)} ({target})")
        elif top not in sys.stdlib_module_names and third is not None and top not in third:
            out.append(f"{module}:{line}: {own} imports third-party {top}")
    return out


def package_modules() -> Dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_each_layer_imports_only_the_layers_below_it():
    """No runtime module imports a generator or harness module, no generator imports the harness, and no
    module imports the CLI; third-party imports stay within each layer's extra."""
    problems = []
    for module, path in package_modules().items():
        problems += violations(path.read_text(), module, path.name == "__init__.py")
    assert problems == []


def test_nothing_imports_the_cli():
    """Tests, benchmarks and the Hermes tests run the CLI as a command, never import it."""
    problems = []
    for path in sorted(ROOT.glob("tests*/**/*.py")) + sorted((ROOT / "bench").glob("*.py")):
        for target, line in imports(path.read_text(), "tests.x", False):
            if target == "hermes_dash.cli":
                problems.append(f"{path.relative_to(ROOT)}:{line}")
    assert problems == []


@pytest.mark.parametrize("module, source, problem", [
    ("hermes_dash.plugin", "from .build import rules\n",
     "hermes_dash.plugin:1: runtime imports build (hermes_dash.build.rules)"),
    ("hermes_dash.exporter", "def f():\n    from .harness import servers\n",
     "hermes_dash.exporter:2: runtime imports harness (hermes_dash.harness.servers)"),
    ("hermes_dash.instrumentation", "import grafanalib.core\n", "hermes_dash.instrumentation:1: runtime imports third-party grafanalib"),
    ("hermes_dash.build.rules.cost", "from ...harness.simulate import Fleet\n",
     "hermes_dash.build.rules.cost:1: build imports harness (hermes_dash.harness.simulate)"),
    ("hermes_dash.build.lint", "import hypothesis\n", "hermes_dash.build.lint:1: build imports third-party hypothesis"),
    ("hermes_dash.harness.demo", "from ..cli import main\n", "hermes_dash.harness.demo:1: imports the CLI"),
    ("hermes_dash.harness.demo", "from .. import cli\n", "hermes_dash.harness.demo:1: imports the CLI"),
])
def test_the_layer_check_catches_each_kind_of_violation(module, source, problem):
    """The checker reports a back-edge, an import of the CLI, and an undeclared third-party import."""
    assert violations(source, module) == [problem]


def test_every_module_belongs_to_a_layer():
    """Every module of the package is runtime, build, harness or the CLI, and the runtime is exactly
    catalogue, config, instrumentation, store, exporter, daemon and plugin."""
    layers: Dict[str, Set[str]] = {}
    for module in package_modules():
        layers.setdefault(layer(module), set()).add(module)
    assert layers["runtime"] == RUNTIME
    assert layers["cli"] == {"hermes_dash.cli"}


def test_the_extras_declare_what_each_layer_imports():
    """pyproject.toml: the runtime depends on prometheus-client and pyyaml only; `build` adds grafanalib,
    promql-parser and jsonschema; `test` adds hypothesis (and builds on `build`)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(reqs):
        return {r.split("==")[0].split(">=")[0].split("[")[0].strip() for r in reqs}
    assert names(project["dependencies"]) == {"prometheus-client", "pyyaml"}
    extras = project["optional-dependencies"]
    assert set(EXTRA_MODULES["build"].values()) <= names(extras["build"])
    assert set(EXTRA_MODULES["preview"].values()) <= names(extras["preview"])
    assert set(EXTRA_MODULES["test"].values()) <= names(extras["test"])
    assert "hermes-dash[build,preview]" in extras["test"]
