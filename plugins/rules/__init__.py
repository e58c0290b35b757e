"""The French rule sets: ``fr`` (invoicing law and Chorus Pro practice) and ``book`` (the
book trade). Each module is a plugin of its own, so that one can be left out."""
