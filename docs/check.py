#!/usr/bin/env python3
"""Checks waveplot's contract documents, and messages against them.

    python3 docs/check.py --openapi docs/openapi.json --asyncapi docs/asyncapi.json [DIR]

The OpenAPI document must pass openapi-spec-validator, and every message schema of the
AsyncAPI document must be a valid JSON Schema (draft 2020-12). Each file of DIR named
`<message>-<anything>.json`, `<message>` being a message of the AsyncAPI document
(`renderRequest`, `renderReply`, `accepted`, `prepared`, `done`, `failed`, `watchRequest`,
`watchReply`, `price`, `candle`, `anomaly`, `signal`), must validate
against that message's schema. Prints what it checked; exits 1 on the first problem
of each file, listing them all.
"""

import argparse
import collections
import json
import pathlib
import sys

import jsonschema
from openapi_spec_validator import validate as validate_openapi


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--openapi", required=True, type=pathlib.Path)
    parser.add_argument("--asyncapi", required=True, type=pathlib.Path)
    parser.add_argument("messages", nargs="?", type=pathlib.Path)
    args = parser.parse_args()

    validate_openapi(json.loads(args.openapi.read_text()))
    print(f"{args.openapi}: a valid OpenAPI document")

    asyncapi = json.loads(args.asyncapi.read_text())
    if asyncapi.get("asyncapi") != "3.0.0":
        print(f"{args.asyncapi}: not an AsyncAPI 3.0.0 document", file=sys.stderr)
        return 1
    validators = {}
    for name, message in asyncapi["components"]["messages"].items():
        schema = message["payload"]["schema"]
        jsonschema.Draft202012Validator.check_schema(schema)
        validators[name] = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    print(f"{args.asyncapi}: {len(validators)} message schemas, each valid JSON Schema")

    if args.messages is None:
        return 0
    problems = []
    checked = collections.Counter()
    for path in sorted(args.messages.glob("*.json")):
        name = path.stem.split("-", 1)[0]
        validator = validators.get(name)
        if validator is None:
            problems.append(f"{path.name}: no message '{name}' in the AsyncAPI document")
            continue
        message = json.loads(path.read_text())
        error = jsonschema.exceptions.best_match(validator.iter_errors(message))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(the message)"
            problems.append(f"{path.name}: {where}: {error.message}")
            continue
        checked[name] += 1
    for problem in problems:
        print(problem, file=sys.stderr)
    summary = ", ".join(f"{name} {n}" for name, n in sorted(checked.items()))
    print(f"{sum(checked.values())} messages valid ({summary}); {len(problems)} invalid")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
