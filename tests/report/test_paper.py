"""The paper's transcribed numbers: each printed mean matches its AUs (catches transcription typos)."""

import numpy as np
import pytest

from jaxau.report import paper


@pytest.mark.parametrize("table", sorted(paper.TABLES))
def test_printed_means_match_the_per_au_values(table):
    for column, row in paper.TABLES[table].items():
        values = [v for k, v in row.items() if k != "mean"]
        assert abs(np.mean(values) - row["mean"]) <= 0.0011, (table, column, np.mean(values))


def test_shared_columns_agree_across_tables():
    t = paper.TABLES
    assert t["table2"]["3D Synthetic"] == t["table3"]["No norm"] == t["s1"]["FERA synthetic"] == \
        t["s3"]["Without idiosyncratic loss"] == t["s4"]["GANimation"]
    assert t["table2"]["3D Real"] == t["s1"]["FERA real"]
    assert t["table4"]["MultiPIE->FERA"] == t["s1"]["MultiPIE synthetic"]
    assert t["table4"]["FERA->DISFA"] == t["s2"]["FERA synthetic"]


def test_lookup():
    assert paper.lookup("") is None
    assert paper.lookup("table2/3D Synthetic")["mean"] == 0.525
    with pytest.raises(KeyError, match="table2/3D Synthetic"):
        paper.lookup("table2/3D synthetic")
