"""Data that needs no network: CDNOW, bundled example networks, and simulators with known truth."""

from __future__ import annotations

import pandas as pd

from probwb.datasets._files import NETWORKS, data_path, load_cdnow, load_network
from probwb.datasets.coupon import CouponCampaign, default_coupon_truth, simulate_coupon_campaign
from probwb.datasets.patients import PatientCohort, default_patient_truth, simulate_patient_cohort

__all__ = [
    "NETWORKS",
    "CouponCampaign",
    "PatientCohort",
    "data_path",
    "default_coupon_truth",
    "default_patient_truth",
    "list_datasets",
    "load_cdnow",
    "load_network",
    "simulate_coupon_campaign",
    "simulate_patient_cohort",
]


def list_datasets() -> pd.DataFrame:
    """Return one row per dataset, simulator and bundled network: name, kind, loader and description."""
    rows = [
        {"name": "cdnow", "kind": "data", "loader": "load_cdnow()",
         "description": "CDNOW cohort RFM summary, 2,357 customers (Fader, Hardie & Lee 2005)"},
        {"name": "coupon_campaign", "kind": "simulator", "loader": "simulate_coupon_campaign(...)",
         "description": "randomized coupon campaign: lifecycle HMM, redemption by store/segment, spend; with truth"},
        {"name": "patient_cohort", "kind": "simulator", "loader": "simulate_patient_cohort(...)",
         "description": "risk-factor network, readmission across hospitals, disease-stage HMM; with truth"},
    ]
    rows += [
        {"name": name, "kind": "network", "loader": f"load_network({name!r})", "description": desc}
        for name, desc in NETWORKS.items()
    ]
    return pd.DataFrame(rows)
