"""Constants shared by the worker tests and their fixtures."""

from __future__ import annotations

import shlex
import sys

TOKEN = "test-token"
SECRET_VALUE = "s3cr3t-value-42"
# the agent "CLI" of the tests prints the arguments it received, one per line, as repr()
AGENT_COMMAND = (
    f"{shlex.quote(sys.executable)} -c 'import sys; [print(repr(a)) for a in sys.argv[1:]]' "
    "--model test {prompt}"
)
WORKER_ENV = {
    "AGENCY_KEYSTORE": "env",
    "AGENCY_SECRET_API_KEY": SECRET_VALUE,
    "AGENCY_AGENT_COMMAND": AGENT_COMMAND,
}
