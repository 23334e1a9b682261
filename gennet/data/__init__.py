"""Data: manifest reading, the decoded-image cache and training-time augmentation."""
