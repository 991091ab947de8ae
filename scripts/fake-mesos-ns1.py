#!/usr/bin/env python3
"""A fake Mesos master and a fake NS1 API, for
scripts/test-systemd-unit: real HTTP over real sockets, with the wire formats
of tests/support/fake_mesos.rs and tests/support/fake_ns1.rs (the reference
for both is shared/spec/ns1-api.md), kept small: one zone, no faults.

    fake-mesos-ns1.py STATE.json ZONE LEADER_PID DIR [ADDRESS]

Listens on ADDRESS (default 127.0.0.1; test-systemd-unit runs it in the
test container's private network namespace) and serves STATE.json (its "leader" and "pid" replaced by LEADER_PID) as
/master/state, and the NS1 zone ZONE under /v1/ (records created with PUT,
updated with POST, deleted with DELETE; X-NSONE-Key required).  Writes
DIR/ports ("MESOS_PORT NS1_PORT") once listening, and DIR/records.json (the
zone's records) after every write.  Runs until killed.
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

state_file, zone, leader_pid, out_dir = sys.argv[1:5]
address = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1"
with open(state_file, encoding="utf-8") as f:
    state = json.load(f)
state["leader"] = leader_pid
state["pid"] = leader_pid
state_body = json.dumps(state).encode()

records = {}  # (domain, type) -> {"ttl": n, "answers": [[...], ...]}
lock = threading.Lock()
next_id = [1]


def save():
    tmp = os.path.join(out_dir, "records.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump([{"domain": d, "type": t, "ttl": r["ttl"], "answers": r["answers"]}
                   for (d, t), r in sorted(records.items())], f, indent=1)
    os.replace(tmp, os.path.join(out_dir, "records.json"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.server.name, fmt % args))

    def reply(self, status, value, ratelimit=True):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if ratelimit:
            self.send_header("X-Ratelimit-Limit", "100")
            self.send_header("X-Ratelimit-Remaining", "99")
            self.send_header("X-Ratelimit-Period", "10")
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"null")

    def handle_any(self, method):
        url = urlsplit(self.path)
        if self.server.name == "mesos":
            if method == "GET" and url.path in ("/master/state", "/master/state.json"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(state_body)))
                self.end_headers()
                self.wfile.write(state_body)
            else:
                self.reply(404, {"message": "Not Found"}, ratelimit=False)
            return
        if self.headers.get("X-NSONE-Key") is None:
            self.reply(401, {"message": "Unauthorized"})
            return
        segs = [unquote(s) for s in url.path.strip("/").split("/")]
        if segs[:1] != ["v1"] or len(segs) < 3 or segs[1] != "zones" or segs[2].lower() != zone:
            self.reply(404, {"message": "zone not found"})
            return
        with lock:
            if len(segs) == 3 and method == "GET":
                listing = [{"domain": d, "type": t, "ttl": r["ttl"], "tier": 1, "link": None,
                            "id": r["id"],
                            "short_answers": [" ".join(str(x) for x in a) for a in r["answers"]]}
                           for (d, t), r in sorted(records.items())]
                self.reply(200, {"zone": zone, "id": "zone1", "ttl": 3600, "nx_ttl": 3600,
                                 "retry": 7200, "refresh": 43200, "expiry": 1209600,
                                 "serial": 1, "dnssec": False, "meta": {}, "link": None,
                                 "records": listing})
                return
            if len(segs) != 5:
                self.reply(404, {"message": "Not Found"})
                return
            key = (segs[3].lower(), segs[4].upper())
            if method == "GET":
                r = records.get(key)
                if r is None:
                    self.reply(404, {"message": "record not found"})
                else:
                    self.reply(200, self.record_json(key, r))
            elif method == "DELETE":
                if records.pop(key, None) is None:
                    self.reply(404, {"message": "record not found"})
                else:
                    save()
                    self.reply(200, {})
            elif method in ("PUT", "POST"):
                body = self.body()
                if method == "PUT" and key in records:
                    self.reply(400, {"message": "record already exists"})
                    return
                if method == "POST" and key not in records:
                    self.reply(404, {"message": "record not found"})
                    return
                r = records.get(key) or {"id": "r%d" % next_id[0]}
                next_id[0] += 1
                r["ttl"] = body.get("ttl", r.get("ttl", 3600))
                if "answers" in body:
                    r["answers"] = [a["answer"] if isinstance(a, dict) else a
                                    for a in body["answers"]]
                records[key] = r
                save()
                self.reply(200, self.record_json(key, r))
            else:
                self.reply(405, {"message": "Method Not Allowed"})

    def record_json(self, key, r):
        return {"domain": key[0], "zone": zone, "type": key[1], "ttl": r["ttl"], "id": r["id"],
                "tier": 1, "link": None, "meta": {}, "filters": [], "regions": {},
                "answers": [{"answer": a, "id": "%s-%d" % (r["id"], i)}
                            for i, a in enumerate(r["answers"])]}

    def do_GET(self):
        self.handle_any("GET")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")


servers = []
for name in ("mesos", "ns1"):
    s = ThreadingHTTPServer((address, 0), Handler)
    s.name = name
    s.daemon_threads = True
    servers.append(s)
    threading.Thread(target=s.serve_forever, daemon=True).start()
save()
with open(os.path.join(out_dir, "ports.tmp"), "w", encoding="utf-8") as f:
    f.write("%d %d\n" % (servers[0].server_address[1], servers[1].server_address[1]))
os.replace(os.path.join(out_dir, "ports.tmp"), os.path.join(out_dir, "ports"))
threading.Event().wait()
