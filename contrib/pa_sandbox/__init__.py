"""A local approved platform (PA) of the 2026 e-invoicing reform, for tests, demos and
integrators: the Flow and Directory Services of AFNOR XP Z12-013 and the lifecycle statuses of
XP Z12-012, with a control API to play the other parties.

It shares no code with the gateway (only the Chorus Pro sandbox's document reading, clock,
faults and server). See README.md, or run `python -m contrib.pa_sandbox --help`.
"""

from .app import SandboxApp, create_app

__all__ = ["SandboxApp", "create_app"]
