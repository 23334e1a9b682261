"""GenNet: gender classification of person crops."""

__version__ = "1.0.0"
