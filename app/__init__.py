"""Prism Console: operations console for fleets of software agents and crypto miners."""

__version__ = "0.1.0"
