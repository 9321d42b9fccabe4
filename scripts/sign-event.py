#!/usr/bin/env python3
"""Re-sign an API Gateway (HTTP API, payload v2) fixture from events/ for invoking it by hand.

The fixtures are signed at a fixed time (1767225600) with the README's example secret for app
`demo`, so a running function refuses them (the timestamp is outside the 300 s window, and your
app's secret is another). This prints the event signed now (Python standard library only):

  management API (rawPath /v1/...): sets X-Zhibo-App/-Timestamp/-Nonce/-Signature for
      ZHIBO_APP_ID / ZHIBO_APP_SECRET (`make dev` writes them to .stack/dev-app.env)
  worker hooks (rawPath /internal/hooks), with --hook-secret SECRET: sets Zhibo-Signature
      (t=NOW,v1=hex HMAC-SHA256(SECRET, "NOW." + raw body)); SECRET is the function's HOOK_SECRET
  signed playback (rawPath /play/{app}/{room}/...), with --play-key KEY: sets txSecret/txTime
      for an hour from NOW with the app's key derived from the master PLAY_KEY KEY (README
      "Push and play URLs")

and sets requestContext.time/timeEpoch to the signing time. With --viewer-key KEY it re-issues
the viewer token of an AppSync Events authorizer request (events/realtime-authorizer-*.json:
authorizationToken) with the same claims, valid for an hour from NOW, signed with the app's
key derived from the master VIEWER_TOKEN_KEY KEY (zv1.{app}.{base64url(claims)}.{base64url(
HMAC-SHA256(hex HMAC-SHA256(KEY, "viewer\\0" + app), "zv1.{app}.{claims}"))}). The other
fixtures (wechat-*, and the non-HTTP ones) are invoked as they are.

usage: scripts/sign-event.py [--hook-secret SECRET | --play-key KEY | --viewer-key KEY]
                             [--at UNIX_TIME] [--nonce NONCE] EVENT.json

Invoking with cargo-lambda (https://www.cargo-lambda.info/commands/invoke.html): `cargo lambda
invoke` sends the event to `cargo lambda watch`, which must be running. With `make dev` running
(its DynamoDB Local, table `zhibo`, app in .stack/dev-app.env), in a second shell:

  eval "$(scripts/stack.sh env)"; export ZHIBO_TABLE=zhibo MIN_START_LEAD_S=0
  cargo lambda watch --env-var HOOK_SECRET=zhibo-example-hook-secret-0123456789 \
      --env-var PUSH_KEY=zhibo-example-push-key-0123456789

and in a third:

  set -a; . .stack/dev-app.env; set +a
  scripts/sign-event.py events/rooms-list.apigw-v2.json > /tmp/e.json
  cargo lambda invoke rooms --data-file /tmp/e.json
  scripts/sign-event.py --hook-secret zhibo-example-hook-secret-0123456789 \
      events/hooks-publish.apigw-v2.json > /tmp/h.json
  cargo lambda invoke hooks --data-file /tmp/h.json
  cargo lambda invoke sweeper --data-file events/sweeper-schedule.json

The realtime-authorizer-* fixtures carry a token for app `demo`'s room 1 signed at the fixtures'
time (valid for an hour) with VIEWER_TOKEN_KEY zhibo-example-viewer-key-0123456789: re-sign them
with --viewer-key and invoke the function with that VIEWER_TOKEN_KEY.

The play-* fixtures are signed at the fixtures' time (valid for an hour) with PLAY_KEY
zhibo-example-play-key-0123456789: re-sign them with --play-key (and set that PLAY_KEY and
PLAYBACK_MODE=signed on the watch); the wechat-* ones need a real token in place of
ACCESS_TOKEN (from /cgi-bin/token with your app id and secret). The fixtures name app `demo`'s
room 1, which `make dev` creates on a fresh stack (its dev app is `demo`).

--at and --nonce fix the time and nonce (how the fixtures themselves were signed:
`--at 1767225600 --nonce n0nce-0007` with ZHIBO_APP_ID=demo and the README's secret).
"""
import argparse, base64, hashlib, hmac, json, os, secrets, sys, time, urllib.parse

HOOKS_PATH = "/internal/hooks"


def canonical_query(raw: str) -> str:
    """The README's CANONICAL_QUERY: percent-decode ('+' stays a plus), sort, RFC 3986-encode."""
    pairs = []
    for part in filter(None, raw.split("&")):
        k, _, v = part.partition("=")
        pairs.append((urllib.parse.unquote(k), urllib.parse.unquote(v)))
    enc = lambda s: urllib.parse.quote(s, safe="-._~")
    pairs.sort(key=lambda p: (p[0].encode(), p[1].encode()))
    return "&".join(f"{enc(k)}={enc(v)}" for k, v in pairs)


def request_signature(secret: str, method: str, path: str, query: str, ts: int, nonce: str,
                      body: bytes) -> str:
    """X-Zhibo-Signature: hex HMAC-SHA256(secret, METHOD\\nPATH\\nQUERY\\nTS\\nNONCE\\nhex(SHA256(body)))."""
    to_sign = "\n".join([method.upper(), path, canonical_query(query), str(ts), nonce,
                         hashlib.sha256(body).hexdigest()])
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def body_signature(secret: str, ts: int, body: bytes) -> str:
    """Zhibo-Signature of worker hooks and webhooks: t=TS,v1=hex HMAC-SHA256(secret, "TS." + body)."""
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def app_url_key(master: str, purpose: str, app_id: str) -> str:
    """An app's push or play URL key: hex HMAC-SHA256(master, purpose + "\\0" + app_id)."""
    return hmac.new(master.encode(), f"{purpose}\0{app_id}".encode(), hashlib.sha256).hexdigest()


def url_signature(key: str, stream_name: str, expires_at: int) -> tuple:
    """(txSecret, txTime): hex MD5(key + stream_name + txTime), txTime 8 uppercase hex digits."""
    tx_time = f"{expires_at:08X}"
    return hashlib.md5(f"{key}{stream_name}{tx_time}".encode()).hexdigest(), tx_time


# The order of a viewer token's claims (as the Rust struct serializes them).
VIEWER_CLAIMS = ["app_id", "room_id", "user_id", "nickname", "avatar", "role", "exp"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def viewer_token(master: str, claims: dict) -> str:
    """zv1.{app}.{base64url(claims JSON)}.{base64url(HMAC-SHA256(app key, the part before))}, the
    app key hex HMAC-SHA256(master, "viewer\\0" + app_id) (docs/api.md "Audience interaction")."""
    app_id = claims["app_id"]
    app_key = hmac.new(master.encode(), f"viewer\0{app_id}".encode(), hashlib.sha256).hexdigest()
    body = json.dumps({k: claims[k] for k in VIEWER_CLAIMS}, separators=(",", ":"),
                      ensure_ascii=False)
    head = f"zv1.{app_id}.{b64url(body.encode())}"
    return f"{head}.{b64url(hmac.new(app_key.encode(), head.encode(), hashlib.sha256).digest())}"


def sign_authorizer_event(event: dict, ts: int, viewer_key: str) -> dict:
    """Re-issues an AppSync Events authorizer request's token: its claims, expiring at ts + 3600."""
    token = event.get("authorizationToken")
    if not isinstance(token, str):
        raise ValueError("not an AppSync Events authorizer request: no authorizationToken")
    prefix = "Bearer " if token.startswith("Bearer ") else ""
    parts = token[len(prefix):].split(".")
    if len(parts) != 4 or parts[0] != "zv1":
        raise ValueError("authorizationToken is not a zv1 viewer token")
    claims = json.loads(base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4)))
    claims["exp"] = ts + 3600
    event["authorizationToken"] = prefix + viewer_token(viewer_key, claims)
    return event


def raw_body(event: dict) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


def set_header(event: dict, name: str, value: str) -> None:
    """Sets a header as API Gateway delivers it (lower-case name), replacing any spelling."""
    headers = event.setdefault("headers", {})
    for k in [k for k in headers if k.lower() == name.lower()]:
        del headers[k]
    headers[name.lower()] = value


def set_time(event: dict, ts: int) -> None:
    ctx = event.setdefault("requestContext", {})
    ctx["time"] = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts))
    ctx["timeEpoch"] = ts * 1000


def sign_event(event: dict, ts: int, nonce: str, app_id=None, app_secret=None,
               hook_secret=None, play_key=None, viewer_key=None) -> dict:
    """Signs `event` (an API Gateway v2 event, or with viewer_key an AppSync Events authorizer
    request) at `ts`; raises ValueError when it can't be."""
    if "authorizationToken" in event or viewer_key is not None:
        if viewer_key is None:
            raise ValueError("an AppSync Events authorizer request carries a viewer token: "
                             "pass --viewer-key (the master VIEWER_TOKEN_KEY)")
        return sign_authorizer_event(event, ts, viewer_key)
    if event.get("version") != "2.0" or "rawPath" not in event:
        raise ValueError("not an API Gateway HTTP API (payload v2) event: no version 2.0 / rawPath")
    path = event["rawPath"]
    if play_key is not None:
        parts = path.split("/")
        if len(parts) < 4 or parts[1] != "play":
            raise ValueError(f"--play-key signs /play/{{app}}/{{room}}/... events; this one is {path}")
        secret, tx_time = url_signature(app_url_key(play_key, "play", parts[2]),
                                        f"{parts[2]}_{parts[3]}", ts + 3600)
        event["rawQueryString"] = f"txSecret={secret}&txTime={tx_time}"
        event["queryStringParameters"] = {"txSecret": secret, "txTime": tx_time}
        set_time(event, ts)
        return event
    method = event.get("requestContext", {}).get("http", {}).get("method", "")
    if not method:
        raise ValueError("requestContext.http.method is missing")
    body = raw_body(event)
    if hook_secret is not None:
        if path != HOOKS_PATH:
            raise ValueError(f"--hook-secret signs {HOOKS_PATH} events; this one is {path}")
        set_header(event, "Zhibo-Signature", body_signature(hook_secret, ts, body))
    else:
        if path == HOOKS_PATH:
            raise ValueError("a worker hook is signed with the hook secret: pass --hook-secret")
        if not path.startswith("/v1/"):
            raise ValueError(f"{path} is not a signed management route (/v1/...): invoke it as is")
        if not app_id or not app_secret:
            raise ValueError("set ZHIBO_APP_ID and ZHIBO_APP_SECRET "
                             "(set -a; . .stack/dev-app.env; set +a)")
        sig = request_signature(app_secret, method, path, event.get("rawQueryString", ""), ts,
                                nonce, body)
        set_header(event, "X-Zhibo-App", app_id)
        set_header(event, "X-Zhibo-Timestamp", str(ts))
        set_header(event, "X-Zhibo-Nonce", nonce)
        set_header(event, "X-Zhibo-Signature", sig)
    set_time(event, ts)
    return event


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("event", help="an events/*.apigw-v2.json or events/realtime-authorizer-*.json file")
    ap.add_argument("--hook-secret", help="sign a /internal/hooks event with this HOOK_SECRET")
    ap.add_argument("--play-key", help="sign a /play/... event with this (master) PLAY_KEY")
    ap.add_argument("--viewer-key", help="re-issue a realtime-authorizer-* event's token with "
                    "this (master) VIEWER_TOKEN_KEY")
    ap.add_argument("--at", type=int, help="signing time, unix seconds (default: now)")
    ap.add_argument("--nonce", help="X-Zhibo-Nonce (default: random)")
    args = ap.parse_args()
    with open(args.event, encoding="utf-8") as f:
        event = json.load(f)
    ts = args.at if args.at is not None else int(time.time())
    nonce = args.nonce or secrets.token_hex(12)
    try:
        sign_event(event, ts, nonce, os.environ.get("ZHIBO_APP_ID"),
                   os.environ.get("ZHIBO_APP_SECRET"), args.hook_secret, args.play_key,
                   args.viewer_key)
    except ValueError as e:
        print(f"{args.event}: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(event, ensure_ascii=False, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
