"""How a rolling update resolves maxSurge / maxUnavailable percentages into pods.

The seed's formula (surge = ceil(replicas x max_surge), unavailable = floor(replicas x max_unavailable))
is the Deployment controller's (`deploymentutil.ResolveFenceposts`); the settings plan rollouts with
it and the policy pack checks rendered Deployments with it.
"""

import math
from fractions import Fraction
from typing import Union


def scaled_pods(replicas: int, percent: Union[int, Fraction], round_up: bool) -> int:
    """replicas x percent / 100, exactly, rounded up (maxSurge) or down (maxUnavailable)."""
    scaled = Fraction(replicas) * Fraction(percent) / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def surge_pods(replicas: int, percent: int) -> int:
    """ceil(replicas x max_surge)."""
    return scaled_pods(replicas, percent, round_up=True)


def unavailable_pods(replicas: int, percent: int) -> int:
    """floor(replicas x max_unavailable)."""
    return scaled_pods(replicas, percent, round_up=False)
