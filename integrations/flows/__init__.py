"""Flows: each declared once in its module (see registry.py and docs/flows.md); steps are plain functions."""
