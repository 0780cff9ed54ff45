"""Model answers to the written questions (instructors only: they become the solution text of
the manually graded answer cells, which nbgrader replaces with "YOUR ANSWER HERE" on release)."""

ANSWERS = {
    "q_inner_dimensions": """
Entry (i, j) of the product is the sum over p of a[i, p] * b[p, j]: the innermost loop walks along
row i of `a` and down column j of `b` at the same time. That walk only makes sense if the row of
`a` (length k) and the column of `b` (length k) have the same length. If they differed, the loop
would either run off the end of the shorter one (an index error) or silently ignore entries.
""",
    "q_broadcast_memory": """
No. Broadcasting behaves as if the (k, 1) column were expanded to (k, m), but `expand_as` shows
how it is done: the expanded tensor has stride 0 along the broadcast axis, so every "copy" of a
column points at the same memory; `untyped_storage()` still holds only k numbers. Only the
result of the multiplication, (k, m), is new memory.
""",
    "q_activation_scale": """
With plain `torch.randn` weights each layer multiplies the scale of the activations by about
sqrt(n_in) (a sum of n_in terms of variance 1), so after a few dozen layers the standard
deviation explodes to inf (or, with small weights, vanishes to 0). Dividing the weights by
sqrt(n_in) makes each output a sum of n_in terms of variance 1/n_in, i.e. variance about 1,
so the scale is preserved from layer to layer.
""",
    "q_kaiming_two": """
A ReLU sets the negative half of its inputs to zero, which halves the second moment of the
activations. Scaling the weights' variance by 2/n_in instead of 1/n_in compensates for that
halving, so the activations keep a stable scale through a deep ReLU network (He et al. 2015).
""",
    "q_mse_squeeze": """
(n, 1) - (n,) broadcasts to (n, n): every output is compared with every target, and the mean
of that matrix is a number, so nothing crashes but the loss is wrong. `squeeze(-1)` removes only
the trailing axis. A bare `squeeze()` also removes the batch axis when n = 1; the loss still comes
out right there (a 0-d value minus a (1,) target broadcasts back), but it is fragile: it removes
every axis of length 1, wherever it is.
""",
    "q_reverse_order": """
The chain rule: the gradient of the loss with respect to a layer's input needs the gradient with
respect to that layer's output, which is only known once every later layer has been processed.
So we start from the loss, whose gradient is known, and walk back towards the input.
""",
    "q_saved_inputs": """
w.g = inp.T @ out.g needs each layer's input, so the forward pass must keep every intermediate
activation alive until the backward pass has used it: memory grows with depth and batch size.
Storing the gradient on the tensor (`.g`) lets each layer's backward find the gradient of its
output where the next layer left it, without threading return values through the model.
""",
    "q_module_saves": """
The Module base class stores the arguments and the output of forward in __call__ and wires
backward() to bwd(out, *args). A new layer only provides forward (the computation) and bwd
(how to turn out.g into the gradients of its inputs and parameters).
""",
    "q_save_for_backward": """
`ctx.save_for_backward(i)` keeps the input tensor for the backward pass, where the gradient is
grad_output masked by (i > 0). Backward receives only grad_output, so without the saved input it
could not know where the ReLU was active.
""",
}


def _from_notebook_modules() -> None:
    """A notebook's solutions module may keep its own model answers (``ANSWERS = {...}``): they join these."""
    import importlib

    from solutions import NOTEBOOK_MODULES

    for module in NOTEBOOK_MODULES.values():
        ANSWERS.update(getattr(importlib.import_module(module), "ANSWERS", {}))


_from_notebook_modules()
