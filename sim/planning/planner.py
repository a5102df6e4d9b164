"""capsim plan: propose purchases with the fast model, check the best with the engine, keep one.

1. *Propose*: every world × `replications` replications is compiled with every decision at 0
   and handed to the fluid model (sim/planning/fluid.py), which solves for the purchases that
   minimise expected total cost, and a few risk-averse variants (CVaR weight λ, heavier prices on
   shortfall). The hand-written plan (what the file buys) is always a candidate.
2. *Check*: each candidate runs through the discrete-event engine on `check_replications`
   replications of every world, on a seed the proposal never saw; every candidate sees the same
   worlds (common random numbers), so candidates are compared pair by pair. Besides the
   proposals, the best proposal's changes to the hand plan are checked one decision at a time
   ("moves"), and the moves that lowered cost are then checked together: the fast model
   ignores gangs, queues and the policy's rankings, so the engine says which directions hold.
3. *Choose*: among candidates whose risk is within the bound (by default: no riskier than the
   hand-written plan), the lowest expected cost_total; and up to three near-optimal
   alternatives, checked plans within 5 % of its cost that differ from it most (alternatives.py).
4. *Evaluate*: the chosen plan and the hand plan run again on a third seed, which neither the
   proposal nor the choice saw, so the reported saving carries no selection bias.

Runs go through `sim.runner.run_many` with a store: an interrupted plan resumes where it
stopped, and runs shared with `compare` are reused.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.stats import Interval
from sim.errors import UserError
from sim.planning.alternatives import COMMITTED, committed_by_provider, concentration, near_optimal
from sim.planning.space import Decision, choice_changes, decision_space, hand_choice, zeroed
from sim.planning.stats import cvar, weighted_mean_ci
from sim.planning.worlds import World, plan_worlds
from sim.runner import RunOutcome, RunSpec, run_many
from sim.scenario import Scenario
from sim.scenario.risk import Risk, parse_risk

Progress = Callable[[int, int], None]

COST_PARTS = ("cost_total", "spend_total", "spend_committed", "committed_idle_cost",
              "spend_on_demand", "spend_spot", "shortfall_cost", "delay_cost",
              "early_finish_credit")
"""The figures of each run a plan is judged by (summary names)."""

PHASE_CHECK = 1
PHASE_EVALUATE = 2


def phase_seed(seed: int, phase: int) -> int:
    """The scenario seed of a planning phase: drawn from (scenario seed, phase), so the engine
    checks and the final evaluation see worlds the proposal (the scenario's own seed) never saw."""
    return int(np.random.SeedSequence([seed, 0x706C616E, phase]).generate_state(1)[0])


def miss_share(metrics: dict[str, float]) -> float:
    """Share of (service, step) pairs below the service's target (slo) in one run: the chance
    that a given hour of a given service misses its target."""
    shares = [v for k, v in metrics.items()
              if k.endswith(".slo_attainment") and ".services." in k and math.isfinite(v)]
    return 1.0 - float(np.mean(shares)) if shares else 0.0


@dataclass
class Candidate:
    """A plan the engine checks: the value of every decision, and where it came from."""

    label: str
    choice: dict[str, float]
    predicted: Any = None  # the fast model's FluidResult, when it proposed or evaluated it
    note: str = ""  # how it was made, in words


@dataclass
class PlanResult:
    """What `plan` hands back: candidates, every engine run, the choice and its evaluation."""

    scenario: Scenario
    source: Path | None
    decisions: list[Decision]
    worlds: list[World]
    risk: Risk
    policy: str
    candidates: list[Candidate]
    runs: pd.DataFrame  # one row per engine run: phase, candidate, world, replication, seed, figures
    table: pd.DataFrame  # one row per candidate: expected figures, intervals, risk, verdict
    chosen: str
    bound: float
    evaluation: pd.DataFrame  # chosen and hand plan on fresh seeds: figure, plan, mean, low, high
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    simulated: int = 0
    reused: int = 0
    hindsight: dict[str, dict[str, float]] = field(default_factory=dict)  # world -> its own plan
    hindsight_predicted: float = math.nan  # the fast model's WS: sum of weight x own-plan cost
    mean_world_plan: dict[str, float] = field(default_factory=dict)  # planned for the mean world
    alternatives: pd.DataFrame = field(default_factory=pd.DataFrame)  # near-optimal, see
    # sim/planning/alternatives.py: one row per plan, its reason and the table's figures

    @property
    def choice(self) -> dict[str, float]:
        """The chosen value of every decision."""
        return next(c.choice for c in self.candidates if c.label == self.chosen)

    @property
    def hand(self) -> dict[str, float]:
        return hand_choice(self.decisions)

    def decisions_frame(self) -> pd.DataFrame:
        """One row per decision: where, what, bounds, the hand value and every candidate's."""
        rows = []
        for d in self.decisions:
            row: dict[str, Any] = {"decision": d.key, "provider": d.provider, "pool": d.pool,
                                   "kind": d.kind, "start_h": d.start_h, "online_h": d.online_h,
                                   "term_h": d.term_h, "price_per_hour": d.price_per_hour,
                                   "size": d.size, "min": d.lo, "max": d.hi, "step": d.step,
                                   "hand": d.hand}
            for c in self.candidates:
                row[c.label] = c.choice[d.key]
            rows.append(row)
        return pd.DataFrame(rows)

    def report(self) -> str:
        from sim.planning.report import plan_report

        return plan_report(self)

    def save(self, directory: str | Path,
             plots: Mapping[str, Callable[[], Any]] | None = None) -> Path:
        """Write the plan's files and the plots drawn by `plots` (file stem -> maker, e.g.
        `sim.plots.figure_makers(plan)`; the planner draws none itself)."""
        from sim.planning.report import save_plan

        return save_plan(self, Path(directory), plots)


# ---------------------------------------------------------------- the steps


def _samples(decisions: list[Decision], worlds: list[World], replications: int) -> list[Any]:
    """Every world × replication compiled with no decision bought, for the fast model."""
    from sim.engine import compile_scenario
    from sim.planning.fluid_inputs import Sample
    from sim.scenario.changes import with_changes

    out = []
    for w in worlds:
        base = with_changes(w.scenario, dict(choice_changes(w.scenario, decisions,
                                                             zeroed(decisions))))
        for r in range(replications):
            out.append(Sample(compile_scenario(base, replication=r), w.weight / replications,
                              w.name))
    return out


def _dedupe(candidates: Iterable[Candidate]) -> list[Candidate]:
    seen: dict[tuple[float, ...], Candidate] = {}
    for c in candidates:
        key = tuple(round(v, 9) for _, v in sorted(c.choice.items()))
        if key not in seen:
            seen[key] = c
    return list(seen.values())


def _engine_runs(worlds: list[World], decisions: list[Decision], candidates: list[Candidate],
                 policy: str, phase: int, replications: int, run_options: dict[str, Any],
                 progress: Progress | None, offset: int, total: int,
                 counts: dict[str, int]) -> list[dict[str, Any]]:
    """Each candidate on `replications` replications of every world at the phase's seed."""
    rows: list[dict[str, Any]] = []
    done = offset
    for w in worlds:
        seed = phase_seed(w.scenario.seed, phase)
        specs = []
        for c in candidates:
            changes = (*choice_changes(w.scenario, decisions, c.choice), ("seed", seed))
            for r in range(replications):
                specs.append(RunSpec(policy, r, changes,
                                     labels=(("candidate", c.label), ("world", w.name))))
        failures: list[RunOutcome] = []
        for outcome in run_many(w.scenario, specs, **run_options):
            done += 1
            if progress is not None:
                progress(done, total)
            if outcome.cached:
                counts["reused"] += 1
            else:
                counts["simulated"] += 1
            if not outcome.ok:
                failures.append(outcome)
                continue
            spec = outcome.spec
            row = {"phase": "check" if phase == PHASE_CHECK else "evaluate",
                   "candidate": dict(spec.labels)["candidate"], "world": w.name,
                   "weight": w.weight, "replication": spec.replication, "seed": seed}
            row.update({k: outcome.metrics.get(k, math.nan) for k in COST_PARTS})
            row["miss_share"] = miss_share(outcome.metrics)
            row.update({COMMITTED + p: v
                        for p, v in committed_by_provider(outcome.metrics).items()})
            rows.append(row)
        if failures:
            first = failures[0]
            raise RuntimeError(f"{len(failures)} engine run(s) of world {w.name!r} failed; "
                               f"first: {first.spec.key()}: {first.error}")
    return rows


def _risk_of(runs: pd.DataFrame, risk: Risk) -> float:
    """The risk figure of one candidate's runs: CVaR of cost_total, or the share of service
    hours that miss their target (weighted over worlds)."""
    counts = runs.groupby("world")["world"].transform("size")
    weights = runs["weight"] / counts
    if risk.kind == "shortfall":
        return float((weights * runs["miss_share"]).sum() / weights.sum())
    return cvar(runs["cost_total"].to_numpy(), weights.to_numpy(), risk.level)


def _by_world(runs: pd.DataFrame, column: str) -> dict[str, list[float]]:
    return {w: g.sort_values("replication")[column].tolist() for w, g in runs.groupby("world")}


def _paired(runs: pd.DataFrame, a: str, b: str, column: str,
            weights: dict[str, float]) -> Interval:
    """Interval of E[a − b] over the same worlds and replications (common random numbers)."""
    left = runs[runs["candidate"] == a].set_index(["world", "replication"])[column]
    right = runs[runs["candidate"] == b].set_index(["world", "replication"])[column]
    diff = (left - right).dropna().reset_index()
    groups = {w: g[column].tolist() for w, g in diff.groupby("world")}
    return weighted_mean_ci(groups, {w: weights[w] for w in groups})


def _summarise(runs: pd.DataFrame, candidates: list[Candidate], risk: Risk,
               weights: dict[str, float]) -> pd.DataFrame:
    rows = []
    for c in candidates:
        mine = runs[runs["candidate"] == c.label]
        row: dict[str, Any] = {"candidate": c.label, "note": c.note, "runs": len(mine)}
        for part in COST_PARTS:
            ci = weighted_mean_ci(_by_world(mine, part), weights)
            row[part] = ci.mean
            if part == "cost_total":
                row["cost_total_low"], row["cost_total_high"] = ci.low, ci.high
        row["miss_share"] = weighted_mean_ci(_by_world(mine, "miss_share"), weights).mean
        row["risk"] = _risk_of(mine, risk)
        spend = {col.removeprefix(COMMITTED): weighted_mean_ci(
            _by_world(mine.fillna({col: 0.0}), col), weights).mean
            for col in runs.columns if col.startswith(COMMITTED)}
        row["committed_hhi"], row["committed_top_provider"], row["committed_top_share"] = \
            concentration(spend)
        pred = c.predicted
        row["predicted_cost_total"] = pred.expected.get("cost_total", math.nan) if pred else math.nan
        row["predicted_risk"] = (pred.cvar if pred and risk.kind != "shortfall"
                                 else pred.unmet_share if pred else math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def _choose(table: pd.DataFrame, bound: float) -> tuple[str, pd.Series]:
    """Lowest expected cost_total among candidates within the risk bound; if none is, the
    least risky (and the caller says so)."""
    ok = table["risk"] <= bound * (1 + 1e-12) + 1e-12
    pool = table[ok] if ok.any() else table.nsmallest(1, "risk")
    best = pool.sort_values(["cost_total", "risk"]).iloc[0]
    return str(best["candidate"]), ok


def plan_section(s: Scenario, where: str | Path) -> Any:
    """The scenario's `plan:` section; a UserError naming `where` when it has none."""
    if s.plan is None:
        raise UserError(f"{where}: no `plan:` section: it declares what may be bought "
                        "(see the README, 'Choosing a plan')")
    return s.plan


@dataclass
class _Planning:
    """What every phase of one `plan()` call reads: the scenario, its decisions and worlds, the
    settings in force, where runs go, and the running counts and timings."""

    s: Scenario
    source: Path | None
    decisions: list[Decision]
    worlds: list[World]
    risk: Risk
    policy: str
    reps: int
    check_reps: int
    n_candidates: int
    step_h: float
    levels: int
    run_options: dict[str, Any]
    progress: Progress | None
    say: Callable[[str], None]
    counts: dict[str, int] = field(default_factory=lambda: {"simulated": 0, "reused": 0})
    timings: dict[str, float] = field(default_factory=dict)
    samples: list[Any] = field(default_factory=list)

    @property
    def weights(self) -> dict[str, float]:
        return {w.name: w.weight for w in self.worlds}

    @property
    def alpha(self) -> float:
        """The CVaR level the fast model trades off (0.95 when the risk is not a CVaR)."""
        return self.risk.level if self.risk.kind == "cvar" else 0.95

    def predict(self, choice: dict[str, float]) -> Any:
        """The fast model's figures for `choice` over the proposal samples."""
        from sim.planning.fluid import RiskSpec, evaluate

        return evaluate(self.decisions, self.samples, choice, step_h=self.step_h,
                        risk=RiskSpec(alpha=self.alpha), levels=self.levels)

    def engine(self, candidates: list[Candidate], phase: int, offset: int,
               total: int) -> list[dict[str, Any]]:
        """Engine runs of `candidates` in `phase` (rows of runs.csv), progress from `offset`."""
        return _engine_runs(self.worlds, self.decisions, candidates, self.policy, phase,
                            self.check_reps, self.run_options, self.progress, offset, total,
                            self.counts)


def plan(scenario: str | Path | Scenario, *, source: str | Path | None = None,
         portfolio: str | Path | None = None,
         risk: str | Risk | None = None, policy: str | None = None,
         replications: int | None = None, check_replications: int | None = None,
         candidates: int | None = None, workers: int | None = None,
         store_dir: str | Path | None = None, fresh: bool = False, dask: str | None = None,
         progress: Progress | None = None, on_skip: Callable[[int], None] | None = None,
         log: Callable[[str], None] | None = None) -> PlanResult:
    """Choose the purchases of `scenario`'s `plan:` section: lowest expected cost_total within
    the risk bound, proposed by the fluid model and checked by the engine (see module docstring).

    `risk`: "none", "cvar:0.95" (bound: the hand plan's CVaR), "cvar:0.95<=2.1e10" or
    "shortfall:0.01"; default the section's. Other arguments override the section's settings;
    `store_dir` keeps finished engine runs so that a second call resumes (default
    results/<scenario>/runs). A scenario already loaded is given with the file it came from as
    `source` (for plan.yaml and the worlds' line numbers), so it is not read twice.
    """
    ctx = _setup(scenario, source, portfolio, risk, policy, replications, check_replications,
                 candidates, workers, store_dir, fresh, dask, progress, on_skip, log)
    t0 = time.perf_counter()
    proposed = _propose(ctx)
    moves = _moves(ctx, proposed)
    chosen_set = _dedupe([*proposed[:ctx.n_candidates + 1], *moves])  # hand, proposals, moves
    rows = _check(ctx, chosen_set, moves)
    runs = pd.DataFrame(rows)
    table, chosen, bound = _choose_plan(ctx, runs, chosen_set)
    alternatives = near_optimal(table, {c.label: c.choice for c in chosen_set}, ctx.decisions,
                                chosen)
    eval_runs = _evaluate(ctx, [c for c in chosen_set if c.label in {chosen, "hand"}], len(rows))
    hindsight, ws_predicted, ws_runs = _hindsight(ctx, runs, chosen_set,
                                                  len(rows) + len(eval_runs))
    mean_plan, ev_runs = _mean_world(ctx, len(rows) + len(eval_runs) + len(ws_runs))
    evaluation = _evaluation(pd.concat([eval_runs, ws_runs, ev_runs], ignore_index=True), chosen,
                             ctx.risk, ctx.weights)
    runs = pd.concat([runs, eval_runs, ws_runs, ev_runs], ignore_index=True)
    ctx.timings["total_s"] = time.perf_counter() - t0
    settings = {"replications": ctx.reps, "check_replications": ctx.check_reps,
                "candidates": ctx.n_candidates, "proposal_step_h": ctx.step_h,
                "proposal_levels": ctx.levels,
                "check_seeds": {w.name: phase_seed(w.scenario.seed, PHASE_CHECK)
                                for w in ctx.worlds},
                "evaluation_seeds": {w.name: phase_seed(w.scenario.seed, PHASE_EVALUATE)
                                     for w in ctx.worlds},
                "proposal_seeds": {w.name: w.scenario.seed for w in ctx.worlds}}
    return PlanResult(ctx.s, ctx.source, ctx.decisions, ctx.worlds, ctx.risk, ctx.policy,
                      chosen_set, runs, table, chosen, bound, evaluation, ctx.timings, settings,
                      ctx.counts["simulated"], ctx.counts["reused"], hindsight, ws_predicted,
                      mean_plan, alternatives)


def _setup(scenario: str | Path | Scenario, source: str | Path | None,
           portfolio: str | Path | None, risk: str | Risk | None, policy: str | None,
           replications: int | None, check_replications: int | None, candidates: int | None,
           workers: int | None, store_dir: str | Path | None, fresh: bool, dask: str | None,
           progress: Progress | None, on_skip: Callable[[int], None] | None,
           log: Callable[[str], None] | None) -> _Planning:
    """The scenario loaded once, its section's settings overridden by the arguments, the
    decisions and worlds built."""
    from sim.api import load
    from sim.policies import policy_names
    from sim.runner import default_store

    where = Path(source) if source is not None else (
        None if isinstance(scenario, Scenario) else Path(scenario))
    s = load(scenario)
    section = plan_section(s, where or s.name)
    risk_spec = parse_risk(risk) if isinstance(risk, str) else (risk or section.parsed_risk)
    policy = policy or section.policy or s.policy.default
    if policy not in policy_names():
        raise UserError(f"--policy: unknown policy {policy!r} (known: {', '.join(policy_names())})")
    run_options: dict[str, Any] = {"workers": workers, "fresh": fresh, "dask": dask,
                                   "on_skip": on_skip,
                                   "store_dir": store_dir if store_dir is not None
                                   else default_store(s)}
    return _Planning(
        s, where, decision_space(s), plan_worlds(s, where, Path(portfolio) if portfolio else None),
        risk_spec, policy, replications or section.replications,
        check_replications or section.check_replications, candidates or section.candidates,
        section.proposal.step if section.proposal is not None else 24.0,
        section.proposal.levels if section.proposal is not None else 1,
        run_options, progress, log or (lambda _msg: None))


def _propose(ctx: _Planning) -> list[Candidate]:
    """Phase 1: the hand plan and the fast model's proposals, cheapest expected cost first."""
    from sim.planning.fluid import RiskSpec, propose

    t0 = time.perf_counter()
    ctx.samples = _samples(ctx.decisions, ctx.worlds, ctx.reps)
    ctx.timings["proposal_compile_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    proposals = propose(ctx.decisions, ctx.samples, risk=RiskSpec(alpha=ctx.alpha),
                        step_h=ctx.step_h, levels=ctx.levels)
    hand = hand_choice(ctx.decisions)
    hand_pred = ctx.predict(hand)
    ctx.timings["proposal_solve_s"] = time.perf_counter() - t1
    ctx.say(f"proposal: {len(proposals)} plan(s) from the fast model over {len(ctx.samples)} "
            f"samples in {ctx.timings['proposal_compile_s'] + ctx.timings['proposal_solve_s']:.1f} s")
    ranked = sorted(proposals, key=lambda p: p.expected["cost_total"])
    return _dedupe([Candidate("hand", hand, hand_pred, note="what the file buys"),
                    *(Candidate(f"fluid-{i + 1}", p.choice, p, note=f"fast model, {p.label}")
                      for i, p in enumerate(ranked))])


def _moves(ctx: _Planning, proposed: list[Candidate]) -> list[Candidate]:
    """The best proposal's changes to the hand plan, one decision at a time: the fast model
    knows nothing of gangs, queues or the policy's rankings, so the engine says which of its
    directions hold (and the check combines those that do)."""
    hand = proposed[0].choice
    best = next((c for c in proposed if c.label != "hand"), None)
    moves: list[Candidate] = []
    for d in ctx.decisions if best is not None else []:
        if best is not None and best.choice[d.key] != hand[d.key]:
            moves.append(Candidate(f"move-{len(moves) + 1}", {**hand, d.key: best.choice[d.key]},
                                   note=f"{d.key}: {hand[d.key]:g} -> {best.choice[d.key]:g}"))
    return moves


def _check(ctx: _Planning, chosen_set: list[Candidate], moves: list[Candidate]
           ) -> list[dict[str, Any]]:
    """Phase 2: every candidate through the engine on the check seed; then the moves that
    lowered cost_total against the hand plan (paired), all together (added to `chosen_set`)."""
    hand = chosen_set[0].choice
    total = len(ctx.worlds) * ctx.check_reps * (len(chosen_set) + 2)
    t0 = time.perf_counter()
    rows = ctx.engine(chosen_set, PHASE_CHECK, 0, total)
    runs = pd.DataFrame(rows)
    better = [m for m in moves if m in chosen_set
              and _paired(runs, m.label, "hand", "cost_total", ctx.weights).mean < 0]
    if len(better) > 1:
        combined = Candidate("moves", {**hand, **{k: v for m in better for k, v in m.choice.items()
                                                 if v != hand[k]}},
                             note="the moves that lowered cost: " +
                                  ", ".join(m.label for m in better))
        if _dedupe([*chosen_set, combined])[-1] is combined:
            chosen_set.append(combined)
            total += len(ctx.worlds) * ctx.check_reps
            rows += ctx.engine([combined], PHASE_CHECK, len(rows), total)
    ctx.timings["engine_check_s"] = time.perf_counter() - t0
    return rows


def _choose_plan(ctx: _Planning, runs: pd.DataFrame, chosen_set: list[Candidate]
                 ) -> tuple[pd.DataFrame, str, float]:
    """Phase 3: the candidates' table, the lowest expected cost within the risk bound, and each
    candidate's paired difference to it."""
    table = _summarise(runs, chosen_set, ctx.risk, ctx.weights)
    hand_risk = float(table.loc[table["candidate"] == "hand", "risk"].iloc[0])
    bound = ctx.risk.bound if ctx.risk.bound is not None else (
        hand_risk if ctx.risk.kind != "none" else math.inf)
    chosen, within = _choose(table, bound)
    table["within_bound"] = within.to_numpy()
    for label in table["candidate"]:
        ci = _paired(runs, str(label), chosen, "cost_total", ctx.weights)
        table.loc[table["candidate"] == label, ["vs_chosen", "vs_chosen_low", "vs_chosen_high"]] = \
            [ci.mean, ci.low, ci.high]
    if not within.any():
        ctx.say(f"no candidate is within the risk bound {bound:.4g}; kept the least risky")
    pick = next(c for c in chosen_set if c.label == chosen)
    if pick.predicted is None:  # a move: the fast model's figure, for its error on the choice
        t0 = time.perf_counter()
        pick.predicted = ctx.predict(pick.choice)
        ctx.timings["proposal_solve_s"] += time.perf_counter() - t0
        table.loc[table["candidate"] == chosen, "predicted_cost_total"] = \
            pick.predicted.expected["cost_total"]
    return table, chosen, bound


def _evaluate(ctx: _Planning, final: list[Candidate], done: int) -> pd.DataFrame:
    """Phase 4: the chosen and the hand plan again, on seeds neither proposal nor choice saw."""
    t0 = time.perf_counter()
    total = done + len(ctx.worlds) * ctx.check_reps * len(final)
    rows = ctx.engine(final, PHASE_EVALUATE, done, total)
    ctx.timings["engine_evaluate_s"] = time.perf_counter() - t0
    return pd.DataFrame(rows)


WAIT_AND_SEE = "wait-and-see"
"""The label of the runs where each world holds the plan made for it with hindsight."""


def _hindsight(ctx: _Planning, checked: pd.DataFrame, candidates: list[Candidate], done: int
               ) -> tuple[dict[str, dict[str, float]], float, pd.DataFrame]:
    """Phase 5, wait-and-see: each world planned as if it were known to come. The fast model
    plans it from its own samples (expected cost, no risk term); that plan runs in the world on
    the check seeds beside every checked candidate, and the cheapest there becomes the world's
    plan, run again on the evaluation seeds. So WS is an engine figure paired with the chosen
    plan's, and (the best plan per world being at least this good) RP − WS is a lower bound
    on EVPI. Returns the per-world plans, the fast model's own WS and the engine rows."""
    from sim.planning.fluid import propose
    from sim.planning.fluid_inputs import Sample

    t0 = time.perf_counter()
    plans: dict[str, dict[str, float]] = {}
    predicted = 0.0
    rows: list[dict[str, Any]] = []
    total = done + 2 * len(ctx.worlds) * ctx.check_reps
    for w in ctx.worlds:
        own = [Sample(x.compiled, x.weight / w.weight, x.world) for x in ctx.samples
               if x.world == w.name]
        best = min(propose(ctx.decisions, own, lambdas=(0.0,), shortfall_weights=(1.0,),
                           step_h=ctx.step_h, levels=ctx.levels),
                   key=lambda r: r.expected["cost_total"])
        predicted += w.weight * best.expected["cost_total"]
        fast = Candidate("hindsight", best.choice)
        trial = pd.DataFrame(_engine_runs([w], ctx.decisions, [fast], ctx.policy, PHASE_CHECK,
                                          ctx.check_reps, ctx.run_options, ctx.progress,
                                          done, total, ctx.counts))
        done += ctx.check_reps
        mine = pd.concat([checked[checked["world"] == w.name], trial], ignore_index=True)
        means = mine.groupby("candidate")["cost_total"].mean()
        by_label = {c.label: c for c in [*candidates, fast]}
        pick = by_label[str(means.idxmin())]
        plans[w.name] = pick.choice
        rows += _engine_runs([w], ctx.decisions, [Candidate(WAIT_AND_SEE, pick.choice)],
                             ctx.policy, PHASE_EVALUATE, ctx.check_reps, ctx.run_options,
                             ctx.progress, done, total, ctx.counts)
        done += ctx.check_reps
    ctx.timings["hindsight_s"] = time.perf_counter() - t0
    return plans, predicted, pd.DataFrame(rows)


MEAN_WORLD = "mean-world"
"""The label of the runs of the plan made for the mean world (EEV)."""


def _mean_world(ctx: _Planning, done: int) -> tuple[dict[str, float], pd.DataFrame]:
    """Phase 6, the expected-value plan: the fast model plans for one mean world (every random
    input at its weighted mean over the worlds' samples, `mean_inputs`), and that plan runs in
    every world on the evaluation seeds: EEV, and VSS = EEV − RP (paired), what planning for
    the spread of worlds rather than their average is worth."""
    from sim.planning.fluid import propose

    t0 = time.perf_counter()
    levels = ctx.levels
    try:
        found = propose(ctx.decisions, ctx.samples, lambdas=(0.0,), shortfall_weights=(1.0,),
                        step_h=ctx.step_h, levels=levels, mean_world=True)
    except ValueError:  # load levels differ between samples: the mean sample needs one level
        found = propose(ctx.decisions, ctx.samples, lambdas=(0.0,), shortfall_weights=(1.0,),
                        step_h=ctx.step_h, levels=1, mean_world=True)
    plan = min(found, key=lambda r: r.expected["cost_total"]).choice
    total = done + len(ctx.worlds) * ctx.check_reps
    rows = ctx.engine([Candidate(MEAN_WORLD, plan)], PHASE_EVALUATE, done, total)
    ctx.timings["mean_world_s"] = time.perf_counter() - t0
    return plan, pd.DataFrame(rows)


def _evaluation(runs: pd.DataFrame, chosen: str, risk: Risk,
                weights: dict[str, float]) -> pd.DataFrame:
    """Chosen vs hand on the evaluation seeds: each figure's expected value per plan and the
    paired difference chosen − hand, with 95% intervals; and, where the runs hold them, the
    wait-and-see plans' expected cost (WS) and EVPI = chosen − wait-and-see (paired)."""
    rows = []
    for part in (*COST_PARTS, "miss_share"):
        for plan_name, label in (("hand", "hand"), ("chosen", chosen)):
            ci = weighted_mean_ci(_by_world(runs[runs["candidate"] == label], part), weights)
            rows.append({"figure": part, "plan": plan_name,
                         "mean": ci.mean, "low": ci.low, "high": ci.high})
        if chosen != "hand":
            d = _paired(runs, chosen, "hand", part, weights)
            rows.append({"figure": part, "plan": "chosen - hand", "mean": d.mean, "low": d.low,
                         "high": d.high})
    # WS and EVPI (chosen − wait-and-see), EEV and VSS (mean-world − chosen), where run
    for extra, (a, a_name), (b, b_name) in (
            (WAIT_AND_SEE, (chosen, "chosen"), (WAIT_AND_SEE, WAIT_AND_SEE)),
            (MEAN_WORLD, (MEAN_WORLD, MEAN_WORLD), (chosen, "chosen"))):
        if not (runs["candidate"] == extra).any():
            continue
        ci = weighted_mean_ci(_by_world(runs[runs["candidate"] == extra], "cost_total"), weights)
        d = _paired(runs, a, b, "cost_total", weights)
        rows += [{"figure": "cost_total", "plan": extra, "mean": ci.mean, "low": ci.low,
                  "high": ci.high},
                 {"figure": "cost_total", "plan": f"{a_name} - {b_name}", "mean": d.mean,
                  "low": d.low, "high": d.high}]
    for plan_name, label in (("hand", "hand"), ("chosen", chosen)):
        rows.append({"figure": "risk", "plan": plan_name,
                     "mean": _risk_of(runs[runs["candidate"] == label], risk),
                     "low": math.nan, "high": math.nan})
    return pd.DataFrame(rows)
