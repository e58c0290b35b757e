"""What a renderer plugin provides: the canonical invoice written out as a document."""

from __future__ import annotations

from typing import ClassVar

from gateway.mentions import Mentions
from gateway.model import Invoice

#: Mapping profiles (see docs/formats/mapping.md): historical Chorus Pro practice, or the
#: French 2026 CTC rules (BR-FR) in the EN 16931 profile or in EXTENDED-CTC-FR.
PROFILES = ("chorus", "fr-2026", "fr-2026-extended")


class Renderer:
    """Base class of renderers, returned by ``gateway_register_renderers``."""

    #: Short unique name (``ubl``, ``cii``, ``facturx``, ``pdf``…), used by ``convert --to``.
    name: ClassVar[str]
    media_type: ClassVar[str]
    #: File name extension with its dot (``".pdf"``).
    extension: ClassVar[str]
    description: ClassVar[str] = ""

    def render(
        self, invoice: Invoice, *, profile: str = "chorus", mentions: Mentions | None = None
    ) -> bytes:
        """Return the document bytes for ``invoice`` in the given mapping profile, with the
        member's legal ``mentions`` (None: the defaults)."""
        raise NotImplementedError
