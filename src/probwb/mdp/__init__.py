"""Markov decision processes: exact sparse solvers, constrained MDPs, POMDPs, policies and learning from logs.

``import probwb.mdp`` imports numpy, scipy and pandas only; plotting lives in :mod:`probwb.mdp.plots`.

Main entry points::

    mdp = MDP(transitions, rewards, discount, states=..., actions=...)   # or MDP.from_dataframe(...)
    res = solve(mdp, method="policy_iteration")                          # one SolveResult for every method
    solve_constrained(mdp, costs, budgets)                               # CMDP by LP over occupancy measures
    POMDP(mdp, observation_probs).solve("perseus")                       # belief policies
    MDPEstimator().fit(logs).policy_posterior(400)                       # how sure is the optimal policy?
    MDPEstimator().fit(logs).policy_value_posterior(policy).interval(0.9)  # a fixed policy's value, credible
    solve(episodic_mdp_with_discount_1)                                  # if check_termination(mdp) accepts
"""

from probwb.mdp.constrained import ConstrainedResult, solve_constrained
from probwb.mdp.learn import (
    MDPEstimator,
    PolicyPosterior,
    PolicyValuePosterior,
    QLearningResult,
    batched_policy_iteration,
    q_learning,
)
from probwb.mdp.model import MDP
from probwb.mdp.policy import (
    SimulationResult,
    compare_policies,
    evaluate_policy,
    returns_distribution,
    simulate,
)
from probwb.mdp.pomdp import POMDP, BeliefPolicy
from probwb.mdp.solvers import METHODS, SolveResult, check_termination, solve

__all__ = [
    "MDP",
    "METHODS",
    "POMDP",
    "BeliefPolicy",
    "ConstrainedResult",
    "MDPEstimator",
    "PolicyPosterior",
    "PolicyValuePosterior",
    "QLearningResult",
    "SimulationResult",
    "SolveResult",
    "batched_policy_iteration",
    "check_termination",
    "compare_policies",
    "evaluate_policy",
    "q_learning",
    "returns_distribution",
    "simulate",
    "solve",
    "solve_constrained",
]
