"""The directory the sandbox starts with: the guide's two examples and realistic others.

Seine-Maritime and Aube are copied from the ALIRE guide's screenshots; every other public
structure is fictitious (its SIRET is Luhn-valid but invented). The two private structures are
the demo booksellers.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SeedService:
    code: str
    name: str
    active: bool = True
    engagement_required: bool = False


@dataclass(frozen=True)
class SeedStructure:
    id: int
    siret: str
    name: str
    address: str
    postcode: str
    city: str
    public: bool = True
    active: bool = True
    service_required: bool = False
    engagement_required: bool = False
    service_or_engagement: bool = False
    payment_status_not_reported: bool = False
    email: str = ""
    services: tuple[SeedService, ...] = field(default_factory=tuple)


SEINE_MARITIME = "22760540900019"
AUBE = "22100005200011"
# Demo technical accounts, one per bookseller; the first one goes to the credentials file.
DEMO_SUPPLIERS = ("81234567600017", "79345612000013")

FACTURES_PUBLIQUES = SeedService("FACTURES_PUBLIQUES", "Service des factures publiques")

# A town with many services: more than two pages of `rechercher/services` at 10 a page.
_TOWN_SERVICES = (
    SeedService("MAIRIE", "Secrétariat général"),
    SeedService("FINANCES", "Direction des finances"),
    SeedService("MEDIATHEQUE", "Médiathèque municipale Louise-Michel", engagement_required=True),
    SeedService("BIBLIO-JEUNESSE", "Bibliothèque jeunesse"),
    SeedService("ECOLE-PASTEUR", "École élémentaire Pasteur"),
    SeedService("ECOLE-CURIE", "École élémentaire Marie-Curie"),
    SeedService("ECOLE-PREVERT", "École maternelle Jacques-Prévert"),
    SeedService("CCAS", "Centre communal d'action sociale"),
    SeedService("CULTURE", "Service culturel"),
    SeedService("CONSERVATOIRE", "Conservatoire à rayonnement communal"),
    SeedService("SPORTS", "Service des sports"),
    SeedService("JEUNESSE", "Service jeunesse"),
    SeedService("CRECHE", "Multi-accueil Les Petits Loups"),
    SeedService("RESTAURATION", "Restauration scolaire"),
    SeedService("TECHNIQUE", "Services techniques"),
    SeedService("ESPACES-VERTS", "Espaces verts"),
    SeedService("ARCHIVES", "Archives municipales"),
    SeedService("COMMUNICATION", "Service communication"),
    SeedService("POLICE", "Police municipale"),
    SeedService("URBANISME", "Urbanisme"),
    SeedService("LUDOTHEQUE", "Ludothèque", active=False),
    SeedService("ETAT-CIVIL", "État civil"),
    SeedService("ELECTIONS", "Élections"),
)

STRUCTURES: tuple[SeedStructure, ...] = (
    SeedStructure(
        id=26311179,
        siret=SEINE_MARITIME,
        name="DEPARTEMENT DE LA SEINE MARITIME",
        address="Quai Jean Moulin",
        postcode="76100",
        city="ROUEN",
        engagement_required=True,
        services=(FACTURES_PUBLIQUES,),
    ),
    SeedStructure(
        id=26311180,
        siret=AUBE,
        name="DEPARTEMENT DE L'AUBE",
        address="2 rue Pierre Labonde",
        postcode="10000",
        city="TROYES",
        service_required=True,
        engagement_required=True,
        services=(
            FACTURES_PUBLIQUES,
            SeedService("SLANOAGENT", "Direction des routes SLA NOGENT", engagement_required=True),
            SeedService(
                "DSDISTR1", "Direction du Social - Grande Distribution", engagement_required=True
            ),
            SeedService("DPECDC", "Centre des Congrès de l'Aube", engagement_required=True),
            SeedService("CAB-COM", "Cabinet du Président Communication", engagement_required=True),
            SeedService(
                "DSAFPA",
                "Direction du Social - Accueil Familial Personnes Agées",
                engagement_required=True,
            ),
            SeedService("DGAEC", "Service de la Musique", active=False, engagement_required=True),
            SeedService("SLATROYES", "Direction des routes SLA TROYES", engagement_required=True),
            SeedService(
                "DSALLOCPAPH",
                "Direction du Social - Allocations Personnes Agées/Personnes Handicapées",
                engagement_required=True,
            ),
            SeedService(
                "DSRSA",
                "Direction du Social - Revenu de Solidarité Active - Insertion",
                engagement_required=True,
            ),
            SeedService("DFCG", "Direction Finances Conseil Gestion", engagement_required=True),
        ),
    ),
    SeedStructure(
        id=26400101,
        siret="21450123100184",
        name="COMMUNE DE SAINT-AUBIN-DES-ORMES",
        address="1 place de la Mairie",
        postcode="45210",
        city="SAINT-AUBIN-DES-ORMES",
        service_required=True,
        email="comptabilite@saint-aubin-des-ormes.example",
        services=_TOWN_SERVICES,
    ),
    SeedStructure(
        id=26400102,
        siret="21450877200016",
        name="COMMUNE DE VAL-DES-ORMES",
        address="3 rue de l'Église",
        postcode="45220",
        city="VAL-DES-ORMES",
        active=False,
    ),
    SeedStructure(
        id=26400103,
        siret="20004123400010",
        name="COMMUNAUTE DE COMMUNES DU PAYS DES ORMES",
        address="12 avenue de la Gare",
        postcode="45200",
        city="MONTARGIS-LES-ORMES",
        service_or_engagement=True,
        services=(
            SeedService("RESEAU-LECTURE", "Réseau de lecture publique"),
            SeedService("ADMIN", "Administration générale"),
        ),
    ),
    SeedStructure(
        id=26400104,
        siret="25450102600028",
        name="MEDIATHEQUE INTERCOMMUNALE DES DEUX RIVES",
        address="5 rue des Tanneurs",
        postcode="45200",
        city="MONTARGIS-LES-ORMES",
        email="acquisitions@mediatheque-deux-rives.example",
    ),
    SeedStructure(
        id=26400105,
        siret="19450042700019",
        name="LYCEE POLYVALENT JULES VERNE",
        address="40 boulevard de la République",
        postcode="45200",
        city="MONTARGIS-LES-ORMES",
        engagement_required=True,
        services=(SeedService("CDI", "Centre de documentation et d'information"),),
    ),
    SeedStructure(
        id=26400106,
        siret="26450031500017",
        name="CENTRE HOSPITALIER DES ORMES",
        address="658 rue des Bourgoins",
        postcode="45200",
        city="MONTARGIS-LES-ORMES",
        service_required=True,
        engagement_required=True,
        payment_status_not_reported=True,
        services=(
            SeedService("ECONOMAT", "Service économique", engagement_required=True),
            SeedService("BIBLIO-PATIENTS", "Bibliothèque des patients", engagement_required=True),
            SeedService("FORMATION", "Institut de formation en soins infirmiers"),
        ),
    ),
    SeedStructure(
        id=30100001,
        siret=DEMO_SUPPLIERS[0],
        name="Librairie des Quais",
        address="8 quai de la Tournelle",
        postcode="75005",
        city="PARIS",
        public=False,
    ),
    SeedStructure(
        id=30100002,
        siret=DEMO_SUPPLIERS[1],
        name="Librairie La Page Blanche",
        address="21 rue Émile Zola",
        postcode="10000",
        city="TROYES",
        public=False,
    ),
)

FIRST_SERVICE_ID = 27000001

# The four APIs a PISTE application subscribes to for Chorus Pro.
ALL_APIS = ("factures", "structures", "transverses", "utilisateurs")
