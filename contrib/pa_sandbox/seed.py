"""The directory the sandbox starts with: French companies receiving on approved platforms (WK)
and the Chorus Pro sandbox's public structures, which receive on the public platform (DFH).

Every SIRET is Luhn-valid; the companies are invented but for the demo booksellers, the
gateway's demo customers and the public structures of the Chorus Pro sandbox's directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contrib.chorus_sandbox.seed import STRUCTURES


@dataclass(frozen=True)
class RoutingCode:
    identifier: str
    name: str
    type: str = "0224"  # ISO 6523 scheme of a routing code
    legal_commitment: bool = False


@dataclass(frozen=True)
class Company:
    siret: str
    name: str
    address: str
    postcode: str
    city: str
    public: bool = False
    active: bool = True
    service_required: bool = False
    engagement_required: bool = False
    service_or_engagement: bool = False
    manages_payment_status: bool = True
    routing_codes: tuple[RoutingCode, ...] = field(default_factory=tuple)

    @property
    def siren(self) -> str:
        return self.siret[:9]


DEMO_BOOKSELLER = "81234567600017"
OTHER_BOOKSHOP = "79345612000013"
PRIVATE_SCHOOL = "73282932000074"
WORKS_COUNCIL = "44306184200011"
WITH_ROUTING_CODES = "51802457500012"
SUPPLIER = "55210055400013"

COMPANIES: tuple[Company, ...] = (
    Company(DEMO_BOOKSELLER, "LIBRAIRIE DES QUAIS", "12 quai de la Bourse", "76000", "ROUEN"),
    Company(OTHER_BOOKSHOP, "LIBRAIRIE LA PAGE BLANCHE", "4 rue des Carmes", "45000", "ORLEANS"),
    Company(PRIVATE_SCHOOL, "ECOLE PRIVEE SAINTE-ANNE", "9 rue de la Paix", "76100", "ROUEN"),
    Company(
        WORKS_COUNCIL,
        "CSE DES PAPETERIES DE LA SEINE",
        "1 route de Paris",
        "76380",
        "CANTELEU",
    ),
    Company(
        WITH_ROUTING_CODES,
        "GROUPE SCOLAIRE LES TILLEULS",
        "30 avenue des Tilleuls",
        "76130",
        "MONT-SAINT-AIGNAN",
        routing_codes=(
            RoutingCode("CDI-COLLEGE", "Centre de documentation du collège"),
            RoutingCode("CDI-LYCEE", "Centre de documentation du lycée", legal_commitment=True),
        ),
    ),
    Company(SUPPLIER, "DIFFUSION DU LIVRE NORMAND", "18 rue Jeanne d'Arc", "76000", "ROUEN"),
    *(
        Company(
            s.siret,
            s.name,
            s.address,
            s.postcode,
            s.city,
            public=True,
            active=s.active,
            service_required=s.service_required,
            engagement_required=s.engagement_required,
            service_or_engagement=s.service_or_engagement,
            manages_payment_status=not s.payment_status_not_reported,
        )
        for s in STRUCTURES
        if s.public
    ),
)
