#!/usr/bin/env python3
"""Cold start of each Lambda binary, locally, through an emulation of the Lambda Runtime API.

For each function: start its release `bootstrap` (from `make build-lambdas`) as Lambda would,
with AWS_LAMBDA_RUNTIME_API pointing at this script's HTTP server, hand it one event from
`events/`, and time
  - init:  process start -> its first `GET /runtime/invocation/next` (runtime and config ready),
  - first: process start -> its `POST /runtime/invocation/{id}/response` (first answer),
against the local stack (DynamoDB Local, SeaweedFS) so the first request does its real I/O.
Each function is started RUNS times; the table gives medians and maxima.

    eval "$(scripts/stack.sh env)"; scripts/build-lambdas.sh; bench/cold_start.py [RUNS]
"""
import http.server, json, os, statistics, subprocess, sys, threading, time, uuid

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("ZHIBO_LAMBDA_DIR", os.path.join(ROOT, "target", "lambda", "lambda"))
# binary -> event fixture
FUNCTIONS = [
    ("rooms", "rooms-list.apigw-v2.json"),
    ("wechat", "wechat-token.apigw-v2.json"),
    ("hooks", "hooks-publish.apigw-v2.json"),
    ("webhooks", "webhooks-deliveries.apigw-v2.json"),
    ("play", "play-live.apigw-v2.json"),
    ("sweeper", "sweeper-schedule.json"),
    ("webhook-delivery", "webhook-delivery-schedule.json"),
    ("replay-indexer", "replay-indexer-removed.json"),
]


class Runtime(http.server.BaseHTTPRequestHandler):
    event = b"{}"
    marks = {}

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            # (The runtime may ask for the next event before it posts the answer, on the same
            # connection: answer every `next`; only the first answer is timed.)
            Runtime.marks.setdefault("next", time.perf_counter())
            rid = str(uuid.uuid4())
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            self.send_header("Content-Length", str(len(Runtime.event)))
            self.end_headers()
            self.wfile.write(Runtime.event)
        else:
            self.send_response(404)
            self.end_headers()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        kind = "response" if self.path.endswith("/response") else "error"
        Runtime.marks.setdefault(kind, time.perf_counter())
        Runtime.marks.setdefault("body", body)
        self.send_response(202)
        self.end_headers()


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    server.handle_error = lambda *a: None  # killed processes leave broken connections
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"127.0.0.1:{server.server_address[1]}"
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": api, "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench", "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "ZHIBO_TABLE": env.get("ZHIBO_TABLE", "zhibo_coldstart"), "RUST_LOG": "warn",
        "PUSH_KEY": "cold-start-push-key-0123", "HOOK_SECRET": "zhibo-example-hook-secret-0123456789",
        "PLAYBACK_MODE": "signed", "PLAY_KEY": "zhibo-example-play-key-0123456789",
        "AWS_REGION": env.get("AWS_REGION", "us-east-1"),
    })
    print(f"| function | binary size | init p50 ms | first answer p50 ms | first answer max ms | answered |")
    print("|---|---|---|---|---|---|")
    for name, fixture in FUNCTIONS:
        path = os.path.join(BIN, name, "bootstrap")
        if not os.path.exists(path):
            print(f"| {name} | (not built: run scripts/build-lambdas.sh) | | | | |")
            continue
        with open(os.path.join(ROOT, "events", fixture), "rb") as f:
            Runtime.event = f.read()
        inits, firsts, answered = [], [], ""
        for _ in range(RUNS):
            Runtime.marks = {}
            t0 = time.perf_counter()
            p = subprocess.Popen([path], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = t0 + 30
            while time.perf_counter() < deadline and not ("response" in Runtime.marks or "error" in Runtime.marks):
                if p.poll() is not None:
                    break
                time.sleep(0.0005)
            p.kill()
            _, err = p.communicate()
            done = Runtime.marks.get("response") or Runtime.marks.get("error")
            if done is None or "next" not in Runtime.marks:
                sys.exit(f"{name}: no answer; stderr:\n{err.decode(errors='replace')[-2000:]}")
            inits.append((Runtime.marks["next"] - t0) * 1000)
            firsts.append((done - t0) * 1000)
            body = Runtime.marks.get("body", b"")
            try:
                status = json.loads(body).get("statusCode", "ok")
            except Exception:
                status = "?"
            answered = f"{'response' if 'response' in Runtime.marks else 'error'} {status}"
        size = os.path.getsize(path) / 1e6
        print(f"| {name} | {size:.1f} MB | {statistics.median(inits):.1f} | {statistics.median(firsts):.1f} | {max(firsts):.1f} | {answered} |")


if __name__ == "__main__":
    main()
