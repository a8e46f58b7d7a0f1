"""placer: placement optimizer and deployment scheduler for GPU datacenters.

The domain lives here: input schemas (:mod:`placer.scenario`), the plan
(:mod:`placer.plan`), the independent verifier (:mod:`placer.verify`), file I/O
(:mod:`placer.io`), the CLI (:mod:`placer.cli`) and logging (:mod:`placer.logs`).
Solvers live in the separate ``solvers`` package; the verifier never imports it.
"""

__version__ = "0.1.0"  # the one version source: pyproject reads it, `placer --version` prints it

from placer import logs as _logs  # noqa: E402

_logs.default_to_stderr()
