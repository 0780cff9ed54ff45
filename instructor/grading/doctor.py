"""``python -m instructor doctor``: which confinement layers this machine gives student code, proven by trying.

It reports the layers (Landlock ABI, namespaces, process cap), then starts a real confined
checker child and a real confined kernel and has each try to read ``nbgrader_config.py``
(which holds the hidden seed): both must be refused.
"""
from __future__ import annotations

import time

from checker.sandbox import jail

PROBE = ("try:\n    open({config!r}).read()\n    print('READABLE')\nexcept OSError as exc:\n"
         "    print('refused:', type(exc).__name__)\n")
OK, PROBLEM = "ok", "PROBLEM"


def _child(config: str) -> tuple[bool, str]:
    from checker.sandbox.runner import Sandbox

    started = time.monotonic()
    with Sandbox([(0, PROBE.format(config=config))]) as box:
        report = box.load()[0]
    said = (report.output + (report.stopped or "")).strip()
    return "refused" in said, f"{said} ({time.monotonic() - started:.1f} s, torch imported)"


def _kernel(config: str) -> tuple[bool, str]:
    import nbformat
    from nbclient import NotebookClient

    from checker.sandbox.kernel import JailedKernelManager

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE.format(config=config))])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    started = time.monotonic()
    try:
        NotebookClient(nb, timeout=60, kernel_manager_class=JailedKernelManager, allow_errors=True,
                       shutdown_kernel="immediate").execute()
    except Exception as exc:  # noqa: BLE001 - the report says what went wrong
        return False, f"the confined kernel did not start: {type(exc).__name__}: {exc}"
    said = "".join(o.get("text", "") for o in nb.cells[0].outputs).strip()
    return "refused" in said, f"{said} ({time.monotonic() - started:.1f} s)"


def report(course_root) -> tuple[int, str]:
    layers = jail.available()
    lines = [f"sandbox: {layers.describe()}",
             f"  landlock:    {'ABI %d' % layers.landlock if layers.landlock else 'missing'}",
             f"  namespaces:  {'user, net, pid, mount, ipc' if layers.namespaces else 'missing'}",
             f"  process cap: {layers.process_cap or 'missing'}"]
    lines += [f"  why not:     {why}" for why in layers.why_not]
    config = str(course_root / "nbgrader_config.py")
    healthy = layers.full
    for name, probe in (("checker child", _child), ("notebook kernel", _kernel)):
        refused, said = probe(config)
        healthy = healthy and refused
        lines.append(f"{OK if refused else PROBLEM:>7}  the {name}, jailed, reading nbgrader_config.py: {said}")
    lines.append("all layers active; student code cannot read the course" if healthy else
                 f"grading works, but student code is not fully confined; set {jail.REQUIRE_ENV}=1 or "
                 "c.ResilientExecute.require_confinement = True to refuse to grade on this machine")
    return (0 if healthy else 1), "\n".join(lines)
