"""rampsim: a flight simulator for progressive-delivery gates."""
__version__ = "0.1.0"
