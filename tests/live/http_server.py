#!/usr/bin/env python3
"""One HTTP server of the live test: Python's own http.server, bound to one address and
port, serving a folder (GET) and storing uploads (PUT, answered with the body's sha256).
Every request is logged as one line `METHOD PATH FROM` to --log, so the test can tell
which server a request reached."""
import argparse
import hashlib
import http.server
import os
import socket
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    log = open(a.log, "a", buffering=1)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kw):
            super().__init__(*args, directory=a.dir, **kw)

        def log_request(self, code="-", size="-"):
            log.write(f"{self.command} {self.path} {self.client_address[0]} {code}\n")

        def log_message(self, fmt, *args):
            sys.stderr.write(fmt % args + "\n")

        def do_PUT(self):
            n = int(self.headers.get("Content-Length", "0"))
            h = hashlib.sha256()
            left = n
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                h.update(chunk)
                left -= len(chunk)
            body = (h.hexdigest() + "\n").encode()
            self.send_response(200 if left == 0 else 400)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    family = socket.AF_INET6 if ":" in a.bind else socket.AF_INET

    class Server(http.server.ThreadingHTTPServer):
        address_family = family

    srv = Server((a.bind, a.port), Handler)
    print(f"listening on {a.bind} port {a.port}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
