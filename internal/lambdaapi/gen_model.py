#!/usr/bin/env python3
"""Generates model_gen.go: the input constraints of the Lambda operations
Hearth serves, taken from botocore's copy of the Lambda API model
(data/lambda/2015-03-31/service-2.json[.gz]).

Run it through `go generate ./internal/lambdaapi/` (see validate.go). It
finds the model in the installed botocore (pip's or Debian's
python3-botocore), or takes its path as the first argument:

    python3 gen_model.py [path/to/service-2.json[.gz]]

Add an operation to OPERATIONS when Hearth starts serving it.
"""

import gzip
import json
import os
import sys

OPERATIONS = [
    "CreateFunction",
    "GetFunction",
    "GetFunctionConfiguration",
    "ListFunctions",
    "DeleteFunction",
    "UpdateFunctionCode",
    "UpdateFunctionConfiguration",
    "Invoke",
    "InvokeAsync",
    "GetAccountSettings",
    "PutFunctionEventInvokeConfig",
    "UpdateFunctionEventInvokeConfig",
    "GetFunctionEventInvokeConfig",
    "DeleteFunctionEventInvokeConfig",
    "ListFunctionEventInvokeConfigs",
    "ListTags",
    "TagResource",
    "UntagResource",
    "PublishLayerVersion",
    "GetLayerVersion",
    "GetLayerVersionByArn",
    "ListLayers",
    "ListLayerVersions",
    "DeleteLayerVersion",
    "AddLayerVersionPermission",
    "RemoveLayerVersionPermission",
    "GetLayerVersionPolicy",
    "PutFunctionConcurrency",
    "GetFunctionConcurrency",
    "DeleteFunctionConcurrency",
    "PublishVersion",
    "ListVersionsByFunction",
    "CreateAlias",
    "GetAlias",
    "UpdateAlias",
    "DeleteAlias",
    "ListAliases",
    "AddPermission",
    "RemovePermission",
    "GetPolicy",
    "PutProvisionedConcurrencyConfig",
    "GetProvisionedConcurrencyConfig",
    "DeleteProvisionedConcurrencyConfig",
    "ListProvisionedConcurrencyConfigs",
    "CreateFunctionUrlConfig",
    "GetFunctionUrlConfig",
    "UpdateFunctionUrlConfig",
    "DeleteFunctionUrlConfig",
    "ListFunctionUrlConfigs",
    "InvokeWithResponseStream",
]

# Constraints the service enforces but the published model leaves out, and
# patterns Go's RE2 cannot compile as written.
OVERRIDES = {
    # The published model dropped Timeout's maximum when functions on
    # capacity providers (up to 5400 s) arrived, but AWS still answers
    # "1 validation error detected: Value '3000' at 'timeout' failed to
    # satisfy constraint: Member must have value less than or equal to 900"
    # for other functions, and Hearth runs no capacity providers.
    "Timeout": {"max": 900},
    # Likewise 32768 MB applies to capacity providers only; the model before
    # them had 10240, Hearth's limit.
    "MemorySize": {"max": 10240},
    # The published model leaves tag keys and values unconstrained, but
    # AWS refuses a tag outside Lambda's rules as a validation error (see
    # TagMapValue). UntagResource's keys keep the model's TagKey, so that
    # a tag stored before the check can still be removed.
    "Tags": {"key": {"shape": "TagMapKey"}, "value": {"shape": "TagMapValue"}},
    # (?<!\.): not ending with a dot.
    # Not all digits is checked by the alias handlers (RE2 has no lookahead).
    "Alias": {"re2": r"[a-zA-Z0-9-_]+"},
    # Not all digits, without a lookahead: some non-digit, anywhere.
    "FunctionUrlQualifier": {"re2": r"[0-9]*[a-zA-Z_-][0-9a-zA-Z_-]*"},
    "S3Bucket": {"re2": r"(?:[0-9A-Za-z\.\-_]*[0-9A-Za-z\-_])?"},
    # AWS lists this enum in its own order: "Value 'UNKNOWN' at 'invokeMode'
    # failed to satisfy constraint: Member must satisfy enum value set:
    # [RESPONSE_STREAM, BUFFERED]" (recorded: localstack
    # test_lambda.snapshot.json, TestLambdaURL::test_lambda_url_invalid_invoke_mode).
    "InvokeMode": {"enum": ["RESPONSE_STREAM", "BUFFERED"]},
}


# Shapes the service checks that the published model does not have.
EXTRA_SHAPES = {
    # Recorded from AWS: "Value '{Creator=X-XXX123,...}' at 'tags' failed
    # to satisfy constraint: Map value must satisfy constraint: [Member must
    # have length less than or equal to 256, Member must have length greater
    # than or equal to 0, Member must satisfy regular expression pattern:
    # ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$]", without "Member must not be null".
    # Keys follow the same rule with Lambda's 1 to 128 characters.
    "TagMapKey": {"type": "string", "min": 1, "max": 128, "pattern": r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"},
    "TagMapValue": {
        "type": "string",
        "min": 0,
        "max": 256,
        "pattern": r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$",
        "quietNull": True,
    },
}


def find_model():
    if len(sys.argv) > 1:
        return sys.argv[1]
    import botocore  # noqa: E402

    base = os.path.join(os.path.dirname(botocore.__file__), "data", "lambda", "2015-03-31")
    for name in ("service-2.json", "service-2.json.gz"):
        p = os.path.join(base, name)
        if os.path.exists(p):
            return p
    sys.exit("no Lambda model in botocore at " + base)


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return json.load(f)


def botocore_version():
    try:
        import botocore

        return botocore.__version__
    except ImportError:
        return "unknown"


def go_str(s):
    return json.dumps(s)  # a JSON string is a valid Go interpreted string


def main():
    path = find_model()
    model = load(path)
    shapes = model["shapes"]
    shapes.update(EXTRA_SHAPES)
    used = []

    def walk(name):
        if name in used:
            return
        used.append(name)
        s = dict(shapes[name])
        s.update(OVERRIDES.get(name, {}))
        for k in ("member", "key", "value"):
            if k in s:
                walk(s[k]["shape"])
        for m in s.get("members", {}).values():
            walk(m["shape"])

    ops = []
    for op in OPERATIONS:
        o = model["operations"][op]
        inp = o.get("input", {}).get("shape", "")
        if inp:
            walk(inp)
        ops.append((op, inp))

    kinds = {
        "string": "kindString",
        "integer": "kindInteger",
        "long": "kindInteger",
        "double": "kindDouble",
        "float": "kindDouble",
        "boolean": "kindBoolean",
        "blob": "kindBlob",
        "timestamp": "kindTimestamp",
        "list": "kindList",
        "map": "kindMap",
        "structure": "kindStructure",
    }
    locs = {"": "locBody", "uri": "locURI", "querystring": "locQuery", "header": "locHeader"}

    out = []
    w = out.append
    w("// Code generated by gen_model.py from botocore %s's Lambda model; DO NOT EDIT." % botocore_version())
    w("")
    w("package lambdaapi")
    w("")
    w("// modelOperations maps each operation Hearth serves to its input shape.")
    w("var modelOperations = map[string]string{")
    for op, inp in ops:
        w("\t%s: %s," % (go_str(op), go_str(inp)))
    w("}")
    w("")
    w("// modelShapes holds the input shapes of modelOperations with their")
    w("// constraints, members in the model's order.")
    w("var modelShapes = map[string]*shape{")
    for name in used:
        s = dict(shapes[name])
        s.update(OVERRIDES.get(name, {}))
        fields = ["kind: %s" % kinds[s["type"]]]
        if "min" in s:
            fields.append("min: %r, hasMin: true" % float(s["min"]))
        if "max" in s:
            fields.append("max: %r, hasMax: true" % float(s["max"]))
        if "pattern" in s:
            fields.append("pattern: %s" % go_str(s["pattern"]))
        if "re2" in s:
            fields.append("re2: %s" % go_str(s["re2"]))
        if "enum" in s:
            fields.append("enum: []string{%s}" % ", ".join(go_str(e) for e in s["enum"]))
        if s.get("sensitive"):
            fields.append("sensitive: true")
        if s.get("quietNull"):
            fields.append("quietNull: true")
        if "member" in s:
            fields.append("elem: %s" % go_str(s["member"]["shape"]))
        if "key" in s:
            fields.append("key: %s, value: %s" % (go_str(s["key"]["shape"]), go_str(s["value"]["shape"])))
        if "payload" in s:
            fields.append("payload: %s" % go_str(s["payload"]))
        if s["type"] == "structure":
            req = set(s.get("required") or [])
            ms = []
            for mname, m in s.get("members", {}).items():
                ms.append(
                    "{%s, %s, %s, %s, %s}"
                    % (
                        go_str(mname),
                        go_str(m["shape"]),
                        locs[m.get("location", "")],
                        go_str(m.get("locationName", mname)),
                        "true" if mname in req else "false",
                    )
                )
            fields.append("members: []member{\n\t\t%s,\n\t}" % ",\n\t\t".join(ms) if ms else "members: []member{}")
        w("\t%s: {%s}," % (go_str(name), ", ".join(fields)))
    w("}")
    sys.stdout.write("")
    dst = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_gen.go")
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
