"""Typed errors raised by the model side; the HTTP edge maps them to status codes."""


class GenNetError(Exception):
    """Base class of every error this package raises on purpose."""


class CheckpointError(GenNetError):
    """A checkpoint file is missing, unreadable, tampered with or incompatible."""


class ManifestError(GenNetError):
    """A data manifest is missing, malformed or names files that do not exist."""


class InvalidImageError(GenNetError):
    """The bytes are not a decodable image."""


class ImageTooLargeError(GenNetError):
    """The image is larger than the configured byte or pixel cap."""


class UnknownModelError(GenNetError):
    """No architecture is registered under the requested name."""


class CalibrationError(GenNetError):
    """A calibration file is missing, malformed or made for other weights."""


class ConfigError(GenNetError):
    """A training recipe (params.yaml, --set) has an unknown key or an invalid value."""
