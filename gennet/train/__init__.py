"""Training: losses, configuration and the training loop."""
