"""Schemathesis hooks for the admin API, loaded through SCHEMATHESIS_HOOKS by tests/openapi.rs.

The document excludes, with `not: {enum: [...]}`, the path-parameter values that can never
address an operation: an id equal to a static segment of another route of the same shape
("tenants" in `/{tenant}/users` makes `/tenants/users`, the tenant "users"; "lookup" in
`/{tenant}/users/{id}` makes the lookup route) and the dot segments "." and "..", which HTTP
clients remove from a URL. Negative testing still sends them, and the router then rightly
answers for the other route (a 405, or another operation's status): no failure of the operation
under test. This hook drops those cases and only those; every other invalid value is still sent.
The excluded values are read from docs/openapi.json, which tests/openapi.rs keeps identical to
the served document.
"""

import json
import os

import schemathesis

_DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "openapi.json")


def _excluded_values():
    with open(_DOC, encoding="utf-8") as f:
        doc = json.load(f)
    shared = doc.get("components", {}).get("parameters", {})
    out = {}
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            excluded = {}
            for parameter in operation.get("parameters", []):
                ref = parameter.get("$ref", "")
                if ref.startswith("#/components/parameters/"):
                    parameter = shared[ref.rsplit("/", 1)[1]]
                if parameter.get("in") != "path":
                    continue
                not_ = parameter.get("schema", {}).get("not", {})
                if isinstance(not_, dict) and not_.get("enum"):
                    excluded[parameter["name"]] = set(not_["enum"])
            out[(method.upper(), path)] = excluded
    return out


_EXCLUDED = _excluded_values()


# A case-level filter: unlike `filter_path_parameters`, it also applies to the coverage phase.
@schemathesis.hook
def filter_case(context, case):
    excluded = _EXCLUDED.get((case.operation.method.upper(), case.operation.path), {})
    parameters = case.path_parameters or {}
    return not any(parameters.get(name) in values for name, values in excluded.items())
