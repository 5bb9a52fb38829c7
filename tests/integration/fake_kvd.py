"""A stand-in for the guest's kvd (docs/kvd-protocol.md) on a host UDP
socket, to test tools/kvcli without KVM: it can lose requests or replies and
send late duplicates, like the network plus external synchrony can."""
import random
import socket
import threading

MAX_KEY, MAX_VALUE, CAPACITY = 64, 1024, 16384


class FakeKvd:
    def __init__(self, host="127.0.0.1", lose_requests=0.0, lose_replies=0.0, duplicate=0.0, seed=1):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.data = {}
        self.counts = {"sets": 0, "gets": 0, "dels": 0}
        self.lose_requests, self.lose_replies, self.duplicate = lose_requests, lose_replies, duplicate
        self.rng = random.Random(seed)
        self.last = None            # the previous reply, replayed late as a duplicate
        self.requests = 0
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def answer(self, text):
        """The reply to one request, or None (no id)."""
        text = text[:-1] if text.endswith("\n") else text
        rid, sp, rest = text.partition(" ")
        if not rid or len(rid) > 32 or not rid.isprintable():
            return None
        cmd, _, args = rest.partition(" ")
        with self.lock:
            if cmd == "SET":
                key, sp2, value = args.partition(" ")
                if not key or not sp2 or len(key.encode()) > MAX_KEY or len(value.encode()) > MAX_VALUE:
                    return f"{rid} ERR bad request"
                if key not in self.data and len(self.data) >= CAPACITY:
                    return f"{rid} ERR full"
                self.data[key] = value
                self.counts["sets"] += 1
                return f"{rid} OK"
            if cmd in ("GET", "DEL"):
                if not args or " " in args or len(args.encode()) > MAX_KEY:
                    return f"{rid} ERR bad key"
                if cmd == "GET":
                    self.counts["gets"] += 1
                    return f"{rid} VALUE {self.data[args]}" if args in self.data else f"{rid} NOTFOUND"
                self.counts["dels"] += 1
                return f"{rid} OK" if self.data.pop(args, None) is not None else f"{rid} NOTFOUND"
            if cmd == "STATS" and not args:
                c = self.counts
                return f"{rid} STATS keys={len(self.data)} sets={c['sets']} gets={c['gets']} dels={c['dels']}"
            return f"{rid} ERR unknown command"

    def _serve(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.requests += 1
            if self.rng.random() < self.lose_requests:
                continue
            reply = self.answer(data.decode(errors="replace"))
            if reply is None:
                continue
            if self.last and self.rng.random() < self.duplicate:
                self.sock.sendto(self.last, peer)
            self.last = reply.encode()
            if self.rng.random() < self.lose_replies:
                continue
            self.sock.sendto(reply.encode(), peer)

    def close(self):
        self.stopping = True
        self.thread.join(timeout=2)
        self.sock.close()
