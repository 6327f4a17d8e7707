"""Next-purchase timing from BG/NBD (and its homogeneous-dropout limit).

In BG/NBD (Fader, Hardie & Lee 2005) a customer drops out only right after a purchase,
so a customer alive at ``T`` makes their next purchase after an exponential time of rate
λ, whose posterior given ``(x, t_x, T)`` and alive is Gamma(r + x, α + T) (the dropout
probability does not enter it). Hence, for a window of length ``t``::

    P(at least one purchase in (T, T + t]) = P(alive) · (1 - ((α + T) / (α + T + t))^(r + x))

and, while alive, the expected time to the next purchase is
``E[1/λ] = (α + T) / (r + x - 1)`` (infinite when ``r + x <= 1``). The same holds for
:class:`~segmint.clv.GeometricNBD`, whose dropout also follows purchases.
"""

from __future__ import annotations

import numpy as np

from segmint.clv._base import validate_rfm
from segmint.errors import DataError


def _r_alpha(model) -> tuple[float, float]:
    params = getattr(model, "params_", None)
    if params is None or "r" not in params or "alpha" not in params:
        raise DataError(
            f"{type(model).__name__}: next-purchase timing needs a fitted BG/NBD-type model "
            "(BetaGeo or GeometricNBD)"
        )
    return float(params["r"]), float(params["alpha"])


def probability_of_purchase_within(model, t, frequency, recency, T) -> np.ndarray:
    """P(at least one purchase in ``(T, T + t]`` | x, t_x, T), ``t`` in the model's unit.

    Examples
    --------
    >>> from segmint.clv import GeometricNBD
    >>> m = GeometricNBD.from_params({"r": 1.0, "alpha": 10.0, "p": 0.1})
    >>> float(probability_of_purchase_within(m, 10.0, 0, 0.0, 0.0)[0])  # 1 - (10/20)^1
    0.5
    """
    r, alpha = _r_alpha(model)
    x, t_x, T_ = validate_rfm(frequency, recency, T)
    t = np.asarray(t, dtype=float)
    alive = model.probability_alive(x, t_x, T_)
    return alive * -np.expm1((r + x) * (np.log(alpha + T_) - np.log(alpha + T_ + t)))


def expected_time_to_next_purchase(model, frequency, recency, T) -> np.ndarray:
    """E[time to the next purchase | alive, x, t_x, T] = (α + T) / (r + x - 1), in the
    model's unit; ``inf`` when ``r + x <= 1`` (the posterior mean of 1/λ diverges)."""
    r, alpha = _r_alpha(model)
    x, _t_x, T_ = validate_rfm(frequency, recency, T)
    shape = r + x - 1.0
    with np.errstate(divide="ignore"):
        return np.where(shape > 0, (alpha + T_) / np.where(shape > 0, shape, 1.0), np.inf)
