"""The child's output reaches ours redacted, line by line, through pipes or a pty
(app/runner/pump.py)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

from app.redaction import Redactor
from app.runner.pump import OutputPump

SECRET = "pump-Secret-Value-123"
# Writes the secret in pieces, across a progress bar redrawn with \r, and ends without \n.
CHILD = r"""
import sys, time
out, err = sys.stdout, sys.stderr
out.write("tty=%s\n" % out.isatty()); out.flush()
out.write("password=" + sys.argv[1][:6]); out.flush(); time.sleep(0.02)
out.write(sys.argv[1][6:] + " end\n"); out.flush()
for n in range(3):
    err.write("\rprogress %d %s" % (n, sys.argv[1])); err.flush()
err.write("\nlast line without newline " + sys.argv[1]); err.flush()
"""


def _run(pump: OutputPump) -> int:
    out_fd, err_fd = pump.child_fds
    proc = subprocess.Popen([sys.executable, "-c", CHILD, SECRET], stdout=out_fd, stderr=err_fd)
    pump.start()
    code = proc.wait(timeout=60)
    pump.close()
    return code


def test_pump_when_output_is_files_then_plain_pipes_and_secret_redacted(tmp_path: Path) -> None:
    """Through pipes: every line, the partial ones and \\r-redrawn ones, is redacted."""
    out_path, err_path = tmp_path / "out", tmp_path / "err"
    with out_path.open("w") as out, err_path.open("w") as err:
        pump = OutputPump(out, err, Redactor.from_sources(extra=[SECRET]))
        assert _run(pump) == 0
    stdout, stderr = out_path.read_text(), err_path.read_text()

    assert SECRET not in stdout + stderr
    assert stdout == "tty=False\npassword=[REDACTED] end\n"
    assert stderr.count("[REDACTED]") == 4
    assert stderr.endswith("last line without newline [REDACTED]")


def test_pump_when_our_stdout_is_a_terminal_then_child_gets_a_pty_and_output_redacted(
    tmp_path: Path,
) -> None:
    """On a terminal the child sees a terminal too (progress bars), still redacted."""
    master, slave = os.openpty()
    err_path = tmp_path / "err"
    with os.fdopen(slave, "w") as terminal, err_path.open("w") as err:
        pump = OutputPump(terminal, err, Redactor.from_sources(extra=[SECRET]))
        assert _run(pump) == 0
    seen = b""
    while select.select([master], [], [], 0.5)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    text = seen.decode()

    assert "tty=True" in text
    assert SECRET not in text + err_path.read_text()
    assert "password=[REDACTED] end" in text
