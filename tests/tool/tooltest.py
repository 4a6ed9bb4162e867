"""What the pam-ion tool tests share: the built tool (PAM_ION_TOOL) and a
module configuration written by the test stand (tests/stand/files.py)."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from stand.files import ModuleFiles  # noqa: E402

TOOL = os.environ.get("PAM_ION_TOOL", "")
KEY = "k" * 43


def run(*args, cwd=None):
    """Runs pam-ion ARGS; (status, stdout, stderr)."""
    p = subprocess.run([TOOL] + list(args), capture_output=True, text=True,
                       timeout=60, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


class ToolCase(unittest.TestCase):
    """A temporary directory self.dir, removed afterwards."""

    def setUp(self):
        if not TOOL or not os.access(TOOL, os.X_OK):
            self.skipTest("PAM_ION_TOOL is not the built pam-ion")
        if os.geteuid() != 0:
            self.skipTest("needs root: the module's files are root's")
        self.dir = tempfile.mkdtemp(prefix="pam-ion-tool-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)

    def files(self, user_map="alice@example.com root\n", issuer=None,
              relay_url=None, **kw):
        return ModuleFiles(self.dir, issuer or "http://127.0.0.1:9",
                           "client-1", "s3cret", relay_url or
                           "http://127.0.0.1:8", KEY, user_map, **kw)
