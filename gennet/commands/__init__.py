"""One module per ``gennet`` sub-command; each exposes ``add_parser(subparsers)``."""
