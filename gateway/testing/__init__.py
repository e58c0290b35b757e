"""The conformance kit: the suites every format and outlet plugin passes, shipped with the
gateway so that a vendor tests a plugin without the gateway's own tests.

- :mod:`gateway.testing.formats`: checks of a format handler over sample files.
- :mod:`gateway.testing.outlets`: checks of an outlet, driven by an :class:`OutletHarness`
  its author writes to provoke each situation (outage, odd answer, lost answer…).
- :mod:`gateway.testing.sandboxes`: a sandbox of ``contrib/`` in a subprocess, for the
  harnesses of the outlets the project ships.
- :mod:`gateway.testing.postgres`: a throw-away PostgreSQL server on a loopback port, for
  the gateway's own tests and benches.
- ``python -m gateway.testing PLUGIN`` runs both over one installed plugin (or a module)
  and prints a report; see docs/plugins.md, "Testing your plugin".

A plugin's distribution declares its samples and harnesses for the command under the
entry point group :data:`TESTING_GROUP`, with the same name as its plugin: the module
named there may hold ``SAMPLES`` (format name → folder of samples) and ``HARNESSES`` (a
list of :class:`OutletHarness` subclasses). The gateway itself never loads that group.
"""

from gateway.testing.odd import OddPlatform
from gateway.testing.outlets import NotApplicable, OutletHarness, check_outlet, outlet_checks
from gateway.testing.sandboxes import HELD, ContribSandbox, SandboxHarness

TESTING_GROUP = "facture_gateway.testing"

__all__ = [
    "HELD",
    "TESTING_GROUP",
    "ContribSandbox",
    "NotApplicable",
    "OddPlatform",
    "OutletHarness",
    "SandboxHarness",
    "check_outlet",
    "outlet_checks",
]
