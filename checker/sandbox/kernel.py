"""Notebook kernels in a jail: the kernel manager autograde uses to run student notebooks.

:class:`JailedKernelManager` is jupyter_client's ``AsyncKernelManager`` with three changes:
the kernel's command runs through :mod:`checker.sandbox.jail` (so the kernel confines itself
before ipykernel starts, while it has a single thread); the kernel talks to its client over
the IPC transport, through UNIX sockets in the jail's scratch folder (inside the jail's
empty network nothing else could reach it); and the scratch folder goes when the kernel does.
"""
from __future__ import annotations

import asyncio
import os
import sys

from jupyter_client.manager import AsyncKernelManager

from checker.sandbox import ipython_guard, jail, template

# no debugger warning about frozen modules on stderr; JPY_PARENT_PID=1: the jail's pid 1 is the parent, and
# ipykernel neither polls for it (it kills the kernel when its parent dies) nor prints its console banner
KERNEL_ENV = {"PYDEVD_DISABLE_FILE_VALIDATION": "1", "JPY_PARENT_PID": "1"}


def jailed_command(box: jail.Jail, cmd: list[str]) -> list[str]:
    """``cmd`` (a kernelspec's argv, formatted) run inside ``box``."""
    if cmd and os.path.realpath(cmd[0]) == os.path.realpath(sys.executable):
        for i, arg in enumerate(cmd[1:], 1):
            if arg in ("-m", "-c"):
                return box.command(cmd[i:], python_options=cmd[1:i])
    return box.command(["-x", *cmd])


def _ipykernel_argv(cmd: list[str]) -> list[str] | None:
    """The arguments of ``python -m ipykernel_launcher ARGS`` (this Python), which a template can fork; else None."""
    if len(cmd) >= 3 and os.path.realpath(cmd[0]) == os.path.realpath(sys.executable) and \
            cmd[1:3] == ["-m", template.KERNEL_MODULE]:
        return cmd[3:]
    return None


# the jupyter_client versions whose private launch the template path was tested with (pyproject.toml's range)
TESTED_JUPYTER_CLIENT = ((8, 6), (8, 11))


def template_launch_supported(version: str | None = None) -> bool:
    """Forking a kernel from the template fills in jupyter_client's private launch (the provisioner's process,
    ``_reconcile_connection_info``): only on the versions it was tested with; elsewhere every kernel is started
    afresh (confined all the same, only slower)."""
    import jupyter_client

    try:
        found = tuple(int(part) for part in (version or jupyter_client.__version__).split(".")[:2])
    except ValueError:
        return False
    low, high = TESTED_JUPYTER_CLIENT
    return low <= found < high and hasattr(AsyncKernelManager, "_reconcile_connection_info")


class JailedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run confined, one fresh jail per kernel."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.jail = jail.Jail(extra_env=KERNEL_ENV, tcp="loopback")
        ipython_guard.install(self.jail.env["IPYTHONDIR"])  # a cell too deep to parse is an error, not a hang
        self.transport = "ipc"
        self.connection_file = os.path.join(self.jail.scratch, "kernel.json")
        self.ip = os.path.join(self.jail.scratch, "k")

    @property
    def layers(self) -> jail.Layers:
        return self.jail.layers

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        spec_env = dict(self.kernel_spec.env) if self.kernel_spec is not None else {}
        self.jail.env.update(jail.clean_env(spec_env, {}))
        plain = super().format_kernel_cmd(extra_arguments)
        self._kernel_argv = _ipykernel_argv(plain)
        return jailed_command(self.jail, plain)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        """A kernel forked from the class's template when there is one (torch already imported), else
        the jailed command started afresh. Either way the kernel confines itself before it starts."""
        argv = getattr(self, "_kernel_argv", None)
        if argv is not None and template.address() is not None and template_launch_supported():
            try:
                process = template.fork_kernel(self.jail.policy(), argv)
            except template.TemplateUnavailable:
                process = None
            if process is not None:
                provisioner = self.provisioner
                provisioner.process, provisioner.pid, provisioner.pgid = process, process.pid, process.pid
                self._reconcile_connection_info(provisioner.connection_info)
                return
        await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            await asyncio.get_running_loop().run_in_executor(None, self.jail.cleanup)

    cleanup_resources = _async_cleanup_resources
