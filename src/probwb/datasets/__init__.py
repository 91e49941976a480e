"""Data that needs no network: CDNOW, bundled example networks, and simulators with known truth."""

from probwb.datasets._files import NETWORKS, data_path, load_cdnow, load_network

__all__ = ["NETWORKS", "data_path", "load_cdnow", "load_network"]
