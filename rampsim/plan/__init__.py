"""Plans: phases, checkpoints, rules, the final gate and the SLO, read from YAML."""
from rampsim.plan.loader import PlanError, load_plan, plan_from_data, plan_from_text, with_overrides
from rampsim.plan.schema import (
    SLO, Actions, Checkpoint, Criterion, FinalGate, Measure, Metric, Objective, Op, Phase, Plan, Rule,
    Window, WindowKind,
)

__all__ = [
    "PlanError", "load_plan", "plan_from_text", "plan_from_data", "with_overrides", "Plan", "Phase", "Checkpoint", "FinalGate",
    "Criterion", "Rule", "Objective", "Measure", "Metric", "Op", "Window", "WindowKind", "Actions", "SLO",
]
