"""facture-gateway: send booksellers' invoices to the French public sector (Chorus Pro).

What plugins may import is :mod:`gateway.plugin_api`, re-exported here; everything else
is internal and may change.
"""

__version__ = "0.1.0"

from gateway.plugin_api import *  # noqa: E402, F403
from gateway.plugin_api import __all__  # noqa: E402, F401
