"""Liseron invoice exports for facture-gateway: an example of a third-party format plugin."""

__version__ = "1.0.0"
