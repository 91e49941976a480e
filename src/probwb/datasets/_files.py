"""Files shipped with the package: the CDNOW summary and bnlearn example networks."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from probwb.core.validation import closest_match
from probwb.errors import DataError

_DATA = "probwb.datasets.data"

# Source of every network: the bnlearn repository as distributed in the pgmpy 0.1.26 wheel
# (pgmpy/utils/example_models/); pgmpy 1.x downloads them at run time, which offline machines cannot do.
NETWORKS = {
    "asia": "lung disease diagnosis (8 nodes)",
    "cancer": "lung cancer (5 nodes)",
    "earthquake": "burglary alarm (5 nodes)",
    "sachs": "protein signalling (11 nodes)",
    "survey": "transport survey (6 nodes)",
    "alarm": "ALARM patient monitoring (37 nodes)",
    "child": "congenital heart disease in newborns (20 nodes)",
    "insurance": "car insurance risk (27 nodes)",
    "water": "waste-water treatment (32 nodes)",
    "hailfinder": "severe weather forecasting (56 nodes)",
    "hepar2": "HEPAR II liver disorders (70 nodes)",
    "win95pts": "printer troubleshooting (76 nodes)",
    "pathfinder": "PATHFINDER lymph-node pathology (109 nodes)",
    "andes": "physics problem solving (223 nodes)",
    "pigs": "pig pedigree (441 nodes)",
    "link": "linkage analysis (724 nodes)",
    "munin1": "MUNIN electromyography subnetwork (186 nodes)",
}


def data_path(name: str) -> Path:
    """Return the filesystem path of a file shipped in ``probwb/datasets/data``."""
    return Path(str(resources.files(_DATA).joinpath(name)))


def load_network(name: str) -> Path:
    """Return the path of a bundled bnlearn network (gzipped BIF); see ``NETWORKS`` for the names."""
    key = str(name).lower()
    if key not in NETWORKS:
        hint = closest_match(key, NETWORKS)
        extra = f" (did you mean {hint!r}?)" if hint else ""
        raise DataError(f"unknown network {name!r}{extra}; bundled networks: {sorted(NETWORKS)}")
    return data_path(f"networks/{key}.bif.gz")


def load_cdnow() -> pd.DataFrame:
    """Return the CDNOW cohort summary: one row per customer (2,357) with weeks-based RFM columns.

    Columns: ``customer_id``, ``frequency`` (repeat purchases), ``recency`` (weeks from first to last
    purchase), ``T`` (weeks from first purchase to end of the 39-week calibration period) and
    ``monetary_value`` (mean spend per repeat transaction, 0 for customers with no repeat purchase).
    Source: Fader, Hardie & Lee (2005), Marketing Science 24(2), as shipped with lifetimes 0.11.3.
    """
    raw = pd.read_csv(data_path("cdnow_customers_summary_with_transactions.csv"))
    return pd.DataFrame(
        {
            "customer_id": raw["ID"].astype("int64"),
            "frequency": raw["x"].astype("int64"),
            "recency": raw["t_x"].astype(float),
            "T": raw["T"].astype(float),
            "monetary_value": raw["zbar"].astype(float),
        }
    )
