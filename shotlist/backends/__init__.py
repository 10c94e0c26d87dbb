"""Backends that generate clips: the protocol (base), the offline animatic, fakes for tests, hosted adapters."""
