"""Secrets and guards: keystore providers, ``${secret:NAME}`` resolution, redaction, URL guard.

Kept light on purpose: the worker runtime imports it, so it depends only on
``agency.models``, ``agency.errors`` and ``agency.settings``.
"""
