"""A local simulator of the Chorus Pro API as served by PISTE, for tests, demos and integrators.

It shares no code with the gateway: it checks deposits with the libraries directly (factur-x,
lxml, saxonche, python-stdnum) and keeps its own directory. See README.md, or run
`python -m contrib.chorus_sandbox --help`.
"""

from .app import SandboxApp, create_app

__all__ = ["SandboxApp", "create_app"]
