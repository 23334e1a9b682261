"""A request's path, whatever protocol it came in: admit, decode, batch, run, decide."""
