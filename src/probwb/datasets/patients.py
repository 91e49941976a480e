"""Simulated patient cohort with known truth: a risk-factor Bayesian network, hierarchical readmission
risk across hospitals, and visit-by-visit disease stages from a hidden Markov model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.random import RandomState, check_random_state
from probwb.datasets._common import categorical_rows, check_count, ids, labelled, sigmoid

AGE_BANDS = ["<50", "50-69", "70+"]
NO_YES = ["no", "yes"]
SEXES = ["F", "M"]
PRIOR = ["0", "1", "2+"]
TREATMENTS = ["standard", "intensive"]
STAGES = ["mild", "moderate", "severe"]
TEST_LEVELS = ["normal", "abnormal", "critical"]
SIZES = ["small", "medium", "large"]
# Order of ancestral sampling: every node after its parents.
BN_ORDER = ["age_band", "sex", "smoker", "diabetes", "heart_failure", "copd", "prior_admissions"]


@dataclass(frozen=True)
class PatientCohort:
    """Tables of a simulated cohort and the parameters that generated them (``truth``)."""

    patients: pd.DataFrame
    hospitals: pd.DataFrame
    visits: pd.DataFrame
    truth: dict[str, Any] = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"PatientCohort(patients={len(self.patients)}, hospitals={len(self.hospitals)}, "
            f"visit_rows={len(self.visits)})"
        )


def default_patient_truth() -> dict[str, Any]:
    """Return the default generating parameters of :func:`simulate_patient_cohort` (a fresh dict)."""
    bn = {"nodes": {
        "age_band": {"states": AGE_BANDS, "parents": [], "cpt": [0.40, 0.38, 0.22]},
        "sex": {"states": SEXES, "parents": [], "cpt": [0.52, 0.48]},
        "smoker": {"states": NO_YES, "parents": ["sex"], "cpt": [[0.82, 0.18], [0.74, 0.26]]},
        "diabetes": {"states": NO_YES, "parents": ["age_band"],
                     "cpt": [[0.92, 0.08], [0.80, 0.20], [0.72, 0.28]]},
        "heart_failure": {"states": NO_YES, "parents": ["age_band", "diabetes"],
                          "cpt": [[[0.97, 0.03], [0.92, 0.08]],
                                  [[0.90, 0.10], [0.80, 0.20]],
                                  [[0.78, 0.22], [0.65, 0.35]]]},
        "copd": {"states": NO_YES, "parents": ["smoker", "age_band"],
                 "cpt": [[[0.97, 0.03], [0.94, 0.06], [0.90, 0.10]],
                         [[0.88, 0.12], [0.78, 0.22], [0.68, 0.32]]]},
        "prior_admissions": {"states": PRIOR, "parents": ["heart_failure", "copd"],
                             "cpt": [[[0.75, 0.18, 0.07], [0.55, 0.28, 0.17]],
                                     [[0.45, 0.32, 0.23], [0.30, 0.35, 0.35]]]},
    }}
    readmission = {
        "intercept": -2.2,
        "coef": {
            "age_band[50-69]": 0.3, "age_band[70+]": 0.7, "diabetes[yes]": 0.4, "heart_failure[yes]": 0.8,
            "copd[yes]": 0.5, "prior_admissions[1]": 0.4, "prior_admissions[2+]": 0.9,
            "treatment[intensive]": -0.5,
        },
        "hospital_sd": 0.4,
    }
    hmm = {
        "states": list(STAGES),
        "startprob": np.array([0.6, 0.3, 0.1]),
        # Progressive under standard care; intensive treatment slows progression and allows improvement.
        "transmat": {
            "standard": np.array([[0.85, 0.13, 0.02], [0.00, 0.85, 0.15], [0.00, 0.00, 1.00]]),
            "intensive": np.array([[0.92, 0.07, 0.01], [0.12, 0.80, 0.08], [0.00, 0.10, 0.90]]),
        },
        "test_levels": list(TEST_LEVELS),
        "emission_probs": np.array([[0.80, 0.15, 0.05], [0.20, 0.60, 0.20], [0.05, 0.25, 0.70]]),
        "biomarker_mean": np.array([1.0, 2.5, 4.0]),
        "biomarker_sd": np.array([0.6, 0.7, 0.8]),
        "missing_rate": 0.1,
        # P(intensive at a visit) by true stage: clinicians escalate for sicker patients.
        "treatment_prob": np.array([0.2, 0.4, 0.6]),
    }
    return {"bn": bn, "readmission": readmission, "hmm": hmm}


def _sample_bn(rng: np.random.Generator, bn: dict[str, Any], n: int) -> dict[str, np.ndarray]:
    codes: dict[str, np.ndarray] = {}
    for name in BN_ORDER:
        node = bn["nodes"][name]
        cpt = np.asarray(node["cpt"], dtype=float)
        if node["parents"]:
            probs = cpt[tuple(codes[p] for p in node["parents"])]
        else:
            probs = np.broadcast_to(cpt, (n, cpt.shape[-1]))
        codes[name] = categorical_rows(rng, probs)
    return codes


def simulate_patient_cohort(
    n_patients: int = 2000,
    n_hospitals: int = 20,
    n_visits: int = 8,
    random_state: RandomState = None,
) -> PatientCohort:
    """Simulate a patient cohort across hospitals and return its tables with the true parameters.

    Risk factors are drawn from a known Bayesian network (``truth["bn"]``, the spec format of
    ``probwb.bn``); treatment at admission is more likely for patients with more comorbidities (confounding
    on purpose); 30-day readmission follows a hierarchical logistic model with normal hospital effects
    (``truth["readmission"]``; ``truth["p_readmit"]`` is each patient's true probability). Follow-up visits
    carry a disease stage from a known HMM whose transitions depend on that visit's treatment; a test result
    and a biomarker are observed, and about 10% of visits are missed (NaN), never dropped.
    """
    n_patients = check_count("n_patients", n_patients)
    n_hospitals = check_count("n_hospitals", n_hospitals)
    n_visits = check_count("n_visits", n_visits, minimum=2)
    rng = check_random_state(random_state)
    truth = default_patient_truth()
    rd, hm = truth["readmission"], truth["hmm"]

    hosp_ids = ids("H", n_hospitals, 2)
    hosp_effect = rng.normal(0.0, rd["hospital_sd"], n_hospitals)
    rd["hospital_effect"] = {str(h): float(b) for h, b in zip(hosp_ids, hosp_effect, strict=True)}
    hospitals = pd.DataFrame({
        "hospital_id": hosp_ids,
        "size": labelled(rng.integers(0, 3, n_hospitals), SIZES),
    })

    codes = _sample_bn(rng, truth["bn"], n_patients)
    # Larger hospitals see more patients: allocation weights by size.
    weights = np.array([1.0, 2.0, 3.0])[hospitals["size"].cat.codes.to_numpy()]
    hosp = rng.choice(n_hospitals, n_patients, p=weights / weights.sum())
    lo = np.array([25.0, 50.0, 70.0])[codes["age_band"]]
    hi = np.array([50.0, 70.0, 95.0])[codes["age_band"]]
    age = np.round(rng.uniform(lo, hi), 1)
    comorb = codes["diabetes"] + codes["heart_failure"] + codes["copd"]
    treat = (rng.random(n_patients) < sigmoid(-1.0 + 0.6 * comorb)).astype(np.int64)
    los = np.round(rng.lognormal(np.log(3.5) + 0.15 * comorb, 0.45), 1)

    c = rd["coef"]
    logit = (
        rd["intercept"]
        + np.array([0.0, c["age_band[50-69]"], c["age_band[70+]"]])[codes["age_band"]]
        + c["diabetes[yes]"] * codes["diabetes"]
        + c["heart_failure[yes]"] * codes["heart_failure"]
        + c["copd[yes]"] * codes["copd"]
        + np.array([0.0, c["prior_admissions[1]"], c["prior_admissions[2+]"]])[codes["prior_admissions"]]
        + c["treatment[intensive]"] * treat
        + hosp_effect[hosp]
    )
    p_readmit = sigmoid(logit)
    readmitted = (rng.random(n_patients) < p_readmit).astype(np.int64)
    truth["p_readmit"] = p_readmit

    pat_ids = ids("P", n_patients, max(6, len(str(n_patients))))
    patients = pd.DataFrame({
        "patient_id": pat_ids,
        "hospital_id": pd.Categorical.from_codes(hosp, categories=hosp_ids.categories),
        "age_band": labelled(codes["age_band"], AGE_BANDS),
        "sex": labelled(codes["sex"], SEXES),
        "smoker": labelled(codes["smoker"], NO_YES),
        "diabetes": labelled(codes["diabetes"], NO_YES),
        "heart_failure": labelled(codes["heart_failure"], NO_YES),
        "copd": labelled(codes["copd"], NO_YES),
        "prior_admissions": labelled(codes["prior_admissions"], PRIOR),
        "comorbidities": comorb.astype(np.int64),
        "age": age,
        "length_of_stay": los,
        "treatment": labelled(treat, TREATMENTS),
        "readmitted": readmitted,
    })

    # Visits: (n_visits, n_patients) arrays, vectorised over patients.
    stage = np.empty((n_visits, n_patients), dtype=np.int64)
    vtreat = np.empty((n_visits, n_patients), dtype=np.int64)
    stage[0] = categorical_rows(rng, np.broadcast_to(hm["startprob"], (n_patients, 3)))
    trans = np.stack([hm["transmat"][t] for t in TREATMENTS])
    for t in range(n_visits):
        vtreat[t] = (rng.random(n_patients) < hm["treatment_prob"][stage[t]]).astype(np.int64)
        if t + 1 < n_visits:
            stage[t + 1] = categorical_rows(rng, trans[vtreat[t], stage[t]])
    test = categorical_rows(rng, hm["emission_probs"][stage.ravel()]).reshape(stage.shape)
    bio = rng.normal(hm["biomarker_mean"][stage], hm["biomarker_sd"][stage])
    missed = rng.random(stage.shape) < hm["missing_rate"]
    test = np.where(missed, -1, test)
    bio = np.where(missed, np.nan, np.round(bio, 3))

    p, v = np.divmod(np.arange(n_patients * n_visits), n_visits)
    visits = pd.DataFrame({
        "patient_id": pd.Categorical.from_codes(p, categories=pat_ids.categories),
        "visit": v.astype(np.int64),
        "stage": labelled(stage[v, p], STAGES),
        "treatment": labelled(vtreat[v, p], TREATMENTS),
        "test_result": labelled(test[v, p], TEST_LEVELS),
        "biomarker": bio[v, p],
    })
    return PatientCohort(patients=patients, hospitals=hospitals, visits=visits, truth=truth)
