"""Helpers the benchmark scripts share (not a benchmark itself)."""

import os
import subprocess


def git_revision():
    """The commit measured (with -dirty when the working tree has edits), or None."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                              text=True, cwd=os.path.dirname(os.path.abspath(__file__)),
                              timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
