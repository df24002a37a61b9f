#!/usr/bin/env python3
"""Measure the release `bootstrap` on one big CloudTrail object: wall time
and peak RSS (VmHWM) for one S3-triggered invocation, with S3 served by a
local moto server and the Lambda Runtime API by this script.

    bash scripts/package-lambda            # builds target/x86_64-unknown-linux-gnu/release/bootstrap
    python3 scripts/lambda-bench.py [--mb 200]

Needs moto[server] and boto3 (lambda/tests/requirements.txt)."""
import argparse, gzip, glob, http.server, io, json, os, socket, subprocess, sys, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--mb", type=int, default=200, help="uncompressed size of the object")
ap.add_argument("--bin", default=os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release/bootstrap"))
args = ap.parse_args()

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

records = []
for f in sorted(glob.glob(os.path.join(ROOT, "corpus/samples/*.json*"))):
    data = open(f, "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    records += json.loads(data).get("Records", [])
lines = [json.dumps(r) for r in records]
body, size, i = io.StringIO(), 0, 0
body.write('{"Records":[')
while size < args.mb * 1_000_000:
    if i:
        body.write(",")
    body.write(lines[i % len(lines)]); size += len(lines[i % len(lines)]); i += 1
body.write("]}")
raw = body.getvalue().encode()
gz = gzip.compress(raw, compresslevel=6)
print(f"object: {len(raw)/1e6:.0f} MB JSON, {len(gz)/1e6:.1f} MB gzip, {i} records")

port = free_port()
moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
endpoint = f"http://127.0.0.1:{port}"
for _ in range(300):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close(); break
    except OSError:
        time.sleep(0.1)
os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
import boto3
s3 = boto3.client("s3", endpoint_url=endpoint)
s3.create_bucket(Bucket="bench-trail")
s3.put_object(Bucket="bench-trail", Key="AWSLogs/big.json.gz", Body=gz)
pack = open(os.path.join(ROOT, "compiler/rules/default.toml")).read()
s3.put_object(Bucket="bench-trail", Key="tattletail.toml", Body=pack.encode())

event = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
          "s3": {"bucket": {"name": "bench-trail"}, "object": {"key": "AWSLogs/big.json.gz", "size": len(gz)}}}]}
state = {"sent": False, "answer": None, "t0": None}
done = threading.Event()

class Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if state["sent"]:
            done.wait(); time.sleep(3600)
        state["sent"] = True
        payload = json.dumps(event).encode()
        self.send_response(200)
        for k, v in [("Lambda-Runtime-Aws-Request-Id", "bench-1"),
                     ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 900_000)),
                     ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench"),
                     ("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]:
            self.send_header(k, v)
        self.end_headers(); self.wfile.write(payload)
        state["t0"] = time.time()
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0)); data = self.rfile.read(n)
        state["answer"] = (self.path, data.decode(), time.time() - state["t0"])
        self.send_response(202); self.send_header("Content-Length", "0"); self.end_headers()
        done.set()

api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
threading.Thread(target=api.serve_forever, daemon=True).start()
env = dict(PATH=os.environ["PATH"], AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.server_address[1]}",
           AWS_LAMBDA_FUNCTION_NAME="bench", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
           AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_LAMBDA_LOG_GROUP_NAME="g", AWS_LAMBDA_LOG_STREAM_NAME="s",
           AWS_ENDPOINT_URL=endpoint, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="test",
           AWS_SECRET_ACCESS_KEY="test", S3_CONFIG_BUCKET="bench-trail", S3_CONFIG_PATH="tattletail.toml",
           LAMBDA_TASK_ROOT="/tmp")
proc = subprocess.Popen([args.bin], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
logs = []
threading.Thread(target=lambda: logs.extend(proc.stdout), daemon=True).start()
done.wait(900)
time.sleep(0.2)
hwm = [l for l in open(f"/proc/{proc.pid}/status") if l.startswith("VmHWM")][0].split()[1]
proc.kill(); moto.kill()
path, answer, secs = state["answer"]
summary = [json.loads(l) for l in logs if b'"invocation_complete"' in l]
print(f"answer: {path.rsplit('/', 1)[-1]} {answer[:200]}")
print(f"invocation: {secs:.2f} s, {len(raw)/1e6/secs:.0f} MB/s of JSON, peak RSS {int(hwm)/1024:.1f} MB")
if summary:
    s = summary[0]
    print(f"records {s['records']}, alerts {s['alerts']}, delivered {s['alerts_delivered']}, undelivered {s['alerts_undelivered']}")
