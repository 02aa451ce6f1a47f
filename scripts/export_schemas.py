#!/usr/bin/env python3
"""Export every component schema of each contract as a standalone JSON Schema 2020-12 file.

    python3 scripts/export_schemas.py          # rewrite the *.schema.json files
    python3 scripts/export_schemas.py --check  # exit 1 if a file is missing or differs

Contracts: the gateway's own (schemas/openapi.yaml -> schemas/*.schema.json) and the reference
gateway's v1 contract as served under /reference (schemas/reference-v1/openapi.yaml ->
schemas/reference-v1/*.schema.json). Each `<Name>.schema.json` is the OpenAPI component `<Name>`
with `$schema` and `$id` added and `#/components/schemas/X` references rewritten to
`X.schema.json`, so other teams can validate messages with any JSON Schema tool. The Swift test
suite checks that the files match the OpenAPI documents (ConformanceTests), so they cannot drift.
With `jsonschema` installed, this script also validates the examples (`<Schema>.<case>.json`) in
docs/api/examples/ and docs/api/examples/reference-v1/.
"""

import argparse
import glob
import json
import os
import sys

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BASE_ID = "https://heinfer.example/schemas/"
# (folder of openapi.yaml and its exported schemas, examples folder, $id prefix)
CONTRACTS = [
    (os.path.join(ROOT, "schemas"), os.path.join(ROOT, "docs", "api", "examples"), BASE_ID),
    (os.path.join(ROOT, "schemas", "reference-v1"), os.path.join(ROOT, "docs", "api", "examples", "reference-v1"),
     BASE_ID + "reference-v1/"),
]


def rewrite(node):
    if isinstance(node, dict):
        return {
            key: (value.replace("#/components/schemas/", "") + ".schema.json"
                  if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/")
                  else rewrite(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [rewrite(item) for item in node]
    return node


def exported(document, base_id):
    version = document["info"]["version"]
    files = {}
    for name, schema in document["components"]["schemas"].items():
        body = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{base_id}{name}.schema.json",
            "title": name,
            "x-contract-version": version,
        }
        body.update(rewrite(schema))
        files[f"{name}.schema.json"] = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    return files


def validate_examples(files, examples, base_id):
    try:
        import jsonschema
        from referencing import Registry, Resource
    except ImportError:
        print("jsonschema not installed: examples not validated")
        return True
    registry = Registry().with_resources(
        (f"{base_id}{name}", Resource.from_contents(json.loads(text))) for name, text in files.items())
    ok = True
    for path in sorted(glob.glob(os.path.join(examples, "*.json"))):
        schema_name = os.path.basename(path).split(".")[0]
        schema = json.loads(files[f"{schema_name}.schema.json"])
        validator = jsonschema.Draft202012Validator(
            schema, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        with open(path) as handle:
            errors = list(validator.iter_errors(json.load(handle)))
        for error in errors:
            print(f"{os.path.relpath(path, ROOT)}: {error.message}")
        ok = ok and not errors
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    arguments = parser.parse_args()
    failed = False
    for folder, examples, base_id in CONTRACTS:
        with open(os.path.join(folder, "openapi.yaml")) as handle:
            files = exported(yaml.safe_load(handle), base_id)
        stale = []
        for name, text in files.items():
            path = os.path.join(folder, name)
            current = open(path).read() if os.path.exists(path) else None
            if current != text:
                stale.append(name)
                if not arguments.check:
                    with open(path, "w") as handle:
                        handle.write(text)
        for path in glob.glob(os.path.join(folder, "*.schema.json")):
            if os.path.basename(path) not in files:
                stale.append(os.path.basename(path))
                if not arguments.check:
                    os.remove(path)
        where = os.path.relpath(folder, ROOT)
        if arguments.check and stale:
            print(f"{where}: out of date:", ", ".join(sorted(stale)))
            failed = True
        print(f"{where}: {len(files)} schemas {'checked' if arguments.check else 'written'}")
        if not validate_examples(files, examples, base_id):
            failed = True
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
