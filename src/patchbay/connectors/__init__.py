"""Connectors: one sub-package per third-party service, plus the SDK they are written with.

Every sub-package that has a ``connector`` module exposing ``CONNECTORS`` (a list of
:class:`patchbay.connectors.sdk.Connector`) is discovered automatically, so adding a
connector touches no other folder.
"""
