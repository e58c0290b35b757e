from __future__ import annotations

import falcon

from gateway import schemas
from gateway.openapi import Query, operation
from gateway.resources import acting_member
from gateway.services.costs import CostService


class CostsResource:
    def __init__(self, service: CostService):
        self.service = service

    @operation(
        "Coûts des factures par sortie, et ceux d'un autre acheminement",
        {200: schemas.CostsSchema, 422: schemas.ErrorsSchema},
        query={
            "period": Query("Une année (2026) ou un mois (2026-11) ; par défaut le mois en cours")
        },
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Show what the member's invoices of a period cost per outlet (subscription share,
        each invoice's computation, the bookseller's minutes) and what each other outlet
        would have cost for the same invoices."""
        resp.media = self.service.period(acting_member(req), req.get_param("period"))
