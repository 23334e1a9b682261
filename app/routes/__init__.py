"""Operational routes: health, metrics, model metadata, the demo page and the docs."""
