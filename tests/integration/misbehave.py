#!/usr/bin/env python3
"""A small misbehaving HTTP/1.1 backend for the sb-lb integration tests.

Run as its own process, one mode per process:

  misbehave.py --port P --name NAME --mode MODE [--delay-ms N] [--log FILE]
               [--readyz-status N] [--events N] [--event-interval-ms N]
               [--close-after-ms N]

Modes:
  ok                  200 JSON {"served_by", "method", "path"}, keep-alive
  count               200 JSON echoing the headers and body it received
  close-mid-response  a head with Content-Length: 100, 10 body bytes, close
  hang                reads the request, never answers (also /readyz)
  slow                answers like ok after --delay-ms
  reset-after-request reads the whole request, then closes with RST
  sse                 GET /events: text/event-stream, chunked, --events
                      events "data: N\\n\\n" every --event-interval-ms, flushed
                      one by one, then the end of the stream
  upgrade             a request with Upgrade gets 101, then every byte is
                      echoed back upper-cased (a two-way tunnel)
  close-after-response
                      answers like count, keep-alive (no Connection: close),
                      then closes a connection left idle for --close-after-ms
                      (a plain close, FIN): a backend whose keep-alive timeout
                      is shorter than the LB's pool timeout
  close-on-reuse      the first request on a connection is answered like
                      count, keep-alive; a later request on the same
                      connection is read (and logged) and the connection
                      closed with no answer: what a client sees when the
                      server's keep-alive timeout fires just as its request
                      is on the wire, made deterministic

Every response carries X-Served-By: NAME. GET /readyz answers
--readyz-status (200) in every mode but hang, where it hangs too unless
--readyz-status is given. With --log, every request other than the health
path is appended to FILE as one JSON line (method, path, headers, body
length, body, mode, and "conn"/"conn_seq": the number of the connection,
in accept order from 1, and of the request on it, from 1) *before* the mode
acts on it, so a test can count what reached this backend, whatever the
mode did next. Connections closed by the server for idleness are written to
stdout as "idle-close conn=N requests=M pending=0|1" (pending=1: a request
had started to arrive as it closed).

Python 3 standard library only; one thread per connection.
"""

import argparse
import itertools
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

READYZ = "/readyz"


class BadRequest(Exception):
    pass


class Conn:
    """Buffered reading of HTTP/1.1 requests from one socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def read_line(self, limit=65536):
        while b"\r\n" not in self.buf:
            if len(self.buf) > limit:
                raise BadRequest("line too long")
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_request(self):
        """(method, path, version, [(name, value)], body, framing)."""
        line = self.read_line()
        while line == b"":          # tolerate stray CRLF between requests
            line = self.read_line()
        parts = line.decode("latin-1").split(" ")
        if len(parts) != 3:
            raise BadRequest("bad request line %r" % line)
        method, path, version = parts
        headers = []
        while True:
            h = self.read_line()
            if h == b"":
                break
            if b":" not in h:
                raise BadRequest("bad header line %r" % h)
            k, v = h.split(b":", 1)
            headers.append((k.decode("latin-1"), v.decode("latin-1").strip()))
        te = [v for k, v in headers if k.lower() == "transfer-encoding"]
        cl = [v for k, v in headers if k.lower() == "content-length"]
        body = b""
        framing = "none"
        if te:
            framing = "chunked"
            while True:
                size_line = self.read_line().split(b";", 1)[0].strip()
                size = int(size_line, 16)
                if size == 0:
                    while self.read_line() != b"":   # trailers
                        pass
                    break
                body += self.read_exact(size)
                if self.read_exact(2) != b"\r\n":
                    raise BadRequest("chunk not followed by CRLF")
        elif cl:
            framing = "length"
            # Lenient on purpose ("5, 5" or two equal lines read as 5), so
            # a test can see what a proxy let through.
            values = {v.strip() for line in cl for v in line.split(",")}
            if len(values) != 1:
                raise BadRequest("conflicting Content-Length %r" % cl)
            body = self.read_exact(int(values.pop()))
        return method, path, version, headers, body, framing


def header(headers, name, default=None):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return default


class Server:
    def __init__(self, args):
        self.args = args
        self.log_lock = threading.Lock()
        self.log_file = open(args.log, "a") if args.log else None
        self.seen = 0
        self.conn_ids = itertools.count(1)
        self.out_lock = threading.Lock()

    # -- output helpers --------------------------------------------------
    def send_response(self, sock, status, body, keep_alive, ctype="application/json",
                      extra=()):
        reasons = {200: "OK", 404: "Not Found", 500: "Internal Server Error",
                   503: "Service Unavailable"}
        head = ["HTTP/1.1 %d %s" % (status, reasons.get(status, "Status")),
                "Content-Type: %s" % ctype,
                "Content-Length: %d" % len(body),
                "X-Served-By: %s" % self.args.name]
        head += list(extra)
        if not keep_alive:
            head.append("Connection: close")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def say(self, line):
        with self.out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def record(self, method, path, headers, body, framing, conn=None):
        if self.log_file is None:
            return
        entry = {
            "t": time.time(),
            "name": self.args.name,
            "mode": self.args.mode,
            "conn": conn.id if conn else None,
            "conn_seq": conn.served + 1 if conn else None,
            "method": method,
            "path": path,
            "headers": headers,
            "idempotency_key": header(headers, "Idempotency-Key"),
            "x_forwarded_for": header(headers, "X-Forwarded-For"),
            "x_request_id": header(headers, "X-Request-Id"),
            "x_forwarded_proto": header(headers, "X-Forwarded-Proto"),
            "connection": header(headers, "Connection"),
            "host": header(headers, "Host"),
            "framing": framing,
            "body_len": len(body),
            "body": body.decode("latin-1"),
        }
        with self.log_lock:
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()

    # -- one connection --------------------------------------------------
    def idle_close(self, conn):
        """close-after-response: wait up to --close-after-ms for the next
        request to start; True (and the connection closed) if none did."""
        if conn.buf:
            return False
        r, _, _ = select.select([conn.sock], [], [], self.args.close_after_ms / 1000.0)
        if r:
            return False
        pending = 0
        try:
            pending = int(bool(conn.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)))
        except (BlockingIOError, OSError):
            pass
        conn.sock.close()
        self.say("idle-close conn=%d requests=%d pending=%d"
                 % (conn.id, conn.served, pending))
        return True

    def handle(self, sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(sock)
        conn.id = next(self.conn_ids)
        conn.served = 0
        try:
            while True:
                if (self.args.mode == "close-after-response" and conn.served > 0
                        and self.idle_close(conn)):
                    return
                try:
                    req = conn.read_request()
                except (EOFError, ConnectionError):
                    return
                except (BadRequest, ValueError) as exc:
                    self.send_response(sock, 400, json.dumps(
                        {"error": str(exc)}).encode(), False)
                    return
                keep = self.serve(sock, *req, conn=conn)
                conn.served += 1
                if not keep:
                    return
        except (BrokenPipeError, ConnectionError, OSError):
            return
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def serve(self, sock, method, path, version, headers, body, framing, conn=None):
        """Answer one request; False when the connection must end."""
        a = self.args
        conn_hdr = (header(headers, "Connection") or "").lower()
        keep_alive = version == "HTTP/1.1" and "close" not in conn_hdr
        bare_path = path.split("?", 1)[0]
        if bare_path == READYZ:
            if a.mode == "hang" and a.readyz_status is None:
                return self.hang(sock)
            status = a.readyz_status or 200
            self.send_response(sock, status, json.dumps(
                {"status": "ready" if status == 200 else "not ready",
                 "served_by": a.name}).encode(), keep_alive)
            return keep_alive
        self.record(method, path, headers, body, framing, conn)
        mode = a.mode
        if mode == "close-on-reuse" and conn is not None and conn.served > 0:
            sock.close()
            return False
        if mode == "hang":
            return self.hang(sock)
        if mode == "reset-after-request":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
            sock.close()
            return False
        if mode == "close-mid-response":
            sock.sendall(("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                          "Content-Length: 100\r\nX-Served-By: %s\r\n\r\n"
                          % a.name).encode() + b"0123456789")
            # Let the bytes reach the LB before the FIN (no RST on unread data).
            sock.shutdown(socket.SHUT_WR)
            return False
        if mode == "slow":
            time.sleep(a.delay_ms / 1000.0)
        if mode == "sse" and bare_path == "/events":
            return self.sse(sock)
        if mode == "upgrade" and (header(headers, "Upgrade") or ""):
            return self.echo_tunnel(sock, conn_hdr, header(headers, "Upgrade"))
        if mode in ("count", "close-after-response", "close-on-reuse"):
            payload = {"served_by": a.name, "method": method, "path": path,
                       "headers": headers, "body_len": len(body),
                       "body": body.decode("latin-1"), "framing": framing}
        else:
            payload = {"served_by": a.name, "method": method, "path": path}
        extra = []
        if a.hop_headers:
            # Hop-by-hop headers the LB must not pass on to the client.
            extra = ["Keep-Alive: timeout=5, max=100", "Connection: X-Backend-Secret",
                     "X-Backend-Secret: hop", "Proxy-Connection: keep-alive",
                     "X-End-To-End: kept"]
            if keep_alive:
                extra[1] = "Connection: keep-alive, X-Backend-Secret"
        self.send_response(sock, 200, json.dumps(payload).encode(), keep_alive,
                           extra=extra)
        return keep_alive

    def hang(self, sock):
        # Read (and drop) whatever comes until the peer goes away.
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass
        return False

    def sse(self, sock):
        a = self.args
        sock.sendall(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n"
                      "X-Served-By: %s\r\n\r\n" % a.name).encode())
        for i in range(a.events):
            if i:
                time.sleep(a.event_interval_ms / 1000.0)
            data = ("data: %d\n\n" % i).encode()
            sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))
        sock.sendall(b"0\r\n\r\n")
        return True

    def echo_tunnel(self, sock, conn_hdr, proto):
        # 101, then every byte read is written back upper-cased, until EOF:
        # enough to see a tunnel carry bytes both ways, as WebSocket needs.
        if "upgrade" not in conn_hdr:
            self.send_response(sock, 400, b'{"error":"no Connection: upgrade"}', False)
            return False
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\n"
                      "Connection: Upgrade\r\nX-Served-By: %s\r\n\r\n"
                      % (proto, self.args.name)).encode())
        while True:
            data = sock.recv(65536)
            if not data:
                return False
            sock.sendall(data.upper())

    def run(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((self.args.host, self.args.port))
        ls.listen(256)
        sys.stdout.write("misbehave %s mode %s listening on %s:%d\n" % (
            self.args.name, self.args.mode, self.args.host, self.args.port))
        sys.stdout.flush()
        while True:
            try:
                sock, _ = ls.accept()
            except InterruptedError:
                continue
            t = threading.Thread(target=self.handle, args=(sock,), daemon=True)
            t.start()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name", default=None)
    p.add_argument("--mode", required=True, choices=[
        "ok", "count", "close-mid-response", "hang", "slow",
        "reset-after-request", "sse", "upgrade", "close-after-response",
        "close-on-reuse"])
    p.add_argument("--delay-ms", type=int, default=500)
    p.add_argument("--log", default=None)
    p.add_argument("--readyz-status", type=int, default=None)
    p.add_argument("--events", type=int, default=10)
    p.add_argument("--event-interval-ms", type=int, default=200)
    p.add_argument("--close-after-ms", type=int, default=100,
                   help="close-after-response: idle ms before the close")
    p.add_argument("--hop-headers", action="store_true",
                   help="add hop-by-hop headers to every answer")
    args = p.parse_args(argv)
    if args.name is None:
        args.name = "misbehave-%d" % args.port
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    Server(args).run()


if __name__ == "__main__":
    main()
