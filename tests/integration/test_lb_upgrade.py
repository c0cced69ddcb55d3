"""A person opens a WebSocket-style connection through sb-lb.

A request with "Connection: Upgrade" and an Upgrade header goes to the
backend; when it answers 101 Switching Protocols, the LB stops speaking HTTP
on that connection and becomes a byte tunnel in both directions. The
misbehaving backend in upgrade mode echoes every byte back upper-cased, so
the test sees bytes cross the LB both ways, in order, after the 101.
"""

import socket
import time
import unittest

from lbharness import LbTestCase, RawClient


class UpgradeTest(LbTestCase):

    def open_tunnel(self, port):
        c = RawClient(port, timeout=5.0)
        c.send(b"GET /chat HTTP/1.1\r\nHost: lb\r\nConnection: Upgrade\r\n"
               b"Upgrade: websocket\r\n\r\n")
        status, _, headers = c.read_head(timeout=5.0)
        return c, status, {k.lower(): v for k, v in headers}

    def test_101_turns_the_connection_into_a_tunnel(self):
        up = self.start_misbehave("upgrade", name="ws")
        lb = self.start_lb([up], workers=1)
        c, status, h = self.open_tunnel(lb.port)
        with c:
            self.assertEqual(status, 101)
            self.assertEqual(h.get("upgrade"), "websocket")
            self.assertIn("upgrade", h.get("connection", "").lower())
            # Several round trips, each answered in order through the tunnel.
            for word in (b"hello", b"through the balancer", b"x" * 70000):
                c.send(word)
                got = c.read_exact(len(word), timeout=5.0)
                self.assertEqual(got, word.upper())

    def test_tunnel_outlives_the_server_timeout(self):
        # A tunnel may sit quiet for longer than --timeout-server: it is no
        # longer a request waiting for an answer.
        up = self.start_misbehave("upgrade", name="ws")
        lb = self.start_lb([up], workers=1, timeout_server=300)
        c, status, _ = self.open_tunnel(lb.port)
        with c:
            self.assertEqual(status, 101)
            deadline = time.monotonic() + 0.8
            while time.monotonic() < deadline:      # idle, on purpose
                time.sleep(0.05)
            c.send(b"still there")
            self.assertEqual(c.read_exact(11, timeout=5.0), b"STILL THERE")

    def test_backend_closing_the_tunnel_closes_the_client(self):
        up = self.start_misbehave("upgrade", name="ws")
        lb = self.start_lb([up], workers=1)
        c, status, _ = self.open_tunnel(lb.port)
        with c:
            self.assertEqual(status, 101)
            c.sock.shutdown(socket.SHUT_WR)   # our EOF reaches the backend...
            deadline = time.monotonic() + 5.0
            closed = False
            while time.monotonic() < deadline:   # ...which closes; so do we
                try:
                    data = c.sock.recv(100)
                except socket.timeout:
                    continue
                if data == b"":
                    closed = True
                    break
            self.assertTrue(closed, "the LB kept the client side open")


if __name__ == "__main__":
    unittest.main()
