"""The child's stdout and stderr, copied to the runner's own with every secret redacted.

Freqtrade prints more than log records -- a rejected configuration, tables, tracebacks
of its worker processes -- so the runner never hands the child its own terminal or
file descriptors. Each stream goes through a pipe, or a pseudo-terminal when the
runner's stream is a terminal (so that Freqtrade still draws its progress bars and
colours; the pty is raw, takes the terminal's size at start and is not resized later).
A thread reads it and writes redacted text to the runner's stream.

Text is redacted a line at a time (a line ends at ``\\n`` or ``\\r``, so progress bars
that redraw with ``\\r`` pass as they are drawn). A partial line is written when the
child stays silent for :data:`IDLE_FLUSH_S` or when it grows over
:data:`MAX_PENDING` bytes; only a secret split across such a cut could pass unredacted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import sys
import termios
import threading
import tty
from collections.abc import Callable
from typing import TextIO

from app.redaction import Redactor
from app.threads import start_thread

IDLE_FLUSH_S = 0.1
MAX_PENDING = 256 * 1024
JOIN_TIMEOUT_S = 5.0

Writer = Callable[[bytes], None]


def writer_for(stream: TextIO) -> Writer:
    """Write bytes to ``stream``'s file descriptor (or, without one, to the stream)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1
    if fd < 0:

        def write_text(data: bytes) -> None:
            with contextlib.suppress(OSError, ValueError):
                stream.write(data.decode("utf-8", "replace"))
                stream.flush()

        return write_text
    with contextlib.suppress(OSError, ValueError, AttributeError):
        stream.flush()  # what the runner printed before goes out first

    def write_fd(data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(fd, view)
            except OSError:
                return  # a closed terminal or pipe: keep draining the child, drop the text
            view = view[written:]

    return write_fd


def _is_tty(stream: TextIO) -> bool:
    with contextlib.suppress(AttributeError, OSError, ValueError):
        return stream.isatty()
    return False


class Channel:
    """One stream: the fd the child writes to, and the thread copying it."""

    def __init__(self, destination: TextIO) -> None:
        self.write = writer_for(destination)
        if _is_tty(destination):
            self.read_fd, self.child_fd = os.openpty()
            tty.setraw(self.child_fd)  # bytes pass unchanged; the real terminal interprets
            with contextlib.suppress(OSError):
                size = fcntl.ioctl(destination.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
                fcntl.ioctl(self.child_fd, termios.TIOCSWINSZ, size)
        else:
            self.read_fd, self.child_fd = os.pipe()
        self.thread: threading.Thread | None = None


class OutputPump:
    """Copies the child's stdout and stderr to ours, redacted (see the module docstring)."""

    def __init__(self, stdout: TextIO, stderr: TextIO, redactor: Redactor) -> None:
        self.redactor = redactor  # replaced when the config's secrets are known
        self.channels = [Channel(stdout), Channel(stderr)]

    @classmethod
    def for_runner(cls, *, stdout_to_stderr: bool, redactor: Redactor) -> OutputPump:
        """Our stdout (or stderr, when stdout carries a caller's JSON) and stderr."""
        return cls(sys.stderr if stdout_to_stderr else sys.stdout, sys.stderr, redactor)

    @property
    def child_fds(self) -> tuple[int, int]:
        """The fds to give the child as its stdout and stderr."""
        return self.channels[0].child_fd, self.channels[1].child_fd

    def start(self) -> None:
        """Close our copies of the child's ends and start copying."""
        for channel in self.channels:
            os.close(channel.child_fd)
            channel.thread = threading.Thread(
                target=self._copy, args=(channel,), name="output-pump", daemon=True
            )
            start_thread(channel.thread)

    def close(self) -> None:
        """Wait until the child's side is closed everywhere and the text is written."""
        for channel in self.channels:
            if channel.thread is not None:
                channel.thread.join(JOIN_TIMEOUT_S)

    def _emit(self, channel: Channel, data: bytes) -> None:
        if data:
            channel.write(self.redactor.redact_bytes(data))

    def _copy(self, channel: Channel) -> None:
        pending = b""
        try:
            while True:
                timeout = IDLE_FLUSH_S if pending else None
                ready, _, _ = select.select([channel.read_fd], [], [], timeout)
                if not ready:
                    self._emit(channel, pending)
                    pending = b""
                    continue
                try:
                    chunk = os.read(channel.read_fd, 65536)
                except OSError:  # EIO: a pty whose child side is closed everywhere
                    chunk = b""
                if not chunk:
                    break
                pending += chunk
                cut = max(pending.rfind(b"\n"), pending.rfind(b"\r")) + 1
                if cut:
                    self._emit(channel, pending[:cut])
                    pending = pending[cut:]
                if len(pending) > MAX_PENDING:
                    self._emit(channel, pending)
                    pending = b""
            self._emit(channel, pending)
        finally:
            os.close(channel.read_fd)
