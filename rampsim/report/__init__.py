"""Reports of a rehearsal: checkpoint log, Markdown results, timeline chart, live dashboard.

The simulation knows nothing of these: they read a finished :class:`~rampsim.sim.Run`
or observe its scrapes.
"""
from rampsim.report.checklist import checkpoint_log, go_no_go, timeline, truth_comparison
from rampsim.report.markdown import markdown_report

__all__ = ["checkpoint_log", "go_no_go", "timeline", "truth_comparison", "markdown_report"]
