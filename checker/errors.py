"""Typed errors of the checker.

Each error subclasses a built-in as well (so ``except ValueError`` still works), keeps
its facts in fields, formats its message from a module constant, and pickles cleanly
so that it can cross a process boundary.
"""
from __future__ import annotations

UNREADABLE = "cannot read {path} as a notebook or Python file: {reason}"
UNKNOWN_NOTEBOOK = (
    "cannot tell which lesson notebook {path} answers: its name is not one of {known}; "
    "pass --notebook NAME"
)
KERNEL_NOTEBOOK_UNKNOWN = (
    "cannot tell which lesson notebook this kernel runs; pass notebook= one of {known}"
)
UNKNOWN_EXERCISE = "no exercise named {name!r} in {notebook}; its exercises are: {known}"
PROBE_TIMEOUT = "stopped after {seconds:.1f} s, the time limit for {what}: an endless loop, or far too slow?"
CHILD_DIED = "the process running your code died {how} while {what}"
PROTOCOL_BROKEN = "the process running your code sent an unreadable answer ({reason})"


def _named_templates() -> None:
    """The templates above know their names, as checker.messages' do (a feedback line knows its kind)."""
    from checker.messages import Message

    for name, value in list(globals().items()):
        if name.isupper() and type(value) is str:
            globals()[name] = Message(value, name)


_named_templates()


class CheckerError(Exception):
    """Base of every error the checker raises on purpose."""

    template = "{}"
    fields: tuple[str, ...] = ()

    def __init__(self, **facts):
        for name in self.fields:
            setattr(self, name, facts.get(name))
        super().__init__(self.template.format(**facts))

    def __reduce__(self):
        return (_rebuild, (type(self), {name: getattr(self, name) for name in self.fields}))


def _rebuild(cls, facts):
    return cls(**facts)


class SubmissionUnreadable(CheckerError, ValueError):
    template = UNREADABLE
    fields = ("path", "reason")


class CodeTooLarge(SubmissionUnreadable):
    """Readable, but more code than the checker reads (checker.submission.MAX_CODE_BYTES, MAX_CODE_LINES)."""


class UnknownNotebook(CheckerError, ValueError):
    template = UNKNOWN_NOTEBOOK
    fields = ("path", "known")


class KernelNotebookUnknown(CheckerError, ValueError):
    template = KERNEL_NOTEBOOK_UNKNOWN
    fields = ("known",)


class UnknownExercise(CheckerError, KeyError):
    template = UNKNOWN_EXERCISE
    fields = ("name", "notebook", "known")

    def __str__(self):  # KeyError would otherwise add quotes around the message
        return self.args[0]


class ProbeTimeout(CheckerError, TimeoutError):
    template = PROBE_TIMEOUT
    fields = ("seconds", "what")


class ChildDied(CheckerError, RuntimeError):
    template = CHILD_DIED
    fields = ("how", "what")


class ProtocolBroken(CheckerError, RuntimeError):
    template = PROTOCOL_BROKEN
    fields = ("reason",)
