"""The paper outlet (``paper``): each day's paper invoices of a member, printed as one
print-ready PDF for French window envelopes."""

from gateway.plugin_api import hookimpl
from plugins.paper.outlet import PaperOutlet


@hookimpl
def gateway_register_outlets():
    return [PaperOutlet]
