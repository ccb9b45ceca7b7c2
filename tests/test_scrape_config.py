"""Generated scrape configuration that scales: static targets, target files, Kubernetes pods, the opt-in node
and Redis exporter jobs, external labels; the Prometheus Operator monitors. Checked by promtool, by vmagent's
parser, against the Operator's CRD schemas (v0.63.0), and by a real Prometheus that scrapes what they say."""
import json
import subprocess

import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from hermes_dash.build.deploy import (pod_monitor, pods_job_name, prometheus_config, prometheus_rule,
                                      render_deploy_files, scraper_config, service_monitor)
from hermes_dash.build.operator_schema import crds, validate
from hermes_dash.config import DEFAULT, config_from_mapping
from hermes_dash.harness.e2e import wait_for
from hermes_dash.harness.kubernetes import FakeKubernetes, pod
from hermes_dash.harness.servers import free_port, free_ports, prometheus
from hermes_dash.harness.simulate import Fleet, FleetSpec
from hermes_dash.harness.victoria import vmagent

from conftest import ROOT, cli, require_tool

#: every deployment option on (Kubernetes discovery too)
FULL = {
    "selectors": {"job": "hermes-prod|hermes-staging"},
    "prometheus": {"targets": ["10.0.1.20:9464"], "external_labels": {"cluster": "eu-1"}},
    "discovery": {"file_sd": ["targets/hermes-*.json"],
                  "kubernetes": {"enabled": True, "namespaces": ["hermes"], "port_name": "metrics"}},
    "exporters": {"node": {"enabled": True, "targets": ["10.0.1.10:9100", "10.0.1.11:9100"]},
                  "redis": {"enabled": True, "targets": ["redis:9121"]}},
    "operator": {"namespace": "monitoring", "labels": {"release": "kube-prometheus-stack"}},
    "scale_out": {"remote_write_url": "http://mimir:8080/api/v1/push"},
}


def promtool(*args):
    return subprocess.run([require_tool("promtool"), "check", "config", *args], capture_output=True, text=True,
                          timeout=60)


def without_kubernetes(cfg_dict):
    """The config with its Kubernetes job's discovery turned into a target file (Debian builds Prometheus
    without kubernetes_sd_configs)."""
    out = json.loads(json.dumps(cfg_dict))
    for job in out["scrape_configs"]:
        if "kubernetes_sd_configs" in job:
            job["file_sd_configs"] = [{"files": ["pods/*.json"]}]
            del job["kubernetes_sd_configs"]
    return out


def test_the_scraper_config_passes_promtool_in_agent_mode():
    """deploy/scale-out/scraper.yml is a valid Prometheus agent-mode config that remote-writes to the
    configured store and scrapes the same jobs as prometheus.yml."""
    out = promtool("--agent", str(ROOT / "deploy" / "scale-out" / "scraper.yml"))
    assert out.returncode == 0, out.stdout + out.stderr
    data = yaml.safe_load((ROOT / "deploy" / "scale-out" / "scraper.yml").read_text())
    assert data["remote_write"] == [{"url": "http://127.0.0.1:8428/api/v1/write"}]
    assert data["scrape_configs"] == prometheus_config(DEFAULT)["scrape_configs"]


def test_every_option_on_passes_promtool_and_scrapes_what_the_config_says(tmp_path):
    """With every option on, prometheus.yml and the scraper config pass promtool (the Kubernetes job's
    discovery swapped for a target file: Debian's Prometheus 2.42 is built without kubernetes_sd_configs)
    and hold exactly: the agents as the first job (static targets and target files), their pods as
    `<job>-pods`, the node and Redis exporter jobs, the external labels."""
    cfg = config_from_mapping(FULL)
    for name, data, args in (("prometheus.yml", prometheus_config(cfg, rules_dir="rules"), ()),
                             ("scraper.yml", scraper_config(cfg), ("--agent",))):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(without_kubernetes(data)))
        out = promtool("--syntax-only", *args, str(path))
        assert out.returncode == 0, out.stdout + out.stderr
        assert data["global"]["external_labels"] == {"cluster": "eu-1"}
        assert [(j["job_name"], sorted(k for k in j if k.endswith("_configs"))) for j in data["scrape_configs"]] == [
            ("hermes-prod", ["file_sd_configs", "static_configs"]),
            ("hermes-prod-pods", ["kubernetes_sd_configs", "relabel_configs"]),
            ("node", ["static_configs"]), ("redis", ["static_configs"])]
    assert scraper_config(cfg)["remote_write"] == [{"url": "http://mimir:8080/api/v1/push"}]


def test_vmagent_accepts_every_option_kubernetes_included(tmp_path):
    """vmagent's own parser (which has Kubernetes discovery) accepts the full scraper config as generated
    (`-promscrape.config.dryRun`, unknown keys allowed for `remote_write`), and its scrape jobs even under
    strict parsing; a misspelt discovery key is refused, so the check can fail."""
    cfg = config_from_mapping(FULL)
    path = tmp_path / "scraper.yml"

    def dry_run(data, strict):
        path.write_text(yaml.safe_dump(data))
        return subprocess.run([require_tool("vmagent"), f"-promscrape.config={path}", "-promscrape.config.dryRun",
                               "-loggerLevel=ERROR", *([] if strict else ["-promscrape.config.strictParse=false"])],
                              capture_output=True, text=True, timeout=60)
    data = scraper_config(cfg)
    out = dry_run(data, strict=False)
    assert out.returncode == 0, out.stdout + out.stderr
    jobs = {k: v for k, v in data.items() if k != "remote_write"}  # vmagent takes the URL from a flag
    out = dry_run(jobs, strict=True)
    assert out.returncode == 0, out.stdout + out.stderr
    out = dry_run(json.loads(json.dumps(jobs).replace("kubernetes_sd_configs", "kubernetes_sd_config")), strict=True)
    assert out.returncode != 0 and "field kubernetes_sd_config not found" in out.stderr, out.stderr


def test_vmagent_discovers_the_agents_pods_through_the_kubernetes_api_and_keeps_job_and_instance(tmp_path):
    """Real pod discovery: vmagent running the generated scraper config (only its `api_server` pointed at
    a stand-in Kubernetes API that lists pods) asks for the configured namespace and pod labels, scrapes the
    agents' `metrics` port of each running pod as job `hermes-agent` with instance = pod IP:port plus
    namespace, pod and container, and nothing else (another port, a finished pod)."""
    require_tool("vmagent")
    *ports, other, finished = free_ports(4)
    cfg = config_from_mapping({"prometheus": {"targets": [], "scrape_interval": "1s"},
                               "discovery": {"kubernetes": {"enabled": True, "namespaces": ["hermes"]}}})
    labels = dict(cfg.discovery.kubernetes.pod_labels)
    pods = [pod("hermes", "hermes-agent-a", labels, "127.0.0.1", {"metrics": ports[0], "http": other}),
            pod("hermes", "hermes-agent-b", labels, "127.0.0.1", {"metrics": ports[1]}),
            pod("hermes", "hermes-agent-old", labels, "127.0.0.1", {"metrics": finished}, phase="Succeeded"),
            pod("hermes", "redis-0", {"app.kubernetes.io/name": "redis"}, "127.0.0.1", {"metrics": finished})]
    fleet = Fleet(FleetSpec(instances=2, tools=1, models=1, seed=4, noise=0.0), ports=ports)
    fleet.serve(tick_seconds=0.5)
    try:
        with FakeKubernetes(pods) as api:
            data = scraper_config(cfg)
            (sd,) = data["scrape_configs"][0]["kubernetes_sd_configs"]
            sd["api_server"] = api.url
            (tmp_path / "scraper.yml").write_text(yaml.safe_dump(data))
            with vmagent("vmagent", str(tmp_path / "scraper.yml"), "http://127.0.0.1:1/api/v1/write",
                         str(tmp_path)) as agent:
                def targets():
                    return sorted((t["health"], tuple(sorted(t["labels"].items())))
                                  for t in agent.get("/api/v1/targets")["data"]["activeTargets"])
                want = sorted(("up", (("container", "agent"), ("instance", f"127.0.0.1:{p}"), ("job", "hermes-agent"),
                                      ("namespace", "hermes"), ("pod", name)))
                              for p, name in zip(ports, ("hermes-agent-a", "hermes-agent-b")))
                assert wait_for(lambda: targets() == want, 20), targets()
        lists = [(path, q) for path, q in api.requests if "watch" not in q]
        assert lists and all(q == {"labelSelector": "app.kubernetes.io/name=hermes-agent"} and
                             path == "/api/v1/namespaces/hermes/pods" for path, q in lists), api.requests
    finally:
        fleet.stop()


# --- a real Prometheus scraping what the generated config says --------------------------------------------

def _exporter(name: str, port: int):
    """A stand-in exporter on 127.0.0.1:port exposing one gauge `name`."""
    reg = CollectorRegistry()
    Gauge(name, "stand-in exporter metric", registry=reg).set(1)
    server, _ = start_http_server(port, addr="127.0.0.1", registry=reg)
    return server


@pytest.fixture(scope="module")
def scraping(tmp_path_factory):
    """A real Prometheus running the generated prometheus.yml of a config with target files for the agents,
    Kubernetes pod discovery (its discovery given as the target file Kubernetes would produce: the pods'
    meta labels, so the generated relabelling runs as is), and the node and Redis exporter jobs. Yields
    (prometheus, agent ports, exporter ports, work dir)."""
    require_tool("prometheus")
    work = tmp_path_factory.mktemp("scraping")
    *ports, node, redis, finished = free_ports(8)
    cfg = config_from_mapping({
        "prometheus": {"targets": [], "scrape_interval": "1s", "external_labels": {"cluster": "test"}},
        "discovery": {"file_sd": ["targets/*.json"], "kubernetes": {"enabled": True}},
        "exporters": {"node": {"enabled": True, "targets": [f"127.0.0.1:{node}"]},
                      "redis": {"enabled": True, "targets": [f"127.0.0.1:{redis}"]}}})
    (work / "targets").mkdir()
    (work / "pods").mkdir()
    # what a deploy tool writes: the agents of this host
    (work / "targets" / "agents.json").write_text(json.dumps([{"targets": [f"127.0.0.1:{p}" for p in ports[:2]]}]))

    def pod(port, name, port_name="metrics", phase="Running"):
        return {"targets": [f"127.0.0.1:{port}"], "labels": {
            "__meta_kubernetes_namespace": "hermes", "__meta_kubernetes_pod_name": name,
            "__meta_kubernetes_pod_container_name": "agent", "__meta_kubernetes_pod_container_port_name": port_name,
            "__meta_kubernetes_pod_phase": phase}}
    (work / "pods" / "pods.json").write_text(json.dumps([
        pod(ports[2], "hermes-agent-a"), pod(ports[3], "hermes-agent-b"),
        pod(ports[4], "hermes-agent-a", port_name="http"),  # another port of a pod: not scraped
        pod(finished, "hermes-agent-old", phase="Succeeded")]))  # a finished pod: not scraped
    (work / "prometheus.yml").write_text(yaml.safe_dump(without_kubernetes(prometheus_config(cfg, rules_dir="."))))
    fleet = Fleet(FleetSpec(instances=5, tools=2, models=1, seed=1, noise=0.0), ports=ports)
    fleet.serve(tick_seconds=0.5)
    servers = [_exporter("node_load1", node), _exporter("redis_up", redis)]
    try:
        with prometheus(str(work / "prometheus.yml"), str(work)) as prom:
            yield prom, ports, (node, redis), work
    finally:
        fleet.stop()
        for s in servers:
            s.shutdown()
            s.server_close()


def active_targets(prom):
    """(scrape pool, labels) of every active target that is up."""
    return sorted((t["scrapePool"], tuple(sorted(t["labels"].items())))
                  for t in prom.get("/api/v1/targets?state=active")["data"]["activeTargets"] if t["health"] == "up")


def test_each_job_keeps_the_job_and_instance_the_rules_expect(scraping):
    """Agents from the target file and from pod discovery are all scraped as job `hermes-agent`, each with
    its own instance (its address); pods also get namespace, pod and container; a pod's other port and a
    finished pod are dropped; the exporters are their own jobs `node` and `redis`."""
    prom, ports, (node, redis), _ = scraping
    pool = pods_job_name(DEFAULT)

    def want():
        agent = [("hermes-agent", (("instance", f"127.0.0.1:{p}"), ("job", "hermes-agent"))) for p in ports[:2]]
        pods = [(pool, (("container", "agent"), ("instance", f"127.0.0.1:{p}"), ("job", "hermes-agent"),
                        ("namespace", "hermes"), ("pod", name)))
                for p, name in ((ports[2], "hermes-agent-a"), (ports[3], "hermes-agent-b"))]
        exporters = [("node", (("instance", f"127.0.0.1:{node}"), ("job", "node"))),
                     ("redis", (("instance", f"127.0.0.1:{redis}"), ("job", "redis")))]
        return sorted(agent + pods + exporters)
    assert wait_for(lambda: active_targets(prom) == want(), 20), active_targets(prom)
    dropped = prom.get("/api/v1/targets?state=dropped")["data"]["droppedTargets"]
    assert sorted(t["discoveredLabels"]["__meta_kubernetes_pod_name"] for t in dropped) == [
        "hermes-agent-a", "hermes-agent-old"]


def test_the_rules_see_every_agent_and_no_exporter(scraping):
    """`up` as the rules select it (job="hermes-agent") has one series per agent, file or pod alike, and the
    exporters' series are under their own jobs."""
    prom, ports, _, _ = scraping

    def q(expr):
        return prom.get("/api/v1/query?query=" + expr)["data"]["result"]
    assert wait_for(lambda: len(q('up{job="hermes-agent"}==1')) == 4, 20)
    assert sorted(r["metric"]["instance"] for r in q('up{job="hermes-agent"}')) == sorted(
        f"127.0.0.1:{p}" for p in ports[:4])
    assert [r["metric"]["job"] for r in q("node_load1")] == ["node"]
    assert [r["metric"]["job"] for r in q("redis_up")] == ["redis"]


def test_a_target_file_rewritten_by_a_deploy_tool_is_picked_up(scraping):
    """Adding an agent to the target file makes Prometheus scrape it as job `hermes-agent`, without a
    reload (file discovery watches the file)."""
    prom, ports, _, work = scraping
    extra = free_port()
    fleet = Fleet(FleetSpec(instances=1, tools=1, models=1, seed=2, noise=0.0), ports=[extra])
    fleet.serve(tick_seconds=0.5)
    try:
        (work / "targets" / "agents.json").write_text(json.dumps(
            [{"targets": [f"127.0.0.1:{p}" for p in (*ports[:2], extra)]}]))
        assert wait_for(lambda: ("hermes-agent", (("instance", f"127.0.0.1:{extra}"), ("job", "hermes-agent")))
                        in active_targets(prom), 20)
    finally:
        fleet.stop()


# --- the Prometheus Operator manifests -------------------------------------------------------------------

def test_the_schemas_come_from_the_operator_release_the_docs_name():
    """The committed CRD extract is Prometheus Operator v0.63.0 (its commit and each source file's sha256
    recorded), the release docs/deployment.md names, whose default Prometheus is the 2.42.0 tested here."""
    data = crds()
    assert (data["version"], data["commit"]) == ("v0.63.0", "1a38cb5fde48aabe6dfb89b8b8388d45384d4660")
    assert sorted(data["schemas"]) == sorted(data["sources"]) == ["PodMonitor", "PrometheusRule", "ServiceMonitor"]
    assert all(len(s["sha256"]) == 64 and data["commit"] in s["url"] for s in data["sources"].values())
    assert "Prometheus Operator v0.63.0" in (ROOT / "docs" / "deployment.md").read_text()


def test_every_generated_manifest_is_valid_for_the_operator_crds():
    """PodMonitor, ServiceMonitors and PrometheusRule, from the default config and with every option on,
    pass the Operator's CRD schemas held closed (no unknown field anywhere) and the metadata rules."""
    manifests = [yaml.safe_load(t) for p, t in render_deploy_files(DEFAULT).items() if p.startswith("kubernetes/")]
    full = config_from_mapping(FULL)
    manifests += [yaml.safe_load(t) for p, t in render_deploy_files(full).items() if p.startswith("kubernetes/")]
    assert sorted(m["kind"] for m in manifests) == ["PodMonitor", "PodMonitor", "PrometheusRule", "PrometheusRule",
                                                    "ServiceMonitor", "ServiceMonitor"]
    assert {m["metadata"]["name"]: validate(m) for m in manifests} == {
        "hermes-dash": [], "hermes-dash-node": [], "hermes-dash-redis": []}


def test_the_monitors_keep_the_job_the_rules_select():
    """The PodMonitor selects the agents' pods and port and relabels `job` to selectors.job (the Operator's
    default would be <namespace>/<monitor>), then adds the external labels as target labels; each
    ServiceMonitor does the same for its exporter's job."""
    cfg = config_from_mapping(FULL)
    pm = pod_monitor(cfg)["spec"]
    assert pm["selector"] == {"matchLabels": {"app.kubernetes.io/name": "hermes-agent"}}
    assert pm["namespaceSelector"] == {"matchNames": ["hermes"]}
    (ep,) = pm["podMetricsEndpoints"]
    assert (ep["port"], ep["interval"], ep["relabelings"]) == ("metrics", "15s", [
        {"targetLabel": "job", "replacement": "hermes-prod"}, {"targetLabel": "cluster", "replacement": "eu-1"}])
    sm = service_monitor(cfg, "redis", cfg.exporters.redis)
    assert sm["metadata"] == {"name": "hermes-dash-redis", "namespace": "monitoring", "labels": {
        "app.kubernetes.io/name": "hermes-dash", "app.kubernetes.io/component": "redis-exporter",
        "release": "kube-prometheus-stack"}}
    assert sm["spec"]["endpoints"][0]["relabelings"][0] == {"targetLabel": "job", "replacement": "redis"}
    assert prometheus_rule(cfg)["metadata"]["namespace"] == "monitoring"


@pytest.mark.parametrize("mutate, problem", [
    (lambda m: m["spec"]["podMetricsEndpoints"][0].update(scrapeInterval="15s"),
     "$.spec.podMetricsEndpoints[0]: Additional properties are not allowed ('scrapeInterval' was unexpected)"),
    (lambda m: m["spec"]["podMetricsEndpoints"][0]["relabelings"][0].update(action="rename"),
     "$.spec.podMetricsEndpoints[0].relabelings[0].action: 'rename' is not one of"),
    (lambda m: m["spec"].update(podMetricsEndpoints={"port": "metrics"}),
     "$.spec.podMetricsEndpoints: {'port': 'metrics'} is not of type 'array'"),
    (lambda m: m["metadata"].update(name="Hermes_Dash"), "$.metadata.name: not a DNS subdomain: 'Hermes_Dash'"),
    (lambda m: m.update(apiVersion="monitoring.coreos.com/v1alpha1"),
     "$.apiVersion: expected monitoring.coreos.com/v1"),
])
def test_the_schema_check_catches_a_bad_manifest(mutate, problem):
    """The validation can fail: an unknown field, a relabel action the CRD does not list, a wrong type, a
    name the API server refuses and a wrong apiVersion are each reported at their path."""
    m = pod_monitor(DEFAULT)
    mutate(m)
    problems = validate(m)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


# --- bad deployment config --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("prometheus:\n  targets: []\n", "prometheus.targets: no agent to scrape"),
    ("discovery:\n  file_sd: [targets.txt]\n", "discovery.file_sd[0]: a target file ends in .json, .yml or .yaml"),
    ("discovery:\n  kubernetes: {port_name: Metrics_Port}\n", "discovery.kubernetes.port_name: a Kubernetes port name"),
    ("discovery:\n  kubernetes: {namespaces: [Hermes]}\n",
     "discovery.kubernetes.namespaces[0]: not a Kubernetes namespace"),
    ("exporters:\n  node: {enabled: true, job: hermes-agent}\n",
     "exporters.node.job: 'hermes-agent' is already a job of this config"),
    ("exporters:\n  redis: {enabled: true, targets: []}\n",
     "exporters.redis.targets: an enabled exporter needs targets"),
    ("exporters:\n  redis: {targets: [redis]}\n", "exporters.redis.targets[0]: expected HOST:PORT"),
    ("exporters:\n  mysql: {enabled: true}\n", "exporters.mysql: unknown key"),
    ("prometheus:\n  external_labels: {__cluster: a}\n", "prometheus.external_labels.__cluster: a label name"),
    ("prometheus:\n  external_labels: {instance: a}\n", "prometheus.external_labels.instance: job and instance"),
    ("operator:\n  labels: {release: 'two words'}\n", "operator.labels.release: not a Kubernetes label"),
    ("scale_out:\n  remote_write_url: victoria:8428\n", "scale_out.remote_write_url: must be an http(s) URL"),
])
def test_a_bad_deployment_setting_exits_2_naming_file_and_key_and_writes_nothing(tmp_path, text, message):
    """`hermes-dash build` with a bad discovery, exporter, operator, scale-out or external-label setting
    exits 2 with `FILE: key: problem` and leaves every generated file as it was."""
    assert cli("build", "--root", str(tmp_path), "--only", "deploy").returncode == 0
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.yml"
    bad.write_text(text)
    r = cli("build", "--config", str(bad), "--root", str(tmp_path), "--only", "deploy")
    assert r.returncode == 2
    assert r.stderr.startswith(f"hermes-dash build: {bad}: {message}"), r.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != bad} == before
