"""Paired comparisons: two configurations on the same (prompt, seed) pairs, which start from the same
noise, compared by their mean paired difference with a bootstrap interval over prompts.

Pairing removes what a prompt and a seed contribute to both sides (most of the variance of a
CLIP or preference score), so far smaller differences are resolved than by setting two marginal
intervals side by side. The bootstrap resamples prompts, not images: the seeds of one prompt
are not independent draws of the study's question ("over prompts like these"). With fewer than
MIN_CLUSTERS prompts it resamples the pairs themselves, and says so. Many comparisons at once
are corrected with Holm's step-down method. Pure numpy; the site and `bench summary` share it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RESAMPLES = 4000
MIN_CLUSTERS = 5  # fewer prompts than this: resample pairs (an interval over 2 prompts means little)
SEED = 0  # the same data gives the same interval on every build


@dataclass(frozen=True)
class Paired:
    """a - b over their shared (prompt, seed) pairs."""

    mean: float  # mean paired difference
    lo: float  # 95% bootstrap interval
    hi: float
    p: float  # two-sided bootstrap p-value of "no difference"
    n_pairs: int
    n_prompts: int
    win_rate: float  # share of prompts where a's mean beats b's (ties count half)
    by: str  # "prompt" or "pair": what the bootstrap resampled

    @property
    def significant(self) -> bool:
        return not (self.lo <= 0 <= self.hi)


def align(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The pairs both sides have: columns prompt_id, seed, a, b (each frame: prompt_id, seed, value)."""
    left = a.groupby(["prompt_id", "seed"], sort=False)["value"].mean().rename("a")
    right = b.groupby(["prompt_id", "seed"], sort=False)["value"].mean().rename("b")
    return pd.concat([left, right], axis=1, join="inner").reset_index()


def paired(pairs: pd.DataFrame, higher_is_better: bool = True) -> Paired | None:
    """The comparison of `align`'s pairs; None without a pair. `higher_is_better` only sets which
    side a win is."""
    if pairs.empty:
        return None
    diff = (pairs["a"] - pairs["b"]).to_numpy(float)
    per_prompt = pd.Series(diff).groupby(pairs["prompt_id"].to_numpy()).mean().to_numpy()
    clusters, by = (per_prompt, "prompt") if len(per_prompt) >= MIN_CLUSTERS else (diff, "pair")
    boot = _bootstrap_means(clusters)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    p = min(1.0, 2 * min((boot <= 0).mean(), (boot >= 0).mean())) if boot.std() > 0 else float(diff.mean() == 0)
    sign = 1 if higher_is_better else -1
    wins = (np.sign(per_prompt) * sign + 1) / 2  # 1 a win, 0 a loss, 0.5 a tie
    return Paired(
        float(clusters.mean()), float(lo), float(hi), float(p), len(diff), len(per_prompt), float(wins.mean()), by
    )


def _bootstrap_means(values: np.ndarray) -> np.ndarray:
    """RESAMPLES means of `values` resampled with replacement; the clusters' weights are equal
    (each prompt's mean counts once), so the centre is the mean of prompt means."""
    rng = np.random.default_rng(SEED)
    index = rng.integers(0, len(values), size=(RESAMPLES, len(values)))
    return values[index].mean(axis=1)


def p_text(p: float) -> str:
    """A bootstrap p-value as text: below its resolution it is only known to be small."""
    return f"< {1 / RESAMPLES:.2g}" if p < 1 / RESAMPLES else f"{p:.2g}"


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (monotone, capped at 1)."""
    order = np.argsort(p_values)
    m = len(p_values)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


@dataclass(frozen=True)
class Ranking:
    """Image sets ranked by paired tests on the (prompt, seed) pairs they all share."""

    table: pd.DataFrame  # per set: set, mean, half_width, rank, tie (rank shared), n_pairs; best first
    p_adjusted: pd.DataFrame  # Holm-adjusted p-value of every pair of sets (square, by set)
    boot: dict  # set -> its RESAMPLES bootstrap means (the same prompt draws for every set)
    prompt_wins: dict  # (a, b) -> share of prompts where a's mean is the higher (ties count half)
    n_pairs: int
    n_prompts: int
    by: str  # what the bootstrap resampled: "prompt", or "pair" with fewer than MIN_CLUSTERS prompts

    def versus(self, a: str, b: str, higher_is_better: bool = True) -> Paired:
        """a against b on the shared pairs: the interval from the ranking's own draws, the p-value
        Holm-adjusted over all the ranking's pairs, the win rate on the better side's terms."""
        lo, hi = np.percentile(self.boot[a] - self.boot[b], [2.5, 97.5])
        means = self.table.set_index("set")["mean"]
        wins = self.prompt_wins[(a, b)] if higher_is_better else self.prompt_wins[(b, a)]
        return Paired(float(means[a] - means[b]), float(lo), float(hi), float(self.p_adjusted.loc[a, b]),
                      self.n_pairs, self.n_prompts, float(wins), self.by)  # fmt: skip


def comparable(values: pd.DataFrame) -> pd.DataFrame:
    """The rows of the sets that can be ranked together: all of them when some (prompt, seed)
    pair is shared by every set; else the sets holding the pair most sets share (a data dir
    holding two suites' prompts: the seed study beside MLPerf's captions). Sets left out share
    no pair with those and get no rank."""
    pairs = values[["set", "prompt_id", "seed"]].drop_duplicates()
    coverage = pairs.groupby(["prompt_id", "seed"])["set"].nunique()
    if coverage.empty or coverage.max() == values["set"].nunique():
        return values
    prompt_id, seed = coverage.idxmax()
    holding = pairs.loc[pairs["prompt_id"].eq(prompt_id) & pairs["seed"].eq(seed), "set"]
    return values[values["set"].isin(set(holding))]


def rank_sets(values: pd.DataFrame, higher_is_better: bool = True) -> Ranking | None:
    """Rank image sets (`values`: set, prompt_id, seed, value) on the (prompt, seed) pairs every
    set has: a set's rank is 1 + the sets significantly better than it, each pair of sets tested
    by the paired bootstrap over prompts and Holm-corrected over all pairs; sets of one rank tie.

    One draw of prompts serves every set, so any two sets' bootstrap means are paired: n sets
    cost n gathers of RESAMPLES x prompts, not n² bootstraps. None when no pair is shared."""
    sets = list(dict.fromkeys(values["set"]))
    wide = values.pivot_table(index=["prompt_id", "seed"], columns="set", values="value", aggfunc="mean")[sets]
    wide = wide.dropna()
    if wide.empty:
        return None
    per_prompt = wide.groupby(level="prompt_id").mean()
    # the bootstrap's clusters: prompts, or the pairs themselves when prompts are too few
    clusters = per_prompt if len(per_prompt) >= MIN_CLUSTERS else wide
    rng = np.random.default_rng(SEED)
    index = rng.integers(0, len(clusters), size=(RESAMPLES, len(clusters)))
    boot = {s: clusters[s].to_numpy(float)[index].mean(axis=1) for s in sets}
    means = clusters.mean()
    sign = 1.0 if higher_is_better else -1.0
    pairs = [(a, b) for i, a in enumerate(sets) for b in sets[i + 1 :]]
    raw = []
    for a, b in pairs:
        d = boot[a] - boot[b]
        # a difference without any spread is certain, or none at all
        raw.append(min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean())) if d.std() > 0 else float(d[0] == 0))
    adjusted = holm(raw) if raw else []
    p = pd.DataFrame(1.0, index=sets, columns=sets)
    beaten = dict.fromkeys(sets, 0)
    wins = {}
    for (a, b), q in zip(pairs, adjusted):
        p.loc[a, b] = p.loc[b, a] = q
        if q < 0.05:
            better, worse = (a, b) if sign * (means[a] - means[b]) > 0 else (b, a)
            beaten[worse] += 1
        share = ((np.sign(per_prompt[a] - per_prompt[b]) + 1) / 2).mean()
        wins[(a, b)], wins[(b, a)] = share, 1 - share
    half = {s: (np.percentile(boot[s], 97.5) - np.percentile(boot[s], 2.5)) / 2 for s in sets}
    table = pd.DataFrame(
        {"set": sets, "mean": [means[s] for s in sets], "half_width": [half[s] for s in sets],
         "rank": [1 + beaten[s] for s in sets], "n_pairs": len(wide)}
    )  # fmt: skip
    table = table.sort_values(["rank", "mean"], ascending=[True, not higher_is_better]).reset_index(drop=True)
    table["tie"] = table["rank"].duplicated(keep=False)
    by = "prompt" if clusters is per_prompt else "pair"
    return Ranking(table, p, boot, wins, len(wide), len(per_prompt), by)
