"""What a hostile student tries from a notebook cell, each attempt as a snippet of code.

Every snippet prints ``REFUSED <why>`` when the jail stops it and ``ALLOWED <what>`` when it
gets through. ``P`` (a dict of paths, ports and names the test prepares) is defined before
it runs. ``needs`` says which layer refuses it, so that a test on a machine without that
layer skips with the reason instead of passing or failing silently.
"""
from __future__ import annotations

import dataclasses
import json

from checker.sandbox.jail import Layers

REFUSED, ALLOWED = "REFUSED", "ALLOWED"


@dataclasses.dataclass(frozen=True)
class Attack:
    name: str
    code: str
    needs: str = "landlock"  # landlock | landlock-net | scope | namespaces | process-cap

    def missing_layer(self, layers: Layers) -> str | None:
        """Why this attack cannot be refused on a machine with ``layers`` (None: it must be)."""
        if self.needs == "landlock" and layers.landlock < 1:
            return "no Landlock on this machine"
        if self.needs == "landlock-net" and layers.landlock < 4 and not layers.namespaces:
            return "neither Landlock TCP rules (ABI 4) nor a network namespace"
        if self.needs == "scope" and layers.landlock < 6 and not layers.namespaces:
            return "neither Landlock scoping (ABI 6) nor namespaces"
        if self.needs == "namespaces" and not layers.namespaces:
            return "no unprivileged namespaces on this machine"
        if self.needs == "process-cap" and not layers.process_cap:
            return "no process cap (no writable pids cgroup; RLIMIT_NPROC does not bind root)"
        return None

    def cell(self, params: dict) -> str:
        return f"import json as _json\nP = _json.loads({json.dumps(params)!r})\n{self.code}"


def _try(action: str, what: str) -> str:
    return (f"try:\n    {action}\n    print({(ALLOWED + ' ' + what)!r})\n"
            f"except (OSError, ImportError) as exc:\n    print('{REFUSED}', type(exc).__name__, exc)\n")


def _write(path_expr: str, what: str) -> str:
    return _try(f"open({path_expr}, 'w').write('pwned')", what)


def _read(path_expr: str, what: str) -> str:
    return _try(f"import os; p = {path_expr}; print(os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read(20))",
                what)


NO_PROCESS = "no process started:"  # what the checker's child says when student code asks for one
ATTACKS = [
    Attack("import_solutions", _try("import solutions.matmul", "import solutions")),
    Attack("import_solutions_from_course_root",
           _try("import sys; sys.path.insert(0, P['course']); import solutions.matmul", "import solutions by path")),
    Attack("write_checker_package", _write("P['checker'] + '/pwned.py'", "write into checker/")),
    Attack("write_site_packages_pth", _write("P['site'] + '/pwned.pth'", "write a .pth")),
    Attack("write_sitecustomize", _write("P['site'] + '/sitecustomize.py'", "write sitecustomize.py")),
    Attack("write_course_root", _write("P['course'] + '/pwned.txt'", "write into the course root")),
    Attack("write_home", _write("P['home'] + '/pwned.txt'", "write into the grader's home")),
    Attack("write_var_tmp", _write("'/var/tmp/foundations-pwned.txt'", "write into /var/tmp")),
    Attack("read_solutions", _read("P['course'] + '/solutions/matmul.py'", "read solutions/")),
    Attack("read_source", _read("P['course'] + '/source/foundations'", "read source/")),
    Attack("read_config", _read("P['course'] + '/nbgrader_config.py'", "read nbgrader_config.py")),
    Attack("read_gradebook", _read("P['gradebook']", "read the gradebook")),
    Attack("read_other_student", _read("P['other_student']", "read another student's submission")),
    Attack("read_grader_environ", _read("'/proc/%d/environ' % P['grader_pid']", "read the grader's environment")),
    Attack("symlink_to_secret", _try("import os; os.symlink(P['course'] + '/solutions/matmul.py', 'link.py'); "
                                     "print(open('link.py').read(20))", "read a secret through a symlink")),
    Attack("tcp_to_listener", _try("import socket; s = socket.create_connection(('127.0.0.1', P['tcp_port']), 2); "
                                   "s.sendall(b'pwned')", "TCP to the grader's machine"), needs="landlock-net"),
    Attack("udp_out", _try("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                           "s.sendto(b'pwned', ('127.0.0.1', P['udp_port']))", "UDP out"), needs="namespaces"),
    Attack("abstract_unix_socket", _try("import socket; s = socket.socket(socket.AF_UNIX); s.settimeout(2); "
                                        "s.connect('\\0' + P['abstract']); s.sendall(b'pwned')",
                                        "an abstract UNIX socket outside the jail"), needs="scope"),
    Attack("signal_grader", _try("import os, signal; os.kill(P['grader_pid'], signal.SIGUSR1)", "signal the grader"),
           needs="scope"),
    Attack("setsid_daemon", "import os, time\n"
           "try:\n"
           "    pid = os.fork()\n"
           "except RuntimeError as exc:  # the checker's child starts no process for student code at all\n"
           f"    print('{NO_PROCESS}', exc)\n"
           "else:\n"
           "    if pid == 0:\n"
           "        os.setsid()\n"
           "        if os.fork() == 0:\n"
           "            os.execvp('sleep', ['sleep', P['daemon_token']])\n"
           "        os._exit(0)\n"
           "    os.waitpid(pid, 0)\n"
           "    print('started a daemon: the test checks that it died with the jail')\n", needs="namespaces"),
    Attack("fork_bomb", "import os, time\n"
           "children = []\n"
           "try:\n"
           "    for _ in range(P['bomb']):\n"
           "        pid = os.fork()\n"
           "        if pid == 0:\n"
           "            time.sleep(30)\n"
           "            os._exit(0)\n"
           "        children.append(pid)\n"
           f"    print('{ALLOWED}', len(children), 'processes')\n"
           "except (OSError, RuntimeError) as exc:  # the process cap; in the checker's child, the tripwire first\n"
           f"    print('{REFUSED} after', len(children), 'processes:', exc)\n"
           "for pid in children:\n"
           "    os.kill(pid, 9)\n"
           "    os.waitpid(pid, 0)\n", needs="process-cap"),
    # files under the per-file cap, many of them: the whole jail's files are capped (a tmpfs), not each one
    Attack("fill_scratch", "import os\n"
           "written = []\n"
           "try:\n"
           "    while 32 * 2**20 * len(written) < P['scratch_fill']:\n"
           "        name = f'fill{len(written)}.bin'\n"
           "        with open(name, 'wb') as f:\n"
           "            f.write(bytes(32 * 2**20))\n"
           "        written.append(name)\n"
           f"    print('{ALLOWED}', len(written) * 32, 'MiB in the working folder')\n"
           "except OSError as exc:\n"
           f"    print('{REFUSED} after', len(written) * 32, 'MiB:', exc)\n"
           "for name in written + [f'fill{len(written)}.bin']:\n"
           "    if os.path.exists(name):\n"
           "        os.remove(name)\n", needs="namespaces"),
    # machine code written to the working folder and mapped executable (what loading a shared library does)
    Attack("map_written_code_executable", "import mmap\n"
           "with open('code.bin', 'wb') as f:\n"
           "    f.write(bytes(4096))\n"
           "try:\n"
           "    with open('code.bin', 'rb') as f:\n"
           "        mmap.mmap(f.fileno(), 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC).close()\n"
           f"    print('{ALLOWED}', 'code from the working folder mapped executable')\n"
           "except OSError as exc:\n"
           f"    print('{REFUSED}', exc)\n", needs="namespaces"),
    Attack("write_beside_the_working_folder", _write("'../pwned.txt'", "write beside the working folder")),
]
BY_NAME = {a.name: a for a in ATTACKS}
