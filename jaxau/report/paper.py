"""The paper's published ICC numbers (Niinuma et al., WACV 2021), for side-by-side reports.

``TABLES[table][column] = {AU: ICC, ..., 'mean': the paper's mean}``. A column of an experiment
config names one as ``paper='table2/3D Synthetic'`` (`lookup`). Transcribed from the paper's Tables
2, 3, 4 and the supplement's S1-S5; the paper prints AU1 for AU01 etc. Fig. 3 (lambda sweeps) and
Fig. 5 (nine poses) are plots without printed numbers, so they have no entries here.
"""

from __future__ import annotations

_FERA = ("AU01", "AU04", "AU06", "AU10", "AU12", "AU14", "AU17")
_DISFA = ("AU01", "AU04", "AU06", "AU12", "AU17")


def _col(aus, values, mean):
    return {**dict(zip(aus, values)), "mean": mean}


TABLES = {
    # Table 2: synthetic vs real expressions under 2D vs 3D registration (FERA 2017 test, frontal).
    "table2": {
        "2D Real": _col(_FERA, (0.431, 0.223, 0.796, 0.777, 0.801, 0.118, 0.395), 0.506),
        "2D Synthetic": _col(_FERA, (0.336, 0.116, 0.790, 0.812, 0.792, 0.238, 0.374), 0.494),
        "3D Real": _col(_FERA, (0.343, 0.260, 0.751, 0.785, 0.806, 0.084, 0.391), 0.489),
        "3D Synthetic": _col(_FERA, (0.381, 0.219, 0.804, 0.773, 0.795, 0.244, 0.461), 0.525),
    },
    # Table 3 (ours columns): personal normalisations of the 3D synthetic estimator.
    "table3": {
        "No norm": _col(_FERA, (0.381, 0.219, 0.804, 0.773, 0.795, 0.244, 0.461), 0.525),
        "AU0 norm": _col(_FERA, (0.539, 0.361, 0.764, 0.787, 0.792, 0.114, 0.288), 0.521),
        "Mean norm": _col(_FERA, (0.613, 0.409, 0.779, 0.757, 0.794, 0.170, 0.465), 0.570),
    },
    # Table 4: cross-domain, synthetic training set -> real test set ('-': AU not coded in DISFA).
    "table4": {
        "MultiPIE->FERA": _col(_FERA, (0.311, 0.202, 0.786, 0.726, 0.792, 0.168, 0.365), 0.479),
        "FERA->DISFA": _col(_DISFA, (0.314, 0.400, 0.573, 0.748, 0.373), 0.482),
        "MultiPIE->DISFA": _col(_DISFA, (0.418, 0.541, 0.524, 0.698, 0.290), 0.494),
    },
    # Table S1: single vs combined training sets, FERA 2017 test partition.
    "s1": {
        "FERA real": _col(_FERA, (0.343, 0.260, 0.751, 0.785, 0.806, 0.084, 0.391), 0.489),
        "FERA synthetic": _col(_FERA, (0.381, 0.219, 0.804, 0.773, 0.795, 0.244, 0.461), 0.525),
        "FERA real + FERA synthetic": _col(_FERA, (0.446, 0.324, 0.794, 0.772, 0.800, 0.171, 0.433), 0.534),
        "MultiPIE synthetic": _col(_FERA, (0.311, 0.202, 0.786, 0.726, 0.792, 0.168, 0.365), 0.479),
        "FERA real + MultiPIE synthetic": _col(_FERA, (0.315, 0.342, 0.784, 0.760, 0.807, 0.116, 0.408), 0.505),
        "FERA synthetic + MultiPIE synthetic": _col(_FERA, (0.457, 0.288, 0.801, 0.763, 0.801, 0.235, 0.436),
                                                    0.540),
    },
    # Table S2: the same training sets tested on the whole of DISFA.
    "s2": {
        "FERA real": _col(_DISFA, (0.394, 0.634, 0.404, 0.750, 0.293), 0.495),
        "FERA synthetic": _col(_DISFA, (0.314, 0.400, 0.573, 0.748, 0.373), 0.482),
        "FERA real + FERA synthetic": _col(_DISFA, (0.365, 0.571, 0.507, 0.723, 0.296), 0.493),
        "MultiPIE synthetic": _col(_DISFA, (0.418, 0.541, 0.524, 0.698, 0.290), 0.494),
        "FERA real + MultiPIE synthetic": _col(_DISFA, (0.470, 0.544, 0.496, 0.749, 0.377), 0.527),
        "FERA synthetic + MultiPIE synthetic": _col(_DISFA, (0.346, 0.402, 0.576, 0.762, 0.390), 0.495),
    },
    # Table S3: without / with the idiosyncratic loss (lambda_ids = 1).
    "s3": {
        "Without idiosyncratic loss": _col(_FERA, (0.381, 0.219, 0.804, 0.773, 0.795, 0.244, 0.461), 0.525),
        "With idiosyncratic loss": _col(_FERA, (0.350, 0.302, 0.802, 0.780, 0.793, 0.181, 0.452), 0.523),
    },
    # Table S4: GAN architectures.
    "s4": {
        "GANimation": _col(_FERA, (0.381, 0.219, 0.804, 0.773, 0.795, 0.244, 0.461), 0.525),
        "StarGAN": _col(_FERA, (0.367, 0.259, 0.793, 0.788, 0.807, 0.199, 0.451), 0.523),
        "GANimation internal classifier": _col(_FERA, (0.380, 0.065, 0.712, 0.743, 0.793, 0.123, 0.364),
                                               0.454),
    },
    # Table S5: cross-domain on UNBC Pain.
    "s5": {
        "FERA->UNBC": _col(("AU04", "AU06", "AU10", "AU12"), (0.130, 0.496, 0.034, 0.402), 0.266),
        "MultiPIE->UNBC": _col(("AU04", "AU06", "AU10", "AU12"), (0.149, 0.434, 0.038, 0.367), 0.247),
    },
}


def lookup(ref: str) -> dict | None:
    """``'table2/3D Synthetic'`` -> that column's numbers; '' -> None; an unknown name is an error."""
    if not ref:
        return None
    table, _, column = ref.partition("/")
    if table not in TABLES or column not in TABLES[table]:
        known = [f"{t}/{c}" for t, cols in TABLES.items() for c in cols]
        raise KeyError(f"paper reference {ref!r} is unknown; known: {known}.")
    return dict(TABLES[table][column])
