"""Evaluation: ICC(3,1)/PCC/MAE per AU, logits read-out, prediction CSVs, result tables.

Submodules imported on demand: ``scoring`` (a model's predictions against a frame set's labels),
``registration`` (registration NME), ``frechet`` (Fréchet distance in an estimator's feature space).
"""

from jaxau.evaluation.metrics import (AUScores, UndefinedMetricWarning, evaluate, evaluate_by_group,
                                      icc, mae, pcc)
from jaxau.evaluation.predictions_csv import read_predictions_csv, write_predictions_csv
from jaxau.evaluation.readout import READOUT_MODES, intensity_from_logits
from jaxau.evaluation.tables import format_table, rows_from_scores
