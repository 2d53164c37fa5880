import os

import jax
import numpy as np
import pytest

from jaxau.evaluation import predictions_csv, readout, tables


def test_readout_argmax_and_expected():
    logits = np.log(np.array([[[0.1, 0.6, 0.1, 0.1, 0.05, 0.05],
                               [0.0001, 0.0001, 0.0001, 0.0001, 0.0001, 0.9995]]]))
    np.testing.assert_array_equal(readout.intensity_from_logits(logits), [[1, 5]])
    expected = np.array([0.6 + 0.2 + 0.3 + 0.2 + 0.25, 0.0001 * (1 + 2 + 3 + 4) + 0.9995 * 5])
    np.testing.assert_allclose(readout.intensity_from_logits(logits, "expected"), [expected], rtol=1e-5)
    jitted = jax.jit(readout.intensity_from_logits, static_argnames="mode")
    np.testing.assert_allclose(jitted(logits, mode="expected"), [expected], rtol=1e-5)
    with pytest.raises(ValueError, match="read-out"):
        readout.intensity_from_logits(logits, "median")


def test_predictions_csv_roundtrip_and_atomic(tmp_path):
    path = tmp_path / "sub" / "predictions.csv"
    y_true = np.array([[0, -1], [3, 5]])
    y_pred = np.array([[0.25, 1.0], [2.9999999, 4.5]])
    predictions_csv.write_predictions_csv(
        path, subject=[b"F001", "M002"], sequence=["T1", "a,b"], frame=np.array([7, 8]),
        y_true=y_true, y_pred=y_pred, au_names=["AU1", "AU12"])
    text = path.read_text().splitlines()
    assert text[0] == "subject,sequence,frame,AU01_true,AU01_pred,AU12_true,AU12_pred"
    assert text[1] == "F001,T1,7,0,0.25,-1,1"
    assert text[2] == 'M002,"a,b",8,3,3,5,4.5'
    back = predictions_csv.read_predictions_csv(path)
    assert back["au_names"] == ("AU01", "AU12") and back["sequence"] == ["T1", "a,b"]
    np.testing.assert_array_equal(back["y_true"], y_true)
    np.testing.assert_allclose(back["y_pred"], y_pred, rtol=1e-6)
    assert [f for f in os.listdir(path.parent) if f.startswith(".tmp_")] == []
    # Integer (argmax) predictions are written as integers.
    predictions_csv.write_predictions_csv(path, subject=["s"], sequence=["q"], frame=[0],
                                          y_true=[[1, 2]], y_pred=np.array([[1, 2]]),
                                          au_names=["AU01", "AU12"])
    assert path.read_text().splitlines()[1] == "s,q,0,1,1,2,2"
    with pytest.raises(ValueError, match="subject has 1 entries"):
        predictions_csv.write_predictions_csv(path, subject=["s"], sequence=["q", "r"], frame=[0, 1],
                                              y_true=y_true, y_pred=y_pred, au_names=["AU01", "AU12"])
    # A failed write leaves the previous file intact.
    assert path.read_text().splitlines()[1] == "s,q,0,1,1,2,2"
    # With head-pose ids.
    predictions_csv.write_predictions_csv(path, subject=["s", "t"], sequence=["q", "r"], frame=[0, 1],
                                          y_true=y_true, y_pred=y_pred, au_names=["AU01", "AU12"],
                                          pose_id=[2, 0])
    assert path.read_text().splitlines()[:2] == ["subject,sequence,frame,pose_id,AU01_true,AU01_pred,AU12_true,"
                                                 "AU12_pred", "s,q,0,2,0,0.25,-1,1"]
    back = predictions_csv.read_predictions_csv(path)
    np.testing.assert_array_equal(back["pose_id"], [2, 0])
    np.testing.assert_allclose(back["y_pred"], y_pred, rtol=1e-6)


def test_table_markdown_and_text():
    results = {"Real": {"AU01": 0.311, "AU04": 0.202, "AU06": 0.786},
               "Synthetic": {"AU01": 0.418, "AU04": 0.541, "AU06": 0.524},
               "Partial": {"AU01": 0.5, "AU06": 0.1}}
    md = tables.format_table(results)
    lines = md.splitlines()
    assert lines[0] == "| Method | AU01 | AU04 | AU06 | Mean |"
    assert lines[2] == "| Real | 0.311 | 0.202 | **0.786** | 0.433 |"
    assert lines[3] == "| Synthetic | 0.418 | **0.541** | 0.524 | **0.494** |"
    assert lines[4] == "| Partial | **0.500** | - | 0.100 | - |"
    txt = tables.format_table(results, ["AU01", "AU06"], fmt="text", digits=2, higher_is_better=False)
    assert txt.splitlines()[0].split() == ["Method", "AU01", "AU06", "Mean"]
    assert txt.splitlines()[4].split() == ["Partial", "0.50", "0.10*", "0.30*"]
    with pytest.raises(ValueError, match="fmt"):
        tables.format_table(results, fmt="html")


def test_table_from_scores():
    from jaxau.evaluation import metrics

    t = np.array([[0, 1], [1, 0], [2, 2], [3, 1]])
    scores = {"A": metrics.evaluate(t, t, ["AU01", "AU12"]),
              "B": metrics.evaluate(t, t * 2, ["AU01", "AU12"])}
    rows = tables.rows_from_scores(scores, "icc")
    assert rows["A"] == {"AU01": 1.0, "AU12": 1.0, "mean": 1.0}
    assert rows["B"]["AU01"] == pytest.approx(0.8)  # 2 s_xy / (s_x^2 + 4 s_x^2)
    md = tables.format_table(rows, title="ICC")
    assert md.splitlines()[0] == "ICC" and "| B | 0.800 | 0.800 | 0.800 |" in md
