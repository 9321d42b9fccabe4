#!/usr/bin/env python3
"""Call zhibo's management API with a signed request (Python standard library only).

usage: scripts/zhibo-call.py METHOD PATH_AND_QUERY [JSON_BODY]
env:   ZHIBO_API (default http://127.0.0.1:18080), ZHIBO_APP_ID, ZHIBO_APP_SECRET
       (`make dev` writes them to .stack/dev-app.env)

Prints the HTTP status on stderr and the response body on stdout; exits 1 on a 4xx/5xx.
"""
import hashlib, hmac, os, secrets, sys, time, urllib.error, urllib.parse, urllib.request

def canonical_query(raw: str) -> str:
    pairs = []
    for part in filter(None, raw.split("&")):
        k, _, v = part.partition("=")
        # percent-decode only ('+' stays a literal plus), then RFC 3986-encode
        pairs.append((urllib.parse.unquote(k), urllib.parse.unquote(v)))
    enc = lambda s: urllib.parse.quote(s, safe="-._~")
    return "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(pairs, key=lambda p: (p[0].encode(), p[1].encode())))

def sign(secret: str, method: str, path: str, query: str, ts: int, nonce: str, body: bytes) -> str:
    to_sign = "\n".join([method.upper(), path, canonical_query(query), str(ts), nonce,
                         hashlib.sha256(body).hexdigest()])
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()

def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    method, path_and_query = sys.argv[1].upper(), sys.argv[2]
    body = sys.argv[3].encode() if len(sys.argv) > 3 else b""
    api = os.environ.get("ZHIBO_API", "http://127.0.0.1:18080")
    try:
        app, secret = os.environ["ZHIBO_APP_ID"], os.environ["ZHIBO_APP_SECRET"]
    except KeyError as e:
        print(f"set {e.args[0]} (see .stack/dev-app.env after `make dev`)", file=sys.stderr)
        return 2
    path, _, query = path_and_query.partition("?")
    ts, nonce = int(time.time()), secrets.token_hex(12)
    headers = {"X-Zhibo-App": app, "X-Zhibo-Timestamp": str(ts), "X-Zhibo-Nonce": nonce,
               "X-Zhibo-Signature": sign(secret, method, path, query, ts, nonce, body),
               "Content-Type": "application/json"}
    req = urllib.request.Request(api + path_and_query, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            status, text = res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    print(status, file=sys.stderr)
    print(text)
    return 0 if status < 400 else 1

if __name__ == "__main__":
    sys.exit(main())
