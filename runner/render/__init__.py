"""Render a `Spec` into the `Desired` state: globs, fan-out, the steps' DAG, templates,
IDs, shell wrapping, fingerprints.

Pure apart from reading the local files to upload (their size and MD5). Problems are
collected and raised together as one `SpecError`, located at the spec key or value
that produced them: globs that match nothing or reach outside the directories a spec
may read (`runner.paths`), undefined template variables, templates the sandbox refuses
(`runner.sandbox`), rendered IDs or blob names that break Azure's rules, task IDs that
collide within or across steps, paths that climb out of a task or a container.
"""

from runner.render.desired import render

__all__ = ["render"]
