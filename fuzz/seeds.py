#!/usr/bin/env python3
"""Write the fuzzers' seed corpora into fuzz/corpus/<target>/ from the
repository's own data: CloudTrail samples (corpus/samples, broken,
adversarial), the pack's test events (compiler/rules/default.toml), rule configs
(testdata/rules, the README's examples), the hostile rules
(testdata/hostile) and the Lambda event shapes of lambda/src/event.rs.
Seeds are kept small (libFuzzer's default max_len is 4 KiB).
Needs Python 3.11 (tomllib).
Usage: fuzz/seeds.py [OUT_DIR]  (default fuzz/corpus)"""

import glob
import gzip
import hashlib
import json
import os
import re
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "fuzz", "corpus")
MAX = 4096


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX:
        return
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def p(*parts):
    return os.path.join(ROOT, *parts)


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


# CloudTrail records from the samples and the pack's tests ([[rule.test]]).
records = []
for path in sorted(glob.glob(p("corpus", "samples", "*.json*"))):
    try:
        records += json.loads(read(path))["Records"][:4]
    except (ValueError, KeyError):
        pass
with open(p("compiler", "rules", "default.toml"), "rb") as f:
    pack = tomllib.load(f)
for rule in pack.get("rule", []):
    for test in rule.get("test", []):
        if isinstance(test.get("event"), dict):
            records.append(test["event"])
        elif "event_json" in test:
            records.append(json.loads(test["event_json"]))
try:
    records += json.loads(read(p("corpus", "adversarial", "adversarial.json")))["Records"][:20]
except (ValueError, KeyError):
    pass

# Files for the readers: small CloudTrail files and the odd shapes.
files = [
    b"",
    b'{"Records":[]}',
    b'{"Records":[{"a":1},{"b":"x,}]\\"y"} , [1,2],3]}',
    b'{"digestStartTime":"2026-01-01T00:00:00Z","digestS3Object":"x"}',
    b'{"a":1}\n{"b":2}\n',
    b"[1,2]",
    b'{"Records":[{"eventName":"x"}',
    b'{"records":[{"eventName":"\\u00e9"}],"x":{"Records":[]}}',
]
for i in range(0, min(len(records), 60), 3):
    files.append(json.dumps({"Records": records[i:i + 3]}, separators=(",", ":")).encode())
for path in sorted(glob.glob(p("corpus", "samples", "*.json*"))):
    files.append(read(path)[:MAX])
files.append(read(p("corpus", "broken", "cloudtrail2sightings-ec2-user-data-malformed.json"))[:MAX])
for f in files:
    put("reader_plain", f)
    for mode in range(4):
        put("reader_gzip", bytes([mode, 128]) + f)
for path in sorted(glob.glob(p("corpus", "samples", "*.json.gz"))):
    raw = open(path, "rb").read()
    put("reader_gzip", bytes([4, 0]) + raw[2:])
    put("reader_plain", raw)

# Records for the pack.
for r in records:
    put("evaluate_pack", json.dumps(r, separators=(",", ":")))
put("evaluate_pack", b"[1,2]")
put("evaluate_pack", b'"x"')

# Configs: test configs, the pack, the README's examples, hostile rules.
for path in sorted(glob.glob(p("testdata", "rules", "*.toml"))) + [p("compiler", "rules", "default.toml")]:
    text = open(path, encoding="utf-8").read()
    put("compile_config", text)
    for block in re.split(r"(?=^\[\[rule\]\])", text, flags=re.M):
        if block.startswith("[[rule]]"):
            put("compile_config", block)
readme = open(p("README.md"), encoding="utf-8").read()
for block in re.findall(r"```toml\n(.*?)```", readme, flags=re.S):
    put("compile_config", block)
for path in sorted(glob.glob(p("testdata", "hostile", "*.toml"))):
    text = open(path, encoding="utf-8").read()
    m = re.search(r"^jq_match = (.*?)$(?=\n[a-z_]+ =|\Z)", text, flags=re.M | re.S)
    if m:
        put("compile_config", '[[rule]]\nname = "hostile"\njq_match = ' + m.group(1) + "\n")

# Lambda events: every shape event.rs decodes.
s3 = {"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
      "s3": {"bucket": {"name": "trail"}, "object": {"key": "AWSLogs/a+b%3Dc.json.gz", "size": 10}}}
s3_event = {"Records": [s3]}
envelope = {"Type": "Notification", "TopicArn": "arn:t", "Message": json.dumps(s3_event)}
eb = {"detail-type": "Object Created", "source": "aws.s3",
      "detail": {"bucket": {"name": "trail"}, "object": {"key": "a+b.gz", "size": 10, "version-id": "v"}}}
events = [
    s3_event,
    {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(s3_event)}}]},
    envelope,
    eb,
    {"detail-type": "Object Deleted", "detail": {}},
    {"Records": [
        {"eventSource": "aws:sqs", "messageId": "m1", "body": json.dumps(s3_event)},
        {"eventSource": "aws:sqs", "messageId": "m2", "body": json.dumps(envelope)},
        {"eventSource": "aws:sqs", "messageId": "m3", "body": json.dumps(eb)},
        {"eventSource": "aws:sqs", "messageId": "m4", "body": "not json"},
        {"eventSource": "aws:sqs", "messageId": "m5", "body": '{"Service":"Amazon S3","Event":"s3:TestEvent"}'},
    ]},
    {"invocationSchemaVersion": "1.0", "invocationId": "inv", "job": {"id": "j"},
     "tasks": [{"taskId": "t1", "s3Key": "AWSLogs/x%2By.gz", "s3VersionId": None,
                "s3BucketArn": "arn:aws:s3:::trail"}]},
    {"invocationSchemaVersion": "2.0", "invocationId": "inv", "job": {"id": "j", "userArguments": {}},
     "tasks": [{"taskId": "t1", "s3Key": "k", "s3VersionId": "v3", "s3Bucket": "trail"}]},
    {"foo": 1},
]
for e in events:
    put("lambda_event", json.dumps(e))
