#!/usr/bin/env python3
"""Convert Kubernetes OpenAPI definitions and CRDs into strict, standalone JSON schemas.

Why this exists: kubeconform validates against one JSON schema file per kind, named
`<kind>-<group>-<version>.json`. The usual schema catalogues are downloaded from hosts
we cannot reach, so scripts/k8s-schemas.sh generates them offline from the swagger.json
inside the `k8s.io/kubernetes` Go module and from prometheus-operator's CRDs, using the
same conventions as openapi2jsonschema's `--strict --standalone` mode:

- strict: every object schema with `properties` gets `additionalProperties: false`
  (unless it already says something, or preserves unknown fields), so a misspelt key in
  a rendered manifest fails instead of being silently dropped by the API server;
- standalone: each kind's file carries the definitions it reaches under `definitions`
  (refs keep their `#/definitions/...` form, which also handles recursive types);
- int-or-string and resource quantities accept both strings and numbers, like the API;
- `apiVersion` and `kind` are pinned with `enum`, so a kind under the wrong group fails.

Unlike openapi2jsonschema, optional fields do not accept `null`: a chart that renders
`key: null` has a templating bug we want to see. Standard library only, so it runs
before the project's virtualenv exists.

Usage:
  openapi2jsonschema.py k8s  <swagger.json> <out-dir>
  openapi2jsonschema.py crd  <crd.json|yaml-as-json>... --out <out-dir>
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Schema = dict[str, Any]

DRAFT = "http://json-schema.org/draft-07/schema#"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
NUMBER_OR_STRING: Schema = {"oneOf": [{"type": "string"}, {"type": "number"}]}
INT_OR_STRING: Schema = {"oneOf": [{"type": "string"}, {"type": "integer"}]}


def child_schemas(node: Schema) -> Iterator[Schema]:
    """Yield the sub-schemas of a schema node (never a `properties` map itself)."""
    for prop in node.get("properties", {}).values():
        if isinstance(prop, dict):
            yield prop
    for key in ("items", "additionalProperties", "not"):
        sub = node.get(key)
        if isinstance(sub, dict):
            yield sub
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key, []):
            if isinstance(sub, dict):
                yield sub


def tighten(node: Schema) -> Schema:
    """Return a strict copy of one schema node (recursively)."""
    if node.get("format") == "int-or-string" or node.get("x-kubernetes-int-or-string"):
        out = dict(INT_OR_STRING)
        if "description" in node:
            out["description"] = node["description"]
        return out
    out = copy.copy(node)
    if "properties" in out:
        out["properties"] = {k: tighten(v) for k, v in out["properties"].items()}
        if "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties", "not"):
        if isinstance(out.get(key), dict):
            out[key] = tighten(out[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(out.get(key), list):
            out[key] = [tighten(s) if isinstance(s, dict) else s for s in out[key]]
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        # CRD structural schemas mark fields that accept null explicitly.
        out["type"] = [out["type"], "null"]
    return out


def refs(node: Any) -> Iterator[str]:
    """Yield every definition name referenced anywhere below `node`."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            yield ref[len("#/definitions/") :]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def closure(root: str, definitions: dict[str, Schema]) -> list[str]:
    """Names of all definitions reachable from `root` (including it), in discovery order."""
    seen: dict[str, None] = {}
    stack = [root]
    while stack:
        name = stack.pop()
        if name in seen or name not in definitions:
            continue
        seen[name] = None
        stack.extend(refs(definitions[name]))
    return list(seen)


def file_name(kind: str, group: str, version: str) -> str:
    """kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json` naming."""
    suffix = f"-{group.split('.')[0].lower()}" if group else ""
    return f"{kind.lower()}{suffix}-{version.lower()}.json"


def pin_type_meta(schema: Schema, group: str, version: str, kind: str) -> None:
    """Make apiVersion and kind accept only this kind's values."""
    props = schema.setdefault("properties", {})
    api_version = f"{group}/{version}" if group else version
    props["apiVersion"] = {**props.get("apiVersion", {}), "type": "string", "enum": [api_version]}
    props["kind"] = {**props.get("kind", {}), "type": "string", "enum": [kind]}


def convert_k8s(swagger_path: Path, out_dir: Path) -> int:
    """Write one standalone strict schema per group/version/kind in a swagger.json."""
    swagger = json.loads(swagger_path.read_text())
    raw: dict[str, Schema] = swagger["definitions"]
    definitions = {name: tighten(schema) for name, schema in raw.items()}
    definitions[QUANTITY] = {**NUMBER_OR_STRING, "description": raw.get(QUANTITY, {}).get("description", "")}
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    for name, schema in raw.items():
        gvks = schema.get("x-kubernetes-group-version-kind", [])
        if len(gvks) != 1:
            continue  # shared meta types (DeleteOptions, WatchEvent) are not manifests
        gvk = gvks[0]
        target = file_name(gvk["kind"], gvk["group"], gvk["version"])
        if target in written:
            print(f"openapi2jsonschema: {target}: keeping {written[target]}, ignoring {name}", file=sys.stderr)
            continue
        doc: Schema = copy.deepcopy(definitions[name])
        pin_type_meta(doc, gvk["group"], gvk["version"], gvk["kind"])
        doc["$schema"] = DRAFT
        doc["definitions"] = {dep: definitions[dep] for dep in closure(name, definitions) if dep != name}
        # The root may be referenced recursively; keep it addressable too.
        doc["definitions"][name] = definitions[name]
        (out_dir / target).write_text(json.dumps(doc, separators=(",", ":"), sort_keys=True))
        written[target] = name
    return len(written)


def convert_crds(crd_paths: list[Path], out_dir: Path) -> int:
    """Write one strict schema per served version of each CustomResourceDefinition."""
    out_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in crd_paths:
        crd = json.loads(path.read_text())
        spec = crd["spec"]
        group, kind = spec["group"], spec["names"]["kind"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            schema = tighten(version["schema"]["openAPIV3Schema"])
            pin_type_meta(schema, group, version["name"], kind)
            schema["$schema"] = DRAFT
            target = out_dir / file_name(kind, group, version["name"])
            target.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True))
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    k8s = sub.add_parser("k8s", help="convert a Kubernetes swagger.json")
    k8s.add_argument("swagger", type=Path)
    k8s.add_argument("out", type=Path)
    crd = sub.add_parser("crd", help="convert CustomResourceDefinitions given as JSON")
    crd.add_argument("crds", type=Path, nargs="+")
    crd.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    count = convert_k8s(args.swagger, args.out) if args.mode == "k8s" else convert_crds(args.crds, args.out)
    print(f"openapi2jsonschema: wrote {count} schemas to {args.out}")
    return 0 if count else 1


if __name__ == "__main__":
    sys.exit(main())
