"""A local Dilifac web service, as facture-gateway models it (Dilicom's own interface is given
to its subscribers only), for tests, demos and `make run`.

It shares no code with the gateway: SOAP is read and written with lxml directly, against the
WSDL of this folder (`dilifac.wsdl`). See README.md, or `python -m contrib.dilifac_sandbox -h`.
"""

from .app import SandboxApp, create_app

__all__ = ["SandboxApp", "create_app"]
