"""ROC AUC against a published value."""

from __future__ import annotations

import numpy as np

from probwb.evaluate import roc_auc


def test_roc_auc_hanley_mcneil_published_value():
    # Hanley & McNeil (1982), Radiology 143:29-36, Table 1: CT ratings (1 = definitely normal ..
    # 5 = definitely abnormal) of 58 normal and 51 abnormal images; published area W = 0.893.
    normal = [33, 6, 6, 11, 2]
    abnormal = [3, 2, 2, 11, 33]
    ratings = np.r_[np.repeat(np.arange(1, 6), normal), np.repeat(np.arange(1, 6), abnormal)]
    y = np.r_[np.zeros(58), np.ones(51)]
    assert round(roc_auc(y, ratings), 3) == 0.893
