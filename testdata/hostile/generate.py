#!/usr/bin/env python3
"""Regenerate the large inputs of the hostile-rules suite.

Writes testdata/hostile/rules/*.jq and testdata/hostile/records/*.json,
deterministically (no randomness, no clock): running it twice gives the
same bytes, and `git diff` after running it shows nothing. Every file stays
under 200 KB. Run from anywhere: python3 testdata/hostile/generate.py
(`--out DIR` writes under DIR instead; the test suite uses it to check
that the committed files are fresh).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = HERE
LIMIT = 200 * 1024


def write(rel, data):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    assert len(data) < LIMIT, f"{rel} is {len(data)} bytes"
    with open(path, "wb") as f:
        f.write(data)


def record(name, event_id, **fields):
    """A CloudTrail-shaped record (compact JSON, one line)."""
    r = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::123456789012:user/mallory",
            "accountId": "123456789012",
            "userName": "mallory",
        },
        "eventTime": "2026-01-01T00:00:00Z",
        "eventSource": fields.pop("eventSource", "iam.amazonaws.com"),
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.66",
        "userAgent": fields.pop("userAgent", "aws-cli/2.15.0 Python/3.11.6"),
    }
    r.update(fields)
    r["eventID"] = event_id
    return json.dumps(r, separators=(",", ":"), ensure_ascii=False)


def nested_object_record(depth, event_id):
    """A record whose requestParameters nest `depth` objects deep (the
    record itself is one level more). Built as text: no JSON library
    would print it."""
    head = record("PutBucketTagging", event_id, eventSource="s3.amazonaws.com")
    assert head.endswith("}")
    inner = '{"a":' * depth + '"bottom"' + "}" * depth
    return head[:-1] + ',"requestParameters":' + inner + "}"


def main():
    # Rules.
    write(
        "rules/or-4500.jq",
        "\nor ".join(f'.eventName == "Event{i:04d}"' for i in range(4500)) + "\n",
    )
    write("rules/parens-3000.jq", "(" * 3000 + ".eventName" + ")" * 3000 + "\n")
    write("rules/brackets-3000.jq", "[" * 3000 + ".eventName" + "]" * 3000 + "\n")
    write("rules/pipe-20000.jq", " | ".join(["."] * 20000) + " | .eventName\n")
    # Each function calls the previous one twice: fully inlined, f39 is
    # 2^39 copies of `.`.
    write(
        "rules/inline-bomb-40.jq",
        "".join(
            f"def f{i}: " + ("." if i == 0 else f"f{i - 1} | f{i - 1}") + ";\n"
            for i in range(40)
        )
        + "f39\n",
    )

    # Records: policy documents that are JSON text nested N arrays deep.
    for depth, name in [(25000, "policy-nested-50k"), (7000, "policy-nested-14k"), (900, "policy-nested-900")]:
        doc = "[" * depth + "]" * depth
        write(
            f"records/{name}.json",
            record(
                "PutUserPolicy",
                f"hostile-{name}",
                requestParameters={"userName": "mallory", "policyName": "p", "policyDocument": doc},
            ),
        )

    # Records nested deep themselves.
    for depth in (600, 1010, 2000):
        write(f"records/deep-{depth}.json", nested_object_record(depth, f"hostile-deep-{depth}"))

    # Two arrays nested 1,020 deep (the record: 1,022 levels, under the
    # parser's 1,024), different at the bottom.
    head = record("PutBucketPolicy", "hostile-deep-arrays", eventSource="s3.amazonaws.com")
    a = "[" * 1020 + "1" + "]" * 1020
    b = "[" * 1020 + "2" + "]" * 1020
    write(
        "records/deep-arrays-1020.json",
        head[:-1] + ',"requestParameters":' + a + ',"responseElements":' + b + "}",
    )

    # A policy document pretty-printed with a lot of whitespace (what
    # `gsub("\\s"; "")` normalisation rules strip).
    stmt = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    pretty = json.dumps({"Version": "2012-10-17", "Statement": [stmt] * 60}, indent=40)
    write(
        "records/policy-whitespace.json",
        record(
            "PutUserPolicy",
            "hostile-policy-whitespace",
            requestParameters={"userName": "mallory", "policyName": "wide", "policyDocument": pretty},
        ),
    )

    # Long strings.
    write(
        "records/string-50k.json",
        record("PutUserPolicy", "hostile-string-50k", requestParameters={"policyDocument": "a" * 50000}),
    )
    write(
        "records/string-190k.json",
        record("PutUserPolicy", "hostile-string-190k", requestParameters={"policyDocument": "a" * 190000}),
    )
    write(
        "records/spaces-190k.json",
        record("PutUserPolicy", "hostile-spaces-190k", requestParameters={"policyDocument": " " * 190000}),
    )

    # A 90,000-element array of digits (deterministic, unsorted).
    items = [(i * 7919) % 10 for i in range(90000)]
    write(
        "records/array-90k.json",
        record("RunInstances", "hostile-array-90k", eventSource="ec2.amazonaws.com", requestParameters={"items": items}),
    )

    # 15,000 keys.
    tags = {f"k{i:05d}": i % 7 for i in range(15000)}
    write(
        "records/keys-15k.json",
        record("TagResource", "hostile-keys-15k", eventSource="tagging.amazonaws.com", requestParameters={"tags": tags}),
    )

    # Two 15,000-element arrays, one the other reversed: `contains` must
    # look far for every element.
    a = list(range(15000))
    write(
        "records/contains-15k.json",
        record(
            "AuthorizeSecurityGroupIngress",
            "hostile-contains-15k",
            eventSource="ec2.amazonaws.com",
            requestParameters={"allowed": a, "requested": a[::-1]},
        ),
    )

    # Invalid UTF-8 inside a string (a byte CloudTrail never writes, but a
    # log file can carry).
    text = record("CreateUser", "hostile-invalid-utf8", requestParameters={"userName": "XX"})
    write("records/invalid-utf8.json", text.encode("utf-8").replace(b"XX", b"m\xffllory"))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--out":
        OUT = sys.argv[2]
    elif len(sys.argv) != 1:
        sys.exit("usage: generate.py [--out DIR]")
    main()
