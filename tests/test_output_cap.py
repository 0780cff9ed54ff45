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


def _executor():
    from instructor.grading.verdicts import ResilientExecute

    executor = ResilientExecute()
    executor.nb = nbformat.v4.new_notebook()
    executor.reset_execution_trackers()
    executor.clear_before_next_output = False
    return executor


def _message(kind: str, text: str) -> dict:
    content = {"name": "stdout", "text": text} if kind == "stream" else \
        {"ename": "ValueError", "evalue": text, "traceback": [text]}
    return {"msg_type": kind, "parent_header": {"msg_id": "m"}, "header": {"msg_type": kind}, "content": content}


def test_many_cells_each_under_the_cell_cap_are_cut_at_the_notebook_s_cap():
    """Forty cells of nearly 2 MiB each (attack round 17: an 84 MB feedback page, 0.9 GB in the grader) keep at
    most NOTEBOOK_OUTPUT_KEPT_BYTES in all, prints and errors alike; a short error is kept past it."""
    from instructor.grading.verdicts import NOTEBOOK_OUTPUT_DROPPED, NOTEBOOK_OUTPUT_KEPT_BYTES, OUTPUT_KEPT_BYTES

    executor = _executor()
    cells: dict[int, list] = {}
    big = "A" * (OUTPUT_KEPT_BYTES - 100)
    for cell in range(40):
        cells[cell] = []
        executor.output(cells[cell], _message("stream" if cell % 2 else "error", big), None, cell)
    kept = sum(len(o.get("text", "")) + len(str(o.get("traceback", ""))) for outs in cells.values() for o in outs)
    assert kept <= NOTEBOOK_OUTPUT_KEPT_BYTES + 40 * 200, kept
    assert cells[39][-1]["text"] == NOTEBOOK_OUTPUT_DROPPED.format(
        bytes=len(big), limit=NOTEBOOK_OUTPUT_KEPT_BYTES // 2**20) + "\n", cells[39]
    late = []
    executor.output(late, _message("error", "KeyboardInterrupt"), None, 40)  # a hung cell's interrupt
    assert late and late[0].get("output_type") == "error", late


def _run_cells(tmp_path, sources: list[str], **traits):
    from instructor.grading.verdicts import ResilientExecute

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    executor = ResilientExecute(timeout=30, **traits)
    nb, _ = executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    return ["".join(o.get("text", "") for o in cell.outputs) + "".join(o.get("ename", "") for o in cell.outputs)
            for cell in nb.cells]


def test_a_notebook_of_slow_cells_stops_at_the_notebook_s_time_and_says_so(tmp_path):
    """Attack round 21: three cells of time.sleep(50) held the grading lane for their 150 s (each under the cell's
    limit, and no limit for the notebook). Now its cells run in notebook_timeout seconds in all: the cell running when
    it ends is interrupted, the code cells after it are not run and say why. The other way: with the time there is,
    every cell runs."""
    from instructor.grading.verdicts import NOT_RUN_NOTEBOOK_TIME

    cells = ["import time\ntime.sleep(3)\nprint('one')", "time.sleep(20)\nprint('two')", "print('three')",
             "print('four')"]
    outputs = _run_cells(tmp_path, cells, notebook_timeout=5)
    assert outputs[0] == "one\n" and "two" not in outputs[1] and "KeyboardInterrupt" in outputs[1], outputs
    note = NOT_RUN_NOTEBOOK_TIME.format(seconds=5) + "\n"
    assert outputs[2:] == [note, note], outputs
    outputs = _run_cells(tmp_path, ["import time\ntime.sleep(1)\nprint('one')", "print('two')"], notebook_timeout=60)
    assert outputs == ["one\n", "two\n"], outputs
