"""A process that exits kills the servers it left running, and never another session's."""

from __future__ import annotations

import subprocess
import sys

import psutil

# The child marks two sleeping processes as mirakuru marks servers: one as its own, one as a
# server of a process whose pid merely contains the child's (mirakuru's own hook kills both).
CHILD = """
import os, subprocess, sys
import selfheal.core.embedded
from mirakuru.base import ENV_UUID

def marked(marker):
    env = {**os.environ, ENV_UUID: marker}
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    return subprocess.Popen(sleeper, env=env, **quiet).pid

print(marked(f"{os.getpid()}:own"), marked(f"9{os.getpid()}:another-session"), flush=True)
"""


def test_only_the_exiting_process_servers_are_killed() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=True
    )
    own, other = (psutil.Process(int(pid)) for pid in done.stdout.split())
    try:
        own.wait(timeout=10)  # killed by the child's exit hook
        assert other.is_running() and other.status() != psutil.STATUS_ZOMBIE
    finally:
        other.kill()
