"""Protocol adapters: each parses its requests into pipeline items and renders the answers."""
