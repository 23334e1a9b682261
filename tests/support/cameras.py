"""Camera names the served calibration format cannot tell apart, and why it refuses each."""

UNTELLABLE_CAMERAS: list[tuple[str, str]] = [
    ("", "does not match"),
    ("cam 1", "does not match"),
    ("c" * 129, "does not match"),
    ("other", "reserved (the metric label of unknown cameras)"),
    ("none", "reserved (the metric label of crops sent without a camera)"),
]
