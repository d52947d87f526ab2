"""Checks every example in an OpenAPI 3.1 document against the schema it illustrates: request
bodies, answers and parameters. An example that its own schema refuses would teach clients a
request the server refuses, or an answer it never gives.

    python3 openapi_examples.py openapi.json

Uses openapi-schema-validator, which openapi-spec-validator installs. Prints each example that
does not fit, and exits 1 if any does not.
"""

import json
import sys

from openapi_schema_validator import OAS31Validator, oas31_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "urn:jeton:openapi"


def main(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # The document's references are relative to itself; made absolute, they resolve from any of
    # its schemas.
    doc = json.loads(text.replace('"#/components/', f'"{BASE}#/components/'))
    registry = Registry().with_resource(
        BASE, Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    wrong = []
    checked = 0

    def check(where, schema, example):
        nonlocal checked
        checked += 1
        validator = OAS31Validator(
            schema, registry=registry, format_checker=oas31_format_checker
        )
        for error in validator.iter_errors(example):
            place = "/".join(str(p) for p in error.absolute_path) or "(the whole example)"
            wrong.append(f"{where}: {place}: {error.message}")

    def media(where, content):
        for media_type, m in (content or {}).items():
            schema = m.get("schema")
            if schema is None:
                continue
            if "example" in m:
                check(f"{where} {media_type}", schema, m["example"])
            for name, e in (m.get("examples") or {}).items():
                if "value" in e:
                    check(f"{where} {media_type} ({name})", schema, e["value"])

    for route, item in doc["paths"].items():
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            name = f"{method.upper()} {route}"
            for p in op.get("parameters", []):
                if "example" in p and "schema" in p:
                    check(f"{name} parameter {p['name']}", p["schema"], p["example"])
            media(f"{name} request", op.get("requestBody", {}).get("content"))
            for status, response in op.get("responses", {}).items():
                media(f"{name} {status}", response.get("content"))

    for line in wrong:
        print(line)
    print(f"{checked} examples checked, {len(wrong)} do not fit their schema")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
