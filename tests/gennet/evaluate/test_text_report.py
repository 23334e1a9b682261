"""The text report (gennet.evaluate.text_report): every section, figures worked out by hand."""

import numpy as np

from gennet.commands.evaluate import tta_effect
from gennet.evaluate.text_report import format_report
from tests.support.scores import TARGETS, report


def test_text_report_shows_every_section() -> None:
    evaluated = report()
    without = report(np.where(TARGETS == 1, 0.9, 0.1))  # a perfect run to compare with
    evaluated["tta"] = {"without": without, "effect": tta_effect(without, evaluated)}
    text = format_report(evaluated)
    rows = [line.split() for line in text.splitlines()]
    assert "n 10   accuracy 0.7000   macro-F1 0.6970   ROC AUC 0.8542" in text
    assert ["male", "0.6000", "0.7500", "0.6667", "4"] in rows  # precision, recall, F1, support
    assert ["female", "2", "4"] in rows  # confusion matrix row
    # GRID: 4 male (one missed) and 1 female (called male); MIT: 5 female, one called male.
    assert ["GRID", "5", "0.6000", "0.3750", "0.5000", "0.7500", "0.0000"] in rows
    assert ["MIT", "5", "0.8000", "0.4444", "n/a", "0.0000", "0.8889"] in rows  # one class: no AUC
    assert ["accuracy", "1.0000", "0.7000", "-0.3000"] in rows  # TTA effect
