#!/usr/bin/env bash
# Generate a CLOSED, composed JSON Schema (draft-07) of the Grafana dashboard JSON that Grafana 13.2.3
# writes when it saves a classic (schemaVersion 42, "v1") dashboard, from Grafana's own TypeScript types:
#
#   - Dashboard, Panel, RowPanel, VariableModel, AnnotationQuery, ... : @grafana/schema
#       dist/types/raw/dashboard/x/types.gen.d.ts
#   - per panel plugin Options / FieldConfig                         : @grafana/schema
#       dist/types/raw/composable/<plugin>/panelcfg/x/types.gen.d.ts
#   - PromQuery (Prometheus panel targets, annotation target)        : @grafana/prometheus dist/types/types.d.ts
#   - PromVariableQuery (Prometheus query-variable `query` object)  : @grafana/prometheus dist/types/types.d.ts
#
# ts-json-schema-generator runs WITHOUT --additional-properties, so every object whose TS type is closed
# gets "additionalProperties": false. TS index signatures (Record<string, unknown>, [key: string]: any)
# stay open; the composed schema lists them under "x-open".
#
# Composition (python3 below): panel `type` -> that plugin's Options (`options`) and FieldConfig
# (`fieldConfig.defaults.custom`); targets whose datasource type is prometheus -> PromQuery; the prometheus
# annotation's `target` -> PromQuery; variables dispatched on `type`. Keys that Grafana's save code writes
# but the TS types omit are added ("widened") one by one, each with the grafana/grafana source that writes
# it; they are listed in the schema's "x-widened".
#
# Widenings (keys Grafana's save code writes that the TS types omit) and where they are written.
# grafana/grafana paths were read at the commits given: the newest revisions a public-source index held,
# NOT verified against tag v13.2.3 (= 8ea0d7e31a25f84c2b5a1c173070d8cde8740924, gitHead of @grafana/schema@13.2.3).
#   VariableModel (type query):    definition
#       public/app/features/dashboard-scene/serialization/sceneVariablesSetToVariables.ts @ 747d3e04403042d571575b9b763f58aa07aac5fb
#       (+ settings/variables/editors/QueryVariableEditor.tsx @ ca4664829ff9e056e0a25b6440e02703e3f0a2e3 onQueryChange)
#   VariableModel (type interval): auto, auto_min, auto_count     -- sceneVariablesSetToVariables.ts @ 747d3e04 (@ts-expect-error)
#   VariableModel (type adhoc):    baseFilters, filters, defaultKeys -- sceneVariablesSetToVariables.ts @ 747d3e04
#   VariableModel (type groupby):  defaultValue                   -- sceneVariablesSetToVariables.ts @ 747d3e04
#   AnnotationQuery (datasource prometheus): titleFormat, tagKeys, textFormat, useValueForTime
#       packages/grafana-prometheus/src/components/AnnotationQueryEditor.tsx, exact 13.2.3 copy in the source map
#       @grafana/prometheus@13.2.3 dist/esm/components/AnnotationQueryEditor.mjs.map; persisted by
#       public/app/features/dashboard-scene/serialization/dataLayersToAnnotations.ts ({...query, enable, hide, placement})
#   Dashboard: scopeMeta (experimental; @ts-expect-error)
#       public/app/features/dashboard-scene/serialization/transformSceneToSaveModel.ts @ e273befc8e5c18d6cb59f105a364f5f69717d09b
#       public/app/features/dashboard/state/DashboardModel.ts @ a0015c15212fb6006711852bd83a882e730b7f06
# Checked, no widening needed (already in the types): Panel.pluginVersion/libraryPanel/timeCompare/interval/...
# (transformSceneToSaveModel.ts vizPanelToPanel), PromQuery datasource/refId/hide/editorMode/range/instant/
# legendFormat/interval/format/exemplar/key (@grafana/prometheus types.d.ts + @grafana/schema DataQuery veneer).
# NOT widened (Grafana 13 no longer writes them): annotation top-level expr/step (prepareAnnotation in
# packages/grafana-prometheus/src/annotations.ts moves them into target), timepicker.time_options, panel
# editable/error, variable useTags/tags, snapshot-only scopedVars/snapshotData.
#
# Needs: bash, node + npm (the npm registry only), python3. Output is deterministic for pinned versions.
# Usage: scripts/grafana-schema.sh [OUTPUT_JSON]
#   (default: hermes_dash/build/schemas/grafana-dashboard.schema.json, which hermes-dash lint validates
#   every dashboard against; the tests check the committed file records these versions)
set -euo pipefail

GRAFANA_VERSION=${GRAFANA_VERSION:-13.2.3}        # @grafana/schema, @grafana/data
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-13.2.3}  # @grafana/prometheus (13.2.3 exists on npm)
TSJ_VERSION=2.4.0                                 # ts-json-schema-generator
PLUGINS="timeseries stat bargauge gauge text table"

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../hermes_dash/build/schemas/grafana-dashboard.schema.json}
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund --ignore-scripts \
  "@grafana/schema@$GRAFANA_VERSION" "ts-json-schema-generator@$TSJ_VERSION" >/dev/null
# @grafana/prometheus@13.2.3 declares peers on @grafana/*@13.1.7, React, @grafana/assistant, ... and pulls
# monaco/lezer; only its .d.ts files are needed (plus @grafana/data's .d.ts, which PromQuery imports for
# ScopeSpec / ScopeSpecFilter), so the exact tarballs are unpacked without their dependency trees.
mkdir -p packs node_modules/@grafana/prometheus node_modules/@grafana/data
npm pack --silent --pack-destination packs "@grafana/prometheus@$PROMETHEUS_VERSION" "@grafana/data@$GRAFANA_VERSION" >/dev/null
tar xzf "packs/grafana-prometheus-$PROMETHEUS_VERSION.tgz" -C node_modules/@grafana/prometheus --strip-components=1
tar xzf "packs/grafana-data-$GRAFANA_VERSION.tgz" -C node_modules/@grafana/data --strip-components=1

gen() { # gen <d.ts> <type> <out.json> [extra flags]
  local path=$1 type=$2 dest=$3; shift 3
  npx --no-install ts-json-schema-generator --path "$path" --type "$type" --no-type-check "$@" -o "$dest" >/dev/null
}
S=node_modules/@grafana/schema/dist/types
mkdir -p gen
gen "$S/raw/dashboard/x/types.gen.d.ts" Dashboard gen/dashboard.json
for p in $PLUGINS; do
  f=$(ls "$S"/raw/composable/"$p"/panelcfg/x/*types.gen.d.ts)
  gen "$f" Options "gen/panel.$p.Options.json"
  # Only timeseries and table declare a FieldConfig; asking the generator for a missing one silently
  # resolves @grafana/schema's dashboard FieldConfig instead, so only generate it when declared.
  if grep -q '^export interface FieldConfig\b' "$f"; then
    gen "$f" FieldConfig "gen/panel.$p.FieldConfig.json"
  fi
done
# PromQuery extends both the raw and the veneer DataQuery of @grafana/schema (same name, two definitions):
# inline everything (--expose none) to avoid the generator's duplicate-name error.
P=node_modules/@grafana/prometheus/dist/types/types.d.ts
gen "$P" PromQuery gen/prometheus.PromQuery.json --expose none
gen "$P" PromVariableQuery gen/prometheus.PromVariableQuery.json --expose none

schema_version=$(grep -oE 'schemaVersion: [0-9]+' node_modules/@grafana/schema/dist/esm/raw/dashboard/x/types.gen.mjs | head -1 | grep -oE '[0-9]+')
grafana_githead=$(node -p "require('./node_modules/@grafana/schema/package.json').gitHead || ''")
panelcfg_version=$(grep -ohE 'pluginVersion = "[^"]+"' "$S"/raw/composable/timeseries/panelcfg/x/*types.gen.d.ts | grep -oE '[0-9][^"]*')

python3 - "$out" gen "$GRAFANA_VERSION" "$PROMETHEUS_VERSION" "$TSJ_VERSION" "$schema_version" \
  "$grafana_githead" "$panelcfg_version" $PLUGINS <<'PY'
import copy, json, os, re, sys

out, gendir, grafana_v, prom_v, tsj_v, schema_version, githead, panelcfg_v, *plugins = sys.argv[1:]

def load(name):
    with open(os.path.join(gendir, name)) as f:
        return json.load(f)

REF = "#/definitions/"
def ref(name):
    return {"$ref": REF + name}

def rename_refs(node, mapping):
    """Rewrite every local $ref through mapping(old_name) -> new_name."""
    if isinstance(node, dict):
        return {k: (REF + mapping(v[len(REF):]) if k == "$ref" and isinstance(v, str) and v.startswith(REF)
                    else rename_refs(v, mapping)) for k, v in node.items()}
    if isinstance(node, list):
        return [rename_refs(v, mapping) for v in node]
    return node

# ---------------------------------------------------------------------------------------------------
# 1. Base: the dashboard types, names unchanged (Dashboard, Panel, RowPanel, VariableModel, ...).
dash = load("dashboard.json")
D = dash["definitions"]

# 2. Panel plugin types, namespaced "<plugin>.<Name>"; a helper type identical (transitively) in every
#    plugin that defines it is shared as "common.<Name>".
per_plugin = {}
for p in plugins:
    defs = {}
    for part in ("Options", "FieldConfig"):
        fn = f"panel.{p}.{part}.json"
        if os.path.exists(os.path.join(gendir, fn)):
            for k, v in load(fn)["definitions"].items():
                if k in defs and defs[k] != v:
                    raise SystemExit(f"{p}: conflicting definitions of {k}")
                defs[k] = v
    per_plugin[p] = defs

def refs_of(node):
    return set(re.findall(r'"\$ref": "#/definitions/([^"]+)"', json.dumps(node)))

names = sorted({n for d in per_plugin.values() for n in d})
common = set()
for n in names:
    if n in ("Options", "FieldConfig"):
        continue
    bodies = [json.dumps(d[n], sort_keys=True) for d in per_plugin.values() if n in d]
    if len(bodies) > 1 and len(set(bodies)) == 1:
        common.add(n)
changed = True
while changed:  # a shared type may only reference shared types
    changed = False
    for n in sorted(common):
        body = next(d[n] for d in per_plugin.values() if n in d)
        if not refs_of(body) <= common:
            common.discard(n); changed = True
for p, defs in per_plugin.items():
    mapping = lambda n, p=p: f"common.{n}" if n in common else f"{p}.{n}"
    for n, body in defs.items():
        D[mapping(n)] = rename_refs(body, mapping)

# 3. Prometheus types (inlined by --expose none).
for n in ("PromQuery", "PromVariableQuery"):
    s = load(f"prometheus.{n}.json")
    assert set(s["definitions"]) == {n}, s["definitions"].keys()
    D[f"prometheus.{n}"] = s["definitions"][n]

# ---------------------------------------------------------------------------------------------------
# Widenings: keys Grafana's own save code writes that the TS types omit. Each entry cites the code.
# Grafana 13.2.3 is tag v13.2.3, commit 8ea0d7e31a25f84c2b5a1c173070d8cde8740924 (gitHead of
# @grafana/schema@13.2.3). The grafana/grafana sources below were read from the public-source index
# at the commits named; those are the newest revisions the index had, NOT byte-verified against the
# v13.2.3 tag. @grafana/prometheus sources are exact: they are the sourcesContent of the 13.2.3 npm
# package's source maps.
GG = "grafana/grafana"
SRC_SCENE_SAVE = {"repo": GG, "path": "public/app/features/dashboard-scene/serialization/transformSceneToSaveModel.ts",
                  "commit": "e273befc8e5c18d6cb59f105a364f5f69717d09b", "function": "transformSceneToSaveModel"}
SRC_DASH_MODEL = {"repo": GG, "path": "public/app/features/dashboard/state/DashboardModel.ts",
                  "commit": "a0015c15212fb6006711852bd83a882e730b7f06", "function": "constructor / getSaveModelCloneOld"}
SRC_VARS = {"repo": GG, "path": "public/app/features/dashboard-scene/serialization/sceneVariablesSetToVariables.ts",
            "commit": "747d3e04403042d571575b9b763f58aa07aac5fb", "function": "sceneVariablesSetToVariables"}
SRC_QV_EDITOR = {"repo": GG, "path": "public/app/features/dashboard-scene/settings/variables/editors/QueryVariableEditor.tsx",
                 "commit": "ca4664829ff9e056e0a25b6440e02703e3f0a2e3", "function": "onQueryChange (sets definition)"}
SRC_PROM_ANNO_EDITOR = {"repo": GG, "path": "packages/grafana-prometheus/src/components/AnnotationQueryEditor.tsx",
                        "npm": f"@grafana/prometheus@{prom_v} dist/esm/components/AnnotationQueryEditor.mjs.map",
                        "function": "handleTitleChange/handleTagsChange/handleTextChange/handleUseValueForTimeChange"}
SRC_PROM_ANNO = {"repo": GG, "path": "packages/grafana-prometheus/src/annotations.ts",
                 "npm": f"@grafana/prometheus@{prom_v} dist/esm/annotations.mjs.map",
                 "function": "PrometheusAnnotationSupport.prepareAnnotation / processEvents"}

widened = []
def widen(defname, key, subschema, source, note):
    props = D[defname]["properties"]
    assert key not in props, (defname, key)
    props[key] = subschema
    widened.append({"definition": defname, "key": key, "source": source, "note": note})

# ---------------------------------------------------------------------------------------------------
# Targets: a target whose datasource type is prometheus is a PromQuery; a target without its own
# datasource inherits the panel's (QueryGroup attaches the panel datasource to every new query).
def ds_type_is(t):
    return {"required": ["datasource"],
            "properties": {"datasource": {"type": "object", "required": ["type"],
                                          "properties": {"type": {"const": t}}}}}
D["Target"] = {
    "description": "Panel target. datasource.type == 'prometheus' -> PromQuery (closed); other datasources: "
                   "Record<string, unknown> as in the TS Panel type (open).",
    "type": "object",
    "if": ds_type_is("prometheus"), "then": ref("prometheus.PromQuery"),
}
PROM_PANEL_RULE = {
    "if": ds_type_is("prometheus"),
    "then": {"properties": {"targets": {"items": {"if": {"not": {"required": ["datasource"]}},
                                                    "then": ref("prometheus.PromQuery")}}}},
}
panel = D["Panel"]
panel["properties"]["targets"]["items"] = ref("Target")
panel["allOf"] = [copy.deepcopy(PROM_PANEL_RULE)]

# Panel plugin composition: Panel.<plugin> = Panel with type const, options -> <plugin>.Options,
# fieldConfig.defaults.custom -> <plugin>.FieldConfig (closed empty object when the plugin declares none).
for p in plugins:
    fc = copy.deepcopy(D["FieldConfig"])
    if f"{p}.FieldConfig" in D:
        fc["properties"]["custom"] = dict(ref(f"{p}.FieldConfig"), description=f"{p} panelcfg FieldConfig")
    else:
        fc["properties"]["custom"] = {
            "type": "object", "additionalProperties": False, "title": f"{p} FieldConfig (the panelcfg declares none)",
            "description": f"The {p} panelcfg declares no FieldConfig: no custom field options exist."}
    D[f"FieldConfig.{p}"] = fc
    fcs = copy.deepcopy(D["FieldConfigSource"])
    fcs["properties"]["defaults"] = ref(f"FieldConfig.{p}")
    D[f"FieldConfigSource.{p}"] = fcs
    pp = copy.deepcopy(panel)
    pp["description"] = f"Panel of type '{p}' (Panel composed with the {p} panelcfg types)."
    pp["properties"]["type"] = {"const": p, "type": "string"}
    pp["properties"]["options"] = dict(ref(f"{p}.Options"), description=f"{p} panelcfg Options")
    pp["properties"]["fieldConfig"] = ref(f"FieldConfigSource.{p}")
    D[f"Panel.{p}"] = pp

def has_type(t):
    return {"required": ["type"], "properties": {"type": {"const": t}}}
D["PanelByType"] = {
    "description": "A non-row panel, dispatched on `type`; unknown plugin types get the generic Panel "
                   "(options / fieldConfig.defaults.custom open, as in the TS type).",
    "type": "object", "required": ["type"], "properties": {"type": {"type": "string"}},
    "allOf": [{"if": has_type(p), "then": ref(f"Panel.{p}")} for p in plugins]
             + [{"if": {"required": ["type"], "properties": {"type": {"not": {"enum": list(plugins)}}}},
                 "then": ref("Panel")}],
}
D["PanelOrRow"] = {
    "description": "Dashboard.panels item: type 'row' -> RowPanel, else PanelByType.",
    "type": "object", "required": ["type"], "properties": {"type": {"type": "string"}},
    "if": has_type("row"), "then": ref("RowPanel"), "else": ref("PanelByType"),
}
assert D["Dashboard"]["properties"]["panels"]["items"] == {"anyOf": [ref("Panel"), ref("RowPanel")]}, \
    D["Dashboard"]["properties"]["panels"]["items"]
D["Dashboard"]["properties"]["panels"]["items"] = ref("PanelOrRow")
assert D["RowPanel"]["properties"]["panels"]["items"] == ref("Panel")
D["RowPanel"]["properties"]["panels"]["items"] = ref("PanelByType")

# ---------------------------------------------------------------------------------------------------
# Annotations: datasource.type == prometheus -> target is a PromQuery, plus the annotation-level
# fields the Prometheus annotation editor writes. Legacy top-level `expr` / `step` are NOT allowed:
# prepareAnnotation moves them into target.expr / target.interval and deletes them.
ap = copy.deepcopy(D["AnnotationQuery"])
ap["description"] = "Annotation query on a Prometheus datasource."
ap["properties"]["target"] = dict(ref("prometheus.PromQuery"),
                                  description="Prometheus annotation query (prepareAnnotation: refId 'Anno', expr, interval = min step)")
D["AnnotationQuery.prometheus"] = ap
for key, sch, note in [
    ("titleFormat", {"type": "string"}, "AnnotationQueryEditor handleTitleChange; read by processEvents"),
    ("tagKeys", {"type": "string"}, "AnnotationQueryEditor handleTagsChange (comma-separated label names); read by processEvents"),
    ("textFormat", {"type": "string"}, "AnnotationQueryEditor handleTextChange; read by processEvents"),
    ("useValueForTime", {"type": "boolean"}, "AnnotationQueryEditor handleUseValueForTimeChange; read by processEvents"),
]:
    widen("AnnotationQuery.prometheus", key, sch, SRC_PROM_ANNO_EDITOR,
          note + ". The annotation object is persisted as {...layer.state.query, enable, hide, placement} by "
                 "dataLayersToAnnotations.ts (public/app/features/dashboard-scene/serialization/).")
D["AnnotationQueryByDatasource"] = {
    "description": "AnnotationContainer.list item, dispatched on datasource.type.",
    "type": "object",
    "if": ds_type_is("prometheus"), "then": ref("AnnotationQuery.prometheus"), "else": ref("AnnotationQuery"),
}
assert D["AnnotationContainer"]["properties"]["list"]["items"] == ref("AnnotationQuery")
D["AnnotationContainer"]["properties"]["list"]["items"] = ref("AnnotationQueryByDatasource")

# ---------------------------------------------------------------------------------------------------
# Variables, dispatched on `type`.
vm = D["VariableModel"]
def variant(name, description):
    v = copy.deepcopy(vm); v["description"] = description; D[name] = v; return name

variant("VariableModel.query", "Query variable.")
widen("VariableModel.query", "definition", {"type": "string"}, SRC_VARS,
      "sceneVariablesSetToVariables writes `definition: variable.state.definition` for query variables; "
      "QueryVariableEditor.onQueryChange sets it to the query string / query.query.")
variant("VariableModel.query.prometheus", "Query variable on a Prometheus datasource.")
D["VariableModel.query.prometheus"]["properties"]["definition"] = {"type": "string"}
D["VariableModel.query.prometheus"]["properties"]["query"] = {
    "description": "PromVariableQuery as written by the Prometheus variable editor ({query, qryType, refId}); "
                   "a plain string is still accepted by PrometheusVariableSupport (as-code dashboards).",
    "anyOf": [{"type": "string"}, ref("prometheus.PromVariableQuery")]}
variant("VariableModel.interval", "Interval variable.")
for key, sch, state in [("auto", {"type": "boolean"}, "autoEnabled"), ("auto_min", {"type": "string"}, "autoMinInterval"),
                        ("auto_count", {"type": "number"}, "autoStepCount")]:
    widen("VariableModel.interval", key, sch, SRC_VARS,
          f"sceneVariablesSetToVariables writes `{key}: variable.state.{state}` for interval variables only "
          "(with @ts-expect-error).")
variant("VariableModel.adhoc", "Ad hoc filters variable.")
for key in ("baseFilters", "filters"):
    widen("VariableModel.adhoc", key,
          {"type": "array", "items": {"type": "object"},
           "description": "AdHocFilterWithLabels[] (@grafana/scenes type, not generated: items open)"},
          SRC_VARS, f"sceneVariablesSetToVariables writes `{key}` for adhoc variables (with @ts-expect-error).")
widen("VariableModel.adhoc", "defaultKeys", {"type": "array", "description": "MetricFindValue[] (@grafana/scenes; items open)"},
      SRC_VARS, "sceneVariablesSetToVariables writes `defaultKeys` for adhoc variables.")
variant("VariableModel.groupby", "Group by variable.")
widen("VariableModel.groupby", "defaultValue", ref("VariableOption"), SRC_VARS,
      "sceneVariablesSetToVariables writes `defaultValue: {value, text}` for groupby variables.")

var_if = has_type
D["VariableByType"] = {
    "description": "templating.list item, dispatched on `type` (and datasource.type for query variables).",
    "type": "object", "required": ["type"], "properties": {"type": {"type": "string"}},
    "allOf": [
        {"if": var_if("query"), "then": {"if": ds_type_is("prometheus"),
                                          "then": ref("VariableModel.query.prometheus"),
                                          "else": ref("VariableModel.query")}},
        {"if": var_if("interval"), "then": ref("VariableModel.interval")},
        {"if": var_if("adhoc"), "then": ref("VariableModel.adhoc")},
        {"if": var_if("groupby"), "then": ref("VariableModel.groupby")},
        {"if": {"required": ["type"], "properties": {"type": {"not": {"enum": ["query", "interval", "adhoc", "groupby"]}}}},
         "then": ref("VariableModel")},
    ],
}
tl = D["Dashboard"]["properties"]["templating"]["properties"]["list"]
assert tl["items"] == ref("VariableModel")
tl["items"] = ref("VariableByType")

# ---------------------------------------------------------------------------------------------------
# Dashboard-level: scopeMeta (experimental, not in the schema; written with @ts-expect-error).
widen("Dashboard", "scopeMeta",
      {"type": "object", "additionalProperties": False, "required": ["trait", "groups"],
       "properties": {"trait": {"type": "string"}, "groups": {"type": "array", "items": {"type": "string"}}},
       "description": "@experimental ScopeMeta {trait, groups} (DashboardModel.ts interface ScopeMeta)"},
      SRC_SCENE_SAVE,
      "transformSceneToSaveModel writes `scopeMeta: state.scopeMeta` (@ts-expect-error 'not in dashboard schema "
      "because it's experimental'); DashboardModel keeps it too. Only present when scopes are used.")

# ---------------------------------------------------------------------------------------------------
# Where the TS types themselves are open (index signatures / unknown), after composition.
def find_open(node, path, acc):
    if isinstance(node, dict):
        ap_ = node.get("additionalProperties")
        if path.endswith("/additionalProperties"):
            pass  # reported with its parent object
        elif node.get("type") == "array" and "items" not in node:
            acc.append(path + " (array of any JSON values)")
        elif not set(node) - {"description", "deprecated", "$comment"} and not path.endswith("/properties"):
            acc.append(path + " (unknown: any JSON value)")
        elif node.get("type") == "object" and "if" in node and "else" not in node and "properties" not in node:
            acc.append(path + " (when the `if` does not match: any object)")
        elif node.get("type") == "object" and (ap_ is None or ap_ == {} or ap_ is True) and "properties" not in node \
                and "$ref" not in node and "if" not in node:
            acc.append(path)
        elif isinstance(ap_, dict) and ap_ and "properties" not in node:
            acc.append(path + " (values: " + json.dumps(ap_, sort_keys=True)[:60] + ")")
        for k, v in node.items():
            find_open(v, f"{path}/{k}", acc)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            find_open(v, f"{path}/{i}", acc)
open_places = []
for n in sorted(D):
    find_open(D[n], f"#/definitions/{n}", open_places)

# Sanity: every $ref resolves, every definition with properties is closed unless listed as open.
all_refs = refs_of(D)
missing = sorted(r for r in all_refs if r not in D)
if missing:
    raise SystemExit(f"dangling $refs: {missing}")

# Keys Grafana's save code writes that were checked and need NO widening (already in the TS types).
not_widened = [
    {"definition": "Panel", "keys": ["pluginVersion", "libraryPanel", "timeCompare", "cacheTimeout", "queryCachingTTL",
                                     "interval", "maxDataPoints", "datasource", "targets", "transformations",
                                     "transparent", "links", "repeat", "repeatDirection", "maxPerRow",
                                     "timeFrom", "timeShift", "hideTimeOverride", "description", "options", "fieldConfig"],
     "source": dict(SRC_SCENE_SAVE, function="vizPanelToPanel / vizPanelDataToPanel")},
    {"definition": "RowPanel", "keys": ["type", "id", "title", "gridPos", "collapsed", "panels", "repeat"],
     "source": dict(SRC_SCENE_SAVE, function="gridRowToSaveModel")},
    {"definition": "prometheus.PromQuery", "keys": ["datasource", "refId", "hide", "editorMode", "range", "instant",
                                                   "legendFormat", "interval", "format", "exemplar", "expr", "key"],
     "source": {"npm": f"@grafana/prometheus@{prom_v} dist/types/types.d.ts + dataquery.d.ts; DataQuery veneer of "
                       f"@grafana/schema@{grafana_v} (datasource: DataSourceRef | null, key)"}},
    {"definition": "VariableModel", "keys": ["current", "options", "query", "datasource", "sort", "refresh", "regex",
                                             "allValue", "includeAll", "multi", "allowCustomValue", "skipUrlSync",
                                             "staticOptions", "staticOptionsOrder", "hide", "label", "description"],
     "source": SRC_VARS},
    {"definition": "AnnotationQuery", "keys": ["builtIn", "datasource", "enable", "hide", "iconColor", "name", "type",
                                               "placement", "target"],
     "source": dict(SRC_DASH_MODEL, function="addBuiltInAnnotationQuery; dataLayersToAnnotations.ts writes {...query, enable, hide, placement}")},
]

schema = {
    "$schema": dash["$schema"],
    "x-checked-no-widening-needed": not_widened,
    "$ref": REF + "Dashboard",
    "title": f"Grafana {grafana_v} dashboard (schemaVersion {schema_version}), closed and composed",
    "$comment": (
        f"Generated by grafana-schema.sh from @grafana/schema {grafana_v} (raw/dashboard/x/types.gen.d.ts, "
        f"raw/composable/<plugin>/panelcfg/x, panelcfg pluginVersion {panelcfg_v}), @grafana/prometheus {prom_v} "
        f"(types.d.ts: PromQuery, PromVariableQuery) and @grafana/data {grafana_v}, with ts-json-schema-generator "
        f"{tsj_v} WITHOUT --additional-properties; composed per panel type, per datasource type and per variable "
        f"type; widened only where Grafana's save code writes keys the types omit (see x-widened). "
        f"Grafana {grafana_v} = tag v{grafana_v}, commit {githead}. The grafana/grafana files cited in x-widened were "
        f"read at the commits named (the newest revisions a public-source index held), not verified against that "
        f"tag; @grafana/prometheus citations are the 13.2.3 package's own sources (source maps). DO NOT EDIT."),
    "x-grafana-version": grafana_v,
    "x-grafana-git-commit": githead,
    "x-grafana-schema-version": grafana_v,
    "x-grafana-prometheus-version": prom_v,
    "x-dashboard-schema-version": int(schema_version),
    "x-generator": f"ts-json-schema-generator@{tsj_v}",
    "x-panel-plugins": list(plugins),
    "x-widened": widened,
    "x-open": open_places,
    "definitions": D,
}
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(schema, f, indent=2, sort_keys=True)
    f.write("\n")
os.replace(tmp, out)
print(f"wrote {out}: {len(D)} definitions, {len(widened)} widenings, {len(open_places)} open places")
PY
echo "Grafana $GRAFANA_VERSION (@grafana/schema, dashboard schemaVersion $schema_version), @grafana/prometheus $PROMETHEUS_VERSION, ts-json-schema-generator $TSJ_VERSION"
