"""Where an EN 16931 or BR-FR rule points in the canonical invoice, and what to tell the bookseller.

Field templates name a canonical JSON path; ``{line}``, ``{allowance}``, ``{charge}``, ``{vat}``,
``{party}`` and ``{line_adjustment}`` are filled from the failed location (``lines[2]``,
``charges[0]``, ``vat_breakdown[1]``, ``buyer``, ``lines[2].allowances[0]``…) by
:mod:`plugins.en16931.rules`.
"""

from __future__ import annotations

#: EN 16931 business terms: canonical field template and the French name a bookseller knows.
BUSINESS_TERMS: dict[str, tuple[str | None, str]] = {
    "BT-1": ("number", "le numéro de facture"),
    "BT-2": ("issue_date", "la date de facture"),
    "BT-3": ("type", "le type de document"),
    "BT-5": ("currency", "la devise"),
    "BT-9": ("due_date", "la date d'échéance"),
    "BT-10": ("references.service_code", "le code service"),
    "BT-12": ("references.contract", "le numéro de marché"),
    "BT-13": ("references.engagement", "le numéro d'engagement"),
    "BT-16": ("delivery_notes", "le bon de livraison"),
    "BT-19": ("references.buyer_accounting_reference", "la référence comptable de l'acheteur"),
    "BT-20": ("payment.terms", "les conditions de paiement"),
    "BT-21": ("notes", "le code sujet d'une note"),
    "BT-22": ("notes", "les mentions de la facture"),
    "BT-23": (None, "le cadre de facturation"),
    "BT-24": (None, "l'identifiant de spécification"),
    "BT-25": ("preceding_invoice.number", "le numéro de la facture d'origine"),
    "BT-26": ("preceding_invoice.issue_date", "la date de la facture d'origine"),
    "BT-27": ("seller.name", "la raison sociale du vendeur"),
    "BT-28": ("seller.trading_name", "le nom commercial du vendeur"),
    "BT-29": ("seller.siret", "le SIRET du vendeur"),
    "BT-30": ("seller.siret", "le SIREN/SIRET du vendeur"),
    "BT-31": ("seller.vat_id", "le numéro de TVA du vendeur"),
    # The electronic addresses are derived from the SIRET by the renderers.
    "BT-34": ("seller.siret", "l'adresse électronique du vendeur"),
    "BT-35": ("seller.address.line1", "l'adresse du vendeur"),
    "BT-36": ("seller.address.line2", "le complément d'adresse du vendeur"),
    "BT-37": ("seller.address.city", "la ville du vendeur"),
    "BT-38": ("seller.address.postcode", "le code postal du vendeur"),
    "BT-39": ("seller.address.country_subdivision", "la région du vendeur"),
    "BT-40": ("seller.address.country", "le pays du vendeur"),
    "BT-43": ("seller.email", "l'e-mail du vendeur"),
    "BT-44": ("buyer.name", "le nom de l'acheteur"),
    "BT-45": ("buyer.trading_name", "le nom commercial de l'acheteur"),
    "BT-46": ("buyer.siret", "le SIRET de l'acheteur"),
    "BT-47": ("buyer.siret", "le SIREN/SIRET de l'acheteur"),
    "BT-48": ("buyer.vat_id", "le numéro de TVA de l'acheteur"),
    "BT-49": ("buyer.siret", "l'adresse électronique de l'acheteur"),
    "BT-50": ("buyer.address.line1", "l'adresse de l'acheteur"),
    "BT-51": ("buyer.address.line2", "le complément d'adresse de l'acheteur"),
    "BT-52": ("buyer.address.city", "la ville de l'acheteur"),
    "BT-53": ("buyer.address.postcode", "le code postal de l'acheteur"),
    "BT-54": ("buyer.address.country_subdivision", "la région de l'acheteur"),
    "BT-55": ("buyer.address.country", "le pays de l'acheteur"),
    "BT-58": ("buyer.email", "l'e-mail de l'acheteur"),
    "BT-72": ("delivery_date", "la date de livraison"),
    "BT-81": ("payment.means_code", "le moyen de paiement"),
    "BT-83": ("payment.remittance_information", "la référence de paiement"),
    "BT-84": ("payment.iban", "l'IBAN"),
    "BT-85": ("payment.account_name", "le titulaire du compte"),
    "BT-86": ("payment.bic", "le BIC"),
    "BT-92": ("{allowance}.amount", "le montant de la remise"),
    "BT-93": ("{allowance}.base_amount", "l'assiette de la remise"),
    "BT-94": ("{allowance}.percent", "le pourcentage de la remise"),
    "BT-95": ("{allowance}.vat_category", "la catégorie de TVA de la remise"),
    "BT-96": ("{allowance}.vat_rate", "le taux de TVA de la remise"),
    "BT-97": ("{allowance}.reason", "le motif de la remise"),
    "BT-98": ("{allowance}.reason_code", "le code motif de la remise"),
    "BT-99": ("{charge}.amount", "le montant des frais"),
    "BT-100": ("{charge}.base_amount", "l'assiette des frais"),
    "BT-101": ("{charge}.percent", "le pourcentage des frais"),
    "BT-102": ("{charge}.vat_category", "la catégorie de TVA des frais"),
    "BT-103": ("{charge}.vat_rate", "le taux de TVA des frais"),
    "BT-104": ("{charge}.reason", "le motif des frais"),
    "BT-105": ("{charge}.reason_code", "le code motif des frais"),
    "BT-106": ("totals.lines", "le total des lignes"),
    "BT-107": ("totals.allowances", "le total des remises"),
    "BT-108": ("totals.charges", "le total des frais"),
    "BT-109": ("totals.tax_exclusive", "le total HT"),
    "BT-110": ("totals.vat", "le total de TVA"),
    "BT-111": ("totals.vat", "le total de TVA en devise de comptabilisation"),
    "BT-112": ("totals.tax_inclusive", "le total TTC"),
    "BT-113": ("totals.prepaid", "le montant déjà payé"),
    "BT-114": ("totals.rounding", "l'arrondi"),
    "BT-115": ("totals.payable", "le net à payer"),
    "BT-116": ("{vat}.taxable_amount", "la base HT du récapitulatif de TVA"),
    "BT-117": ("{vat}.tax_amount", "le montant de TVA du récapitulatif"),
    "BT-118": ("{vat}.category", "la catégorie de TVA du récapitulatif"),
    "BT-119": ("{vat}.rate", "le taux de TVA du récapitulatif"),
    "BT-120": ("vat_exemption_reason", "le motif d'exonération de TVA"),
    "BT-121": ("vat_exemption_reason_code", "le code d'exonération de TVA"),
    "BT-126": ("{line}.id", "le numéro de ligne"),
    "BT-127": ("{line}.note", "la note de ligne"),
    "BT-129": ("{line}.quantity", "la quantité"),
    "BT-130": ("{line}.unit_code", "l'unité de mesure"),
    "BT-131": ("{line}.line_amount", "le montant HT de la ligne"),
    "BT-136": ("{line_adjustment}.amount", "le montant de la remise sur ligne"),
    "BT-137": ("{line_adjustment}.base_amount", "l'assiette de la remise sur ligne"),
    "BT-138": ("{line_adjustment}.percent", "le pourcentage de la remise sur ligne"),
    "BT-139": ("{line_adjustment}.reason", "le motif de la remise sur ligne"),
    "BT-140": ("{line_adjustment}.reason_code", "le code motif de la remise sur ligne"),
    "BT-141": ("{line_adjustment}.amount", "le montant des frais sur ligne"),
    "BT-142": ("{line_adjustment}.base_amount", "l'assiette des frais sur ligne"),
    "BT-143": ("{line_adjustment}.percent", "le pourcentage des frais sur ligne"),
    "BT-144": ("{line_adjustment}.reason", "le motif des frais sur ligne"),
    "BT-145": ("{line_adjustment}.reason_code", "le code motif des frais sur ligne"),
    "BT-146": ("{line}.net_price", "le prix unitaire net"),
    "BT-147": ("{line}.price_discount", "la remise sur le prix unitaire"),
    "BT-148": ("{line}.gross_price", "le prix unitaire brut"),
    "BT-149": ("{line}.base_quantity", "la quantité de base du prix"),
    "BT-150": ("{line}.unit_code", "l'unité de la quantité de base"),
    "BT-151": ("{line}.vat_category", "la catégorie de TVA de la ligne"),
    "BT-152": ("{line}.vat_rate", "le taux de TVA de la ligne"),
    "BT-153": ("{line}.name", "la désignation de l'article"),
    "BT-154": ("{line}.description", "la description de l'article"),
    "BT-155": ("{line}.seller_item_id", "la référence vendeur de l'article"),
    "BT-157": ("{line}.item_id", "l'identifiant de l'article (EAN/ISBN)"),
    "BG-3": ("preceding_invoice", "la facture d'origine"),
    "BG-4": ("seller", "le vendeur"),
    "BG-5": ("seller.address", "l'adresse du vendeur"),
    "BG-7": ("buyer", "l'acheteur"),
    "BG-8": ("buyer.address", "l'adresse de l'acheteur"),
    "BG-16": ("payment", "les instructions de paiement"),
    "BG-20": ("{allowance}", "la remise"),
    "BG-21": ("{charge}", "les frais"),
    "BG-22": ("totals", "les totaux"),
    "BG-23": ("{vat}", "le récapitulatif de TVA"),
    "BG-25": ("{line}", "la ligne"),
}

#: Keys of factur-x's party dicts (BG-4, BG-7) -> canonical party field.
PARTY_KEYS = {
    "name": "name",
    "identifiers": "siret",
    "legal_identifier": "siret",
    "vat_identifier": "vat_id",
    "biz_name": "trading_name",
    "einvoicing_addr": "siret",
    "addr_l1": "address.line1",
    "addr_l2": "address.line2",
    "addr_l3": "address.line3",
    "city": "address.city",
    "postcode": "address.postcode",
    "country_code": "address.country",
    "country_subdivision": "address.country_subdivision",
}
#: Keys of factur-x's document-level allowance and charge dicts -> canonical field.
ALLOWANCE_CHARGE_KEYS = {
    "amount": "amount",
    "base_amount": "base_amount",
    "rate": "percent",
    "reason": "reason",
    "reason_code": "reason_code",
    "vat_category_code": "vat_category",
    "vat_rate": "vat_rate",
}

#: Field template meaning "the field of the failed location itself".
LOCATION = "@location"

_IBAN_REQUIRED = "L'IBAN est obligatoire pour un paiement par virement (codes 30, 58)."

#: Rules with their own wording: rule id -> (field template, French message).
RULES: dict[str, tuple[str | None, str]] = {
    "BR-01": (None, "L'identifiant de spécification (profil EN 16931) est absent."),
    "BR-02": ("number", "Le numéro de facture est absent."),
    "BR-03": ("issue_date", "La date de facture est absente."),
    "BR-04": ("type", "Le type de document (facture, avoir…) est absent."),
    "BR-05": ("currency", "La devise de la facture est absente."),
    "BR-06": ("seller.name", "La raison sociale du vendeur est absente."),
    "BR-07": ("buyer.name", "Le nom de l'acheteur est absent."),
    "BR-08": ("seller.address", "L'adresse postale du vendeur est absente."),
    "BR-09": ("seller.address.country", "Le pays de l'adresse du vendeur est absent."),
    "BR-10": ("buyer.address", "L'adresse postale de l'acheteur est absente."),
    "BR-11": ("buyer.address.country", "Le pays de l'adresse de l'acheteur est absent."),
    "BR-12": ("totals.lines", "Le total des lignes est absent."),
    "BR-13": ("totals.tax_exclusive", "Le total HT est absent."),
    "BR-14": ("totals.tax_inclusive", "Le total TTC est absent."),
    "BR-15": ("totals.payable", "Le net à payer est absent."),
    "BR-16": ("lines", "La facture ne contient aucune ligne : il en faut au moins une."),
    "BR-17": (
        None,
        "Le nom du bénéficiaire du paiement est absent alors qu'il diffère du vendeur.",
    ),
    "BR-21": ("{line}.id", "La ligne n'a pas de numéro de ligne."),
    "BR-22": ("{line}.quantity", "La quantité de la ligne est absente."),
    "BR-23": ("{line}.unit_code", "L'unité de mesure de la quantité est absente."),
    "BR-24": ("{line}.line_amount", "Le montant HT de la ligne est absent."),
    "BR-25": ("{line}.name", "La désignation de l'article est absente."),
    "BR-26": ("{line}.net_price", "Le prix unitaire net de la ligne est absent."),
    "BR-27": ("{line}.net_price", "Le prix unitaire net ne peut pas être négatif."),
    "BR-28": ("{line}.gross_price", "Le prix unitaire brut ne peut pas être négatif."),
    "BR-29": (None, "La fin de la période de facturation précède son début."),
    "BR-30": ("{line}", "La fin de la période de la ligne précède son début."),
    "BR-31": ("{allowance}.amount", "Le montant de la remise est absent."),
    "BR-32": ("{allowance}.vat_category", "La catégorie de TVA de la remise est absente."),
    "BR-33": ("{allowance}.reason", "La remise n'a ni motif ni code motif."),
    "BR-36": ("{charge}.amount", "Le montant des frais est absent."),
    "BR-37": ("{charge}.vat_category", "La catégorie de TVA des frais est absente."),
    "BR-38": ("{charge}.reason", "Les frais n'ont ni motif ni code motif."),
    "BR-41": ("{line_adjustment}.amount", "Une remise sur ligne n'a pas de montant."),
    "BR-42": ("{line_adjustment}.reason", "Une remise sur ligne n'a ni motif ni code motif."),
    "BR-43": ("{line_adjustment}.amount", "Des frais sur ligne n'ont pas de montant."),
    "BR-44": ("{line_adjustment}.reason", "Des frais sur ligne n'ont ni motif ni code motif."),
    "BR-45": ("{vat}.taxable_amount", "Le récapitulatif de TVA n'a pas de base HT."),
    "BR-46": ("{vat}.tax_amount", "Le récapitulatif de TVA n'a pas de montant de TVA."),
    "BR-47": ("{vat}.category", "Le récapitulatif de TVA n'a pas de catégorie de TVA."),
    "BR-48": ("{vat}.rate", "Le récapitulatif de TVA n'a pas de taux de TVA."),
    "BR-49": ("payment.means_code", "Le code du moyen de paiement est absent."),
    "BR-50": ("payment.iban", "L'IBAN est absent alors qu'un virement est indiqué."),
    "BR-51": (None, "Le numéro complet d'une carte bancaire ne doit pas figurer sur la facture."),
    "BR-52": (None, "Une pièce jointe n'a pas de référence."),
    "BR-53": ("totals.vat", "Le total de TVA en devise de comptabilisation est absent."),
    "BR-54": ("{line}", "Un attribut d'article n'a pas de nom ou de valeur."),
    "BR-55": ("preceding_invoice.number", "Le numéro de la facture d'origine est absent."),
    "BR-57": (None, "Le pays de l'adresse de livraison est absent."),
    "BR-61": ("payment.iban", _IBAN_REQUIRED),
    # Factur-X's CII wording of BR-61 when the account is missing altogether.
    "CII-SR-470": ("payment.iban", _IBAN_REQUIRED),
    "BR-62": ("seller.siret", "L'adresse électronique du vendeur n'indique pas son schéma."),
    "BR-63": ("buyer.siret", "L'adresse électronique de l'acheteur n'indique pas son schéma."),
    "BR-64": ("{line}.item_id", "L'identifiant de l'article (EAN/ISBN) n'indique pas son schéma."),
    "BR-65": ("{line}", "La classification de l'article n'indique pas son schéma."),
    "BR-CO-03": (None, "La date et le code d'exigibilité de la TVA s'excluent."),
    "BR-CO-04": ("{line}.vat_category", "La ligne n'a pas de catégorie de TVA."),
    "BR-CO-05": (
        "{allowance}.reason_code",
        "Le code motif et le motif de la remise ne désignent pas la même chose.",
    ),
    "BR-CO-06": (
        "{charge}.reason_code",
        "Le code motif et le motif des frais ne désignent pas la même chose.",
    ),
    "BR-CO-07": ("{line}", "Le code motif et le motif d'une remise sur ligne diffèrent."),
    "BR-CO-08": ("{line}", "Le code motif et le motif de frais sur ligne diffèrent."),
    "BR-CO-09": (
        "{party}.vat_id",
        "Le numéro de TVA doit commencer par le code pays (FR…).",
    ),
    "BR-CO-10": (
        "totals.lines",
        "La somme des montants nets des lignes ne correspond pas au total des lignes.",
    ),
    "BR-CO-11": (
        "totals.allowances",
        "La somme des remises ne correspond pas au total des remises.",
    ),
    "BR-CO-12": ("totals.charges", "La somme des frais ne correspond pas au total des frais."),
    "BR-CO-13": (
        "totals.tax_exclusive",
        "Le total HT ne correspond pas au total des lignes moins les remises plus les frais.",
    ),
    "BR-CO-14": (
        "totals.vat",
        "Le total de TVA ne correspond pas à la somme des montants du récapitulatif de TVA.",
    ),
    "BR-CO-15": ("totals.tax_inclusive", "Le total TTC n'est pas égal au total HT plus la TVA."),
    "BR-CO-16": (
        "totals.payable",
        "Le net à payer n'est pas égal au total TTC moins l'acompte plus l'arrondi.",
    ),
    "BR-CO-17": (
        "{vat}.tax_amount",
        "Le montant de TVA du récapitulatif n'est pas égal à la base HT multipliée par le taux "
        "(arrondi au centime).",
    ),
    "BR-CO-18": ("vat_breakdown", "La facture n'a pas de récapitulatif de TVA."),
    "BR-CO-19": (None, "La période de facturation n'a ni date de début ni date de fin."),
    "BR-CO-20": ("{line}", "La période de la ligne n'a ni date de début ni date de fin."),
    "BR-CO-21": ("{allowance}.reason", "La remise n'a ni motif ni code motif."),
    "BR-CO-22": ("{charge}.reason", "Les frais n'ont ni motif ni code motif."),
    "BR-CO-23": ("{line_adjustment}.reason", "Une remise sur ligne n'a ni motif ni code motif."),
    "BR-CO-24": ("{line_adjustment}.reason", "Des frais sur ligne n'ont ni motif ni code motif."),
    "BR-CO-25": (
        "due_date",
        "Un montant reste à payer : indiquez la date d'échéance ou les conditions de paiement.",
    ),
    "BR-CO-26": (
        "seller.siret",
        "Le vendeur doit être identifié par son SIRET, son SIREN ou son numéro de TVA.",
    ),
    "BR-CL-01": ("type", "Le type de document n'est pas un code UNTDID 1001 admis."),
    "BR-CL-03": ("currency", "Un code devise n'est pas un code ISO 4217."),
    "BR-CL-04": ("currency", "La devise de la facture n'est pas un code ISO 4217."),
    "BR-CL-14": ("{party}.address.country", "Le code pays n'est pas un code ISO 3166-1."),
    "BR-CL-16": ("payment.means_code", "Le moyen de paiement n'est pas un code UNTDID 4461."),
    "BR-CL-17": ("{vat}.category", "La catégorie de TVA n'est pas un code UNCL 5305."),
    "BR-CL-18": ("{line}.vat_category", "La catégorie de TVA n'est pas un code UNCL 5305."),
    "BR-CL-19": ("{allowance}.reason_code", "Le code motif de la remise n'est pas admis."),
    "BR-CL-20": ("{charge}.reason_code", "Le code motif des frais n'est pas admis."),
    "BR-CL-21": ("{line}.item_id", "Le schéma de l'identifiant de l'article n'est pas admis."),
    "BR-CL-22": ("vat_exemption_reason_code", "Le code d'exonération de TVA n'est pas admis."),
    "BR-CL-23": ("{line}.unit_code", "L'unité de mesure n'est pas un code UN/ECE admis."),
    "PEPPOL-EN16931-R008": (LOCATION, "Le document contient un élément vide."),
    # French CTC rules whose failed location is more telling than their business term.
    "BR-FR-CO-04": (
        "preceding_invoice",
        "Une facture rectificative doit citer une et une seule facture d'origine (numéro et date).",
    ),
    "BR-FR-CO-05": (
        "preceding_invoice",
        "Un avoir doit citer la facture d'origine (numéro et date).",
    ),
}

#: EN 16931 rules requiring an element, by the field template of that element: an XSD error
#: "missing element" on it is reported as the rule (UBL makes BT-25 mandatory in its schema).
PRESENCE_RULES = {
    "number": "BR-02",
    "issue_date": "BR-03",
    "type": "BR-04",
    "currency": "BR-05",
    "seller.name": "BR-06",
    "buyer.name": "BR-07",
    "totals.lines": "BR-12",
    "totals.tax_exclusive": "BR-13",
    "totals.tax_inclusive": "BR-14",
    "totals.payable": "BR-15",
    "{line}": "BR-16",
    "{line}.id": "BR-21",
    "{line}.quantity": "BR-22",
    "{line}.line_amount": "BR-24",
    "{line}.name": "BR-25",
    "{line}.net_price": "BR-26",
    "{vat}.taxable_amount": "BR-45",
    "{vat}.tax_amount": "BR-46",
    "{vat}.category": "BR-47",
    "payment.means_code": "BR-49",
    "preceding_invoice.number": "BR-55",
}

#: VAT category rule families (BR-S-01, BR-Z-08…): category letter -> (code, French name).
VAT_CATEGORIES: dict[str, tuple[str, str]] = {
    "S": ("S", "taux normal"),
    "Z": ("Z", "taux zéro"),
    "E": ("E", "exonéré"),
    "AE": ("AE", "autoliquidation"),
    "IC": ("K", "livraison intracommunautaire"),
    "G": ("G", "export hors UE"),
    "O": ("O", "hors champ de la TVA"),
    "AF": ("L", "IGIC (Canaries)"),
    "AG": ("M", "IPSI (Ceuta et Melilla)"),
}

#: What each category expects of a rate (rules 05 to 07 of each family).
_RATE_EXPECTATION = {
    "S": "doit être supérieur à zéro",
    "O": "ne doit pas être indiqué",
    "AF": "doit être positif ou nul",
    "AG": "doit être positif ou nul",
}

_EXEMPT = {"E", "AE", "IC", "G", "O"}


def vat_category_rule(family: str, number: int) -> tuple[str | None, str] | None:
    """Return the field template and message of rule ``BR-<family>-<number>``, or None."""
    code, name = VAT_CATEGORIES[family]
    category = f"catégorie de TVA {code} ({name})"
    rate = _RATE_EXPECTATION.get(family, "doit être 0")
    if family in _EXEMPT:
        reason = "doit indiquer un motif ou un code d'exonération"
    else:
        reason = "ne doit pas indiquer de motif d'exonération"
    table: dict[int, tuple[str | None, str]] = {
        1: ("vat_breakdown", f"Le récapitulatif de TVA doit contenir la {category}."),
        2: ("seller.vat_id", f"Une ligne en {category} exige le numéro de TVA du vendeur."),
        3: ("seller.vat_id", f"Une remise en {category} exige le numéro de TVA du vendeur."),
        4: ("seller.vat_id", f"Des frais en {category} exigent le numéro de TVA du vendeur."),
        5: ("{line}.vat_rate", f"Le taux de TVA d'une ligne en {category} {rate}."),
        6: ("{allowance}.vat_rate", f"Le taux de TVA d'une remise en {category} {rate}."),
        7: ("{charge}.vat_rate", f"Le taux de TVA de frais en {category} {rate}."),
        8: (
            "{vat}.taxable_amount",
            f"La base HT du récapitulatif de TVA ({category}) ne correspond pas à la somme "
            "des lignes, remises et frais de cette catégorie et de ce taux.",
        ),
        9: (
            "{vat}.tax_amount",
            f"Le montant de TVA du récapitulatif ({category}) "
            + (
                "doit être 0."
                if family in _EXEMPT or family == "Z"
                else "n'est pas égal à la base HT multipliée par le taux."
            ),
        ),
        10: ("vat_exemption_reason", f"Le récapitulatif en {category} {reason}."),
    }
    return table.get(number)
