"""Imported gates: Argo Rollouts analyses, Flagger canaries and Kayenta canary analyses, judged with their
controllers' semantics.

A team's own gate files become a plan whose ``argo:``, ``flagger:`` or ``kayenta:`` section keeps the gate as
written, and an engine (:class:`rampsim.engine.Engine`) that runs it the way the controller
would: measurements and ticks at their own times, PromQL answered by an injected query source,
conditions evaluated by a safe expr-lang evaluator. The specification is the real-gates README
(``../shared/real-gates/README.md``, rules A1–A6 and F1–F5).

Modules, one noun each:

* reading files: :mod:`~rampsim.gates.manifests` (multi-document YAML, Helm refused),
  :mod:`~rampsim.gates.unrendered` (Helm chart templates and Kustomization patches, read leniently for lint),
  :mod:`~rampsim.gates.goduration`, :mod:`~rampsim.gates.refusals`;
* Argo: :mod:`~rampsim.gates.exprlang` (conditions), :mod:`~rampsim.gates.argo_model` (the
  section), :mod:`~rampsim.gates.argo_import`, :mod:`~rampsim.gates.series_names` (the names the
  simulated series carry: identity and arg placeholders), :mod:`~rampsim.gates.argo_resolve` (args, A6),
  :mod:`~rampsim.gates.argo_analysis` (A1–A4), :mod:`~rampsim.gates.argo_rollout` (A5),
  :mod:`~rampsim.gates.argo_engine`; for sweeps, :mod:`~rampsim.gates.argo_batch` (a whole run's
  verdict at once, exact to the engine's) and :mod:`~rampsim.gates.exprlang_batch` (conditions on arrays);
* Flagger: :mod:`~rampsim.gates.flagger_model`, :mod:`~rampsim.gates.flagger_import`,
  :mod:`~rampsim.gates.flagger_queries` (builtins per mesh, rendering), :mod:`~rampsim.gates.flagger_canary`
  (F1–F4), :mod:`~rampsim.gates.flagger_engine`;
* Kayenta: :mod:`~rampsim.gates.kayenta_model` (the section: the canary config and the stage that runs it),
  :mod:`~rampsim.gates.kayenta_import` (a canary config and its Spinnaker stage read, located errors),
  :mod:`~rampsim.gates.kayenta_queries` (the PromQL a metric sends for each scope, as Kayenta builds it),
  :mod:`~rampsim.gates.kayenta_engine` (judged as Spinnaker's ``kayentaCanary`` stage judges),
  :mod:`~rampsim.gates.kayenta_export` (back to the canary config and the stage);
* plans: :mod:`~rampsim.gates.imported_plan` (phases, defaulted SLO and traffic),
  :mod:`~rampsim.gates.plan_sections` (the sections, located errors), :mod:`~rampsim.gates.engines`
  (the engine for a plan), :mod:`~rampsim.gates.applied_weight` (the weight in force, which the Argo and Flagger
  engines restate theirs against), :mod:`~rampsim.gates.queries` (the query source), :mod:`~rampsim.gates.profiles`;
* tools: :mod:`~rampsim.gates.lint` (hazards; their consequences on simulated ramps are measured in
  :mod:`rampsim.experiment.lint_rehearsals`), :mod:`~rampsim.gates.export` (back to Argo or Flagger files),
  :mod:`~rampsim.gates.yamlout`.
"""
