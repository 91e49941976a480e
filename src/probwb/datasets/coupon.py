"""Simulated coupon campaign with known truth: lifecycle states, purchases, randomized coupons, redemption, spend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.random import RandomState, check_random_state
from probwb.datasets._common import categorical_rows, check_count, ids, labelled, sigmoid, softmax_rows

STATES = ["active", "at_risk", "churned"]
COUPONS = ["none", "10%", "20%"]
ARMS = ["control", "10%", "20%"]
SEGMENTS = ["value", "regular", "premium"]
CHANNELS = ["web", "store", "referral"]
REGIONS = ["north", "south", "east", "west"]


@dataclass(frozen=True)
class CouponCampaign:
    """Tables of a simulated campaign and the parameters that generated them (``truth``)."""

    customers: pd.DataFrame
    stores: pd.DataFrame
    panel: pd.DataFrame
    coupons: pd.DataFrame
    truth: dict[str, Any] = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"CouponCampaign(customers={len(self.customers)}, stores={len(self.stores)}, "
            f"panel_rows={len(self.panel)}, coupon_offers={len(self.coupons)})"
        )


def default_coupon_truth() -> dict[str, Any]:
    """Return the default generating parameters of :func:`simulate_coupon_campaign` (a fresh dict)."""
    ninf = -np.inf
    # Rows are the from-state; logits relative to staying put. Churned is absorbing (-inf elsewhere).
    intercept = np.array([
        [0.0, -2.3, -4.6],
        [-1.3, 0.0, -1.6],
        [ninf, ninf, 0.0],
    ])
    coef = {
        "10%": np.array([[0.0, -0.3, -0.4], [0.5, 0.0, -0.5], [0.0, 0.0, 0.0]]),
        "20%": np.array([[0.0, -0.6, -0.8], [1.0, 0.0, -1.0], [0.0, 0.0, 0.0]]),
    }
    transmat = {"none": softmax_rows(intercept)}
    for c, b in coef.items():
        transmat[c] = softmax_rows(intercept + b)
    return {
        "states": list(STATES),
        "startprob": np.array([0.75, 0.25, 0.0]),
        "transition_logit": {"intercept": intercept, "coef": coef},
        "transmat": transmat,
        "purchase_rate": np.array([1.6, 0.5, 0.05]),
        "spend_mean": {"value": 22.0, "regular": 38.0, "premium": 65.0},
        "spend_shape": 4.0,
        "offer_rate": 0.5,
        "segment_probs": {"value": 0.45, "regular": 0.35, "premium": 0.20},
        "channel_probs": {"web": 0.5, "store": 0.35, "referral": 0.15},
        "redemption": {
            "intercept": -1.0,
            "coupon": {"10%": 0.0, "20%": 0.6},
            "segment": {"value": 0.5, "regular": 0.0, "premium": -0.4},
            # Churned customers still receive offers but rarely act on them; finite so that models with
            # state as a predictor do not meet perfect separation.
            "state": {"active": 0.4, "at_risk": 0.0, "churned": -3.0},
            "store_sd": 0.5,
        },
        "margin": 0.3,
        "coupon_cost": {"10%": 0.10, "20%": 0.20},
    }


def simulate_coupon_campaign(
    n_customers: int = 2000,
    n_stores: int = 20,
    n_weeks: int = 26,
    random_state: RandomState = None,
) -> CouponCampaign:
    """Simulate a randomized coupon campaign and return its tables with the true parameters.

    Each customer has a segment, acquisition channel and home store, and is randomized to an arm
    (control, 10% or 20% off). A latent lifecycle chain (active / at-risk / churned, churned absorbing)
    drives weekly Poisson purchase counts; in coupon arms a customer receives an offer on a week with
    probability ``truth["offer_rate"]`` whatever their (hidden) state, and that week's offer shifts the next
    transition through a multinomial logit. Redemption is logistic in coupon, segment, state and a normal store effect; spend per
    purchase is Gamma with a segment mean. ``truth["p_redeem"]`` holds each offer's true redemption probability.
    """
    n_customers = check_count("n_customers", n_customers)
    n_stores = check_count("n_stores", n_stores)
    n_weeks = check_count("n_weeks", n_weeks, minimum=2)
    rng = check_random_state(random_state)
    truth = default_coupon_truth()
    red = truth["redemption"]

    store_effect = rng.normal(0.0, red["store_sd"], n_stores)
    store_ids = ids("S", n_stores, 2)
    red["store_effect"] = {str(s): float(b) for s, b in zip(store_ids, store_effect, strict=True)}
    stores = pd.DataFrame({
        "store_id": store_ids,
        "region": labelled(rng.integers(0, len(REGIONS), n_stores), REGIONS),
    })

    seg = rng.choice(len(SEGMENTS), n_customers, p=[truth["segment_probs"][s] for s in SEGMENTS])
    chan = rng.choice(len(CHANNELS), n_customers, p=[truth["channel_probs"][c] for c in CHANNELS])
    store = rng.integers(0, n_stores, n_customers)
    arm = rng.integers(0, len(ARMS), n_customers)
    cust_ids = ids("C", n_customers, max(5, len(str(n_customers))))
    customers = pd.DataFrame({
        "customer_id": cust_ids,
        "segment": labelled(seg, SEGMENTS),
        "channel": labelled(chan, CHANNELS),
        "store_id": pd.Categorical.from_codes(store, categories=stores["store_id"].cat.categories),
        "arm": labelled(arm, ARMS),
    })

    # Simulate week by week, vectorised over customers: (n_weeks, n_customers) arrays.
    state = np.empty((n_weeks, n_customers), dtype=np.int64)
    coupon = np.zeros((n_weeks, n_customers), dtype=np.int64)
    state[0] = categorical_rows(rng, np.broadcast_to(truth["startprob"], (n_customers, 3)))
    # transition tensor indexed [coupon, from, to]
    trans = np.stack([truth["transmat"][c] for c in COUPONS])
    in_arm = arm > 0
    for t in range(n_weeks):
        # Offers do not depend on the lifecycle state, so the coupon is an external input to the chain
        # (an input-driven HMM would be biased if offers revealed the hidden state).
        offered = in_arm & (rng.random(n_customers) < truth["offer_rate"])
        coupon[t] = np.where(offered, arm, 0)
        if t + 1 < n_weeks:
            state[t + 1] = categorical_rows(rng, trans[coupon[t], state[t]])

    purchases = rng.poisson(truth["purchase_rate"][state])
    spend_mean = np.array([truth["spend_mean"][s] for s in SEGMENTS])[seg]
    shape = truth["spend_shape"]
    # A sum of k iid Gamma(shape, scale) draws is Gamma(k * shape, scale): one draw per customer-week.
    scale = np.broadcast_to(spend_mean / shape, purchases.shape)
    spend = np.zeros(purchases.shape)
    pos = purchases > 0
    spend[pos] = rng.gamma(shape * purchases[pos], scale[pos])

    offered = coupon > 0
    logit = (
        red["intercept"]
        + np.array([0.0] + [red["coupon"][c] for c in COUPONS[1:]])[coupon]
        + np.array([red["segment"][s] for s in SEGMENTS])[seg][None, :]
        + np.array([red["state"][s] for s in STATES])[state]
        + store_effect[store][None, :]
    )
    p_redeem_all = sigmoid(logit)
    redeemed = np.where(offered, (rng.random(offered.shape) < p_redeem_all).astype(float), np.nan)

    # Long panel ordered by customer then week (the layout sequence models expect).
    c, w = np.divmod(np.arange(n_customers * n_weeks), n_weeks)
    panel = pd.DataFrame({
        "customer_id": pd.Categorical.from_codes(c, categories=cust_ids.categories),
        "week": w.astype(np.int64),
        "state": labelled(state[w, c], STATES),
        "coupon": labelled(coupon[w, c], COUPONS),
        "purchases": purchases[w, c].astype(np.int64),
        "redeemed": redeemed[w, c],
        "spend": np.round(spend[w, c], 2),
    })

    mask = offered[w, c]
    cw, cc = w[mask], c[mask]
    coupons = pd.DataFrame({
        "customer_id": pd.Categorical.from_codes(cc, categories=cust_ids.categories),
        "week": cw.astype(np.int64),
        "store_id": pd.Categorical.from_codes(store[cc], categories=stores["store_id"].cat.categories),
        "segment": labelled(seg[cc], SEGMENTS),
        "channel": labelled(chan[cc], CHANNELS),
        "coupon": pd.Categorical.from_codes(coupon[cw, cc] - 1, categories=COUPONS[1:]),
        "redeemed": redeemed[cw, cc].astype(np.int64),
        "state": labelled(state[cw, cc], STATES),
    })
    truth["p_redeem"] = p_redeem_all[cw, cc]
    return CouponCampaign(customers=customers, stores=stores, panel=panel, coupons=coupons, truth=truth)
