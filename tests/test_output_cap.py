"""A kernel's output is cut as it arrives in the grader: one that prints without end never grows nbgrader's worker."""
from __future__ import annotations

import nbformat


def test_a_kernel_printing_without_end_is_cut_as_its_output_arrives():
    """The grader's executor keeps at most OUTPUT_KEPT_BYTES of a cell's output, whatever the kernel sends."""
    from instructor.grading.verdicts import OUTPUT_DROPPED, OUTPUT_KEPT_BYTES, ResilientExecute

    executor = ResilientExecute()
    executor.nb = nbformat.v4.new_notebook()
    executor.reset_execution_trackers()  # what nbclient does before it runs a notebook
    executor.clear_before_next_output = False  # and before each cell
    outs: list = []
    chunk = "x" * 2**16
    sent = 0
    for i in range(200):  # 12.5 MiB of prints
        msg = {"msg_type": "stream", "parent_header": {"msg_id": "m"}, "header": {"msg_type": "stream"},
               "content": {"name": "stdout", "text": chunk}}
        executor.output(outs, msg, None, 3)
        sent += len(chunk)
    kept = sum(len(o.get("text", "")) for o in outs)
    assert kept <= OUTPUT_KEPT_BYTES + 200, kept
    assert outs[-1]["text"] == OUTPUT_DROPPED.format(bytes=sent - (OUTPUT_KEPT_BYTES // len(chunk)) * len(chunk)) + "\n"
    assert sent > 5 * OUTPUT_KEPT_BYTES
