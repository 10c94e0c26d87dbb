"""Fonts shipped with shotlist (no system fonts are assumed)."""
