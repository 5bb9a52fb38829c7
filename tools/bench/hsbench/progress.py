"""The progress line on stderr (points done, phase, ETA)."""
import shutil
import sys
import threading
import time

from .util import STOP, fmt_secs


class Progress:
    def __init__(self, total, est_total):
        self.total = total
        self.done = 0
        self.est_total = max(est_total, 1.0)
        self.est_done = 0.0
        self.t0 = self.t_last = time.monotonic()
        self.point = ""
        self.phase = ""
        self.tty = sys.stderr.isatty()
        self.last_plain = ""
        self.lock = threading.Lock()
        self.timer = None
        if self.tty:
            self.timer = threading.Thread(target=self._tick, daemon=True)
            self.timer.start()

    def _tick(self):
        while not STOP.is_set():
            time.sleep(1)
            self.draw()

    def eta(self):
        now = time.monotonic()
        if self.est_done <= 0:
            return max(0.0, self.est_total - (now - self.t0))
        speed = (self.t_last - self.t0) / self.est_done  # actual seconds per estimated second
        return max(0.0, (self.est_total - self.est_done) * speed - (now - self.t_last))

    def set(self, point=None, phase=None):
        if point is not None:
            self.point = point
        if phase is not None:
            self.phase = phase
        self.draw()

    def finish_one(self, est):
        self.done += 1
        self.est_done += est
        self.t_last = time.monotonic()
        self.draw()

    def line(self):
        frac = self.done / self.total if self.total else 1.0
        width = 24
        fill = int(frac * width)
        bar = "#" * fill + "." * (width - fill)
        return (f"[{bar}] {self.done}/{self.total} done, running {self.done + 1 if self.done < self.total else self.total}: "
                f"{self.point} | {self.phase} | elapsed {fmt_secs(time.monotonic() - self.t0)}, ETA {fmt_secs(self.eta())}")

    def draw(self):
        with self.lock:
            if self.tty:
                cols = shutil.get_terminal_size((120, 20)).columns
                sys.stderr.write("\r\x1b[K" + self.line()[:cols - 1])
                sys.stderr.flush()
            else:
                key = (self.done, self.point, self.phase)
                if key != self.last_plain:
                    self.last_plain = key
                    sys.stderr.write(self.line() + "\n")
                    sys.stderr.flush()

    def note(self, msg):
        with self.lock:
            if self.tty:
                sys.stderr.write("\r\x1b[K")
            sys.stderr.write(msg + "\n")
            sys.stderr.flush()
        self.draw()

    def close(self):
        with self.lock:
            if self.tty:
                sys.stderr.write("\r\x1b[K" + self.line()[:shutil.get_terminal_size((120, 20)).columns - 1] + "\n")
                sys.stderr.flush()
            self.tty = False
