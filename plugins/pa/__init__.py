"""Approved platforms (« plateformes agréées », PA) of the 2026 e-invoicing reform, reached
through the AFNOR XP Z12-013 API: the ``pa`` outlet (Flow Service) and, in ``directory``,
the Directory Service client. ``oauth`` holds the client-credentials tokens both use.
See docs/outlets/pa.md.
"""
