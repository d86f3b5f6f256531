"""The bad inputs every SLA2P-class detector refuses at ``fit``, with the words its error names
(shared by the core's tests and the registered variant's)."""

import numpy as np

BAD_FIT_INPUTS = [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), "infinity"),
    (np.arange(5.0), "2D"),
    (np.ones((1, 3)), "minimum of 2"),
    (np.array([["a", "b"], ["c", "d"]]), "non-numeric"),
]
