"""Structures planted in the synthetic bank that targeting is tested against.

**Lookalikes**: a persona split into a seed and the rest.

Every client of the generated bank behaves like one planted persona (``truth/segments.parquet``).
Taking a random share of one persona's clients as a seed, a lookalike model that finds
the persona's behaviour should rank the rest of that persona first: the rest is the
known answer the expansion is measured against.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from segmint.datasets._bank import FILES, GeneratedData
from segmint.datasets._bank_story import PRODUCT_TYPES, SEGMENT_NAMES, SEGMENTS
from segmint.errors import ParameterError


def planted_lookalike(
    data: GeneratedData | str | Path, *, persona: str = "digital_first", seed_share: float = 0.3, seed: int = 0
) -> tuple[list[str], list[str]]:
    """(seed, rest): the clients whose current planted persona is ``persona``, split at random.

    Parameters
    ----------
    data : GeneratedData, or the folder it wrote
        What :func:`generate_bank` wrote.
    persona : str
        A planted segment of ``docs/generator.md``.
    seed_share : float
        Share of the persona's clients in the seed.
    seed : int
        Random seed of the split.
    """
    if persona not in SEGMENT_NAMES:
        raise ParameterError(f"persona: expected one of {', '.join(SEGMENT_NAMES)}, got {persona!r}")
    if not 0 < seed_share < 1:
        raise ParameterError(f"seed_share: expected a share in (0, 1), got {seed_share}")
    path = data.path("segments") if isinstance(data, GeneratedData) else Path(data) / FILES["segments"]
    truth = pq.read_table(path)
    current = truth.filter(pc.and_(pc.is_null(truth["valid_to"]), pc.equal(truth["segment"], persona)))
    ids = np.array(sorted(current["client_id"].to_pylist()), dtype=object)
    rng = np.random.default_rng(seed)
    pick = np.zeros(len(ids), dtype=bool)
    pick[rng.choice(len(ids), int(round(seed_share * len(ids))), replace=False)] = True
    return ids[pick].tolist(), ids[~pick].tolist()


def planted_uptake(persona: str, *, window_days: int = 365) -> dict[str, float]:
    """Expected share of ``persona``'s clients without each product type ``window_days``
    before the end date who opened it since (closures ignored; the current account,
    which every client holds from day one, left out).

    For tenure t (uniform over the persona's range) and holding probability p, a holder
    opened the product within the window with probability m(t) = min(w, t) / t, so the
    uptake is E[p m] / E[1 - p + p m].
    """
    if persona not in SEGMENTS:
        raise ParameterError(f"persona: expected one of {', '.join(SEGMENT_NAMES)}, got {persona!r}")
    s = SEGMENTS[persona]
    tenure = np.linspace(s.tenure_years[0], s.tenure_years[1], 4001) * 365.25
    m = np.minimum(window_days, tenure) / tenure
    return {
        t: float((p * m).mean() / (1 - p + p * m).mean())
        for t, p in zip(PRODUCT_TYPES[1:], s.products, strict=True)
    }
