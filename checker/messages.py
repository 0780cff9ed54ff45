"""Every text the checker shows a student, as constants that tests import.

Templates are ``str.format`` strings; the field names say what goes in. A message that names a
mistake is declared with the kind of mistake it names, ``mistake("wrong axis", "hint: ...")``: the
instructor's mistakes report files every line of it under that label (instructor/reports/mistakes.py).
"""


class _Mistake(str):
    label: str


def mistake(label: str, text: str) -> str:
    """``text``, declared as naming the kind of mistake ``label`` (a few words an instructor reads)."""
    marked = _Mistake(text)
    marked.label = label
    return marked


# -- statuses and loading ----------------------------------------------------------------
STATUS_TEXT = {
    "passed": "passed",
    "failed": "failed",
    "error": "error",
    "not_attempted": "not attempted",
    "manual": "graded by hand",
}
NOT_ATTEMPTED_STUB = mistake("not attempted", "not attempted yet: {name} still raises NotImplementedError")
NOT_ATTEMPTED_CALLED_STUB = mistake("not attempted", "not checked yet: {name} calls {stub}, which still raises "
                                                     "NotImplementedError; write {stub} first, then check {name} again")
NOT_ATTEMPTED_MISSING = mistake("not attempted", "not attempted: no {name} is defined in this notebook")
NOT_RUN_IN_KERNEL = ("not run in this kernel yet: no {name} is defined by the cells this kernel has run; "
                     "run the cell with its def (or Run All), then check again")
RUNNING_CELL = "running your cell {index} ({first_line})"
STILL_WAITING = "check: still {activity} after {seconds:.0f} s (the checker stops it at {limit:.0f} s)"
TEST_CELL_FAILED = "{name}: {status} ({points} points)"  # then the first feedback line, wrapped
CHECKER_DID_NOT_RUN = "{name}: the checker could not run"
DEFINING_CELL_FAILED = mistake("its cell raised an error", "the cell that defines {name} failed ({where}): {error}")
DEFINED_IN_CELLS = ("{name} is defined in {count} cells: the checker checked the last one, {cell}, as a kernel that "
                    "runs the cells in order keeps it; if an earlier one is your answer, delete or rename the later one")
DEFINED_THEN_RAISED = ("the cell that defines {name} raised after the definition ran ({where}): {error}; {name} "
                       "was checked as defined")
DEMO_CELLS_NOT_RUN = (" (the checker runs your cells without the lesson's demonstration cells, those tagged 'demo': a "
                      "name made only there is not defined when it runs yours)")
DEFINING_CELL_STOPPED = "the cell that defines {name} could not run: {reason}"
CELL_DEFINITIONS_ONLY = ("{reason}. The checker then ran only the definitions of that cell (def, class, import, a "
                         "name given a literal such as `losses = []`) and checked those: move what follows them (an "
                         "experiment, an exit) to a cell of its own")
MANUAL_QUESTION = "written answer: to be graded by hand"
EXERCISE_STOPPED = "{reason}"
OUT_OF_MEMORY = mistake("out of memory", "your code ran out of memory (the limit is {limit}) while {what}")
OVERALL_LIMIT = mistake("time limit",
                        "not checked: the overall time limit of {seconds:.0f} s for this notebook was reached")
PARTIAL_CREDIT = "half points: the answers are right but {check} failed"

SANDBOX_PARTIAL = ("note: on this machine your code runs with only part of the checker's sandbox (it still checks "
                   "your work the same way; --verbose says which parts)")
HINT_PREFIX = "hint: "  # how every hint begins; the short text report shows hints beside a verdict's first line
UNICODE_CONTROL_SHOWN = "\\u{code:04x}"  # a line separator or a bidirectional control of student output, shown
CONTROL_SHOWN = "\\x{code:02x}"  # a control character of student output, shown instead of obeyed by a terminal

# -- values --------------------------------------------------------------------------------
RAISED_ON_VALID_INPUT = mistake("raised an error", "on {input}: raised {type}: {message}{where}")
SAME_ERROR_AGAIN = "the same error, from the same line, on {count} more of the inputs"
TENSOR_OF_ITS_OWN_CLASS = ("a tensor of a class of your own, whose code would run when the checker reads it: "
                           "return a plain torch.Tensor")
NOT_A_TENSOR = mistake("not a tensor", "on {input}: expected a tensor, got {type} ({repr})")
# what NOT_A_TENSOR says of the (values, indices) pair torch.max(x, dim), torch.sort(x), ... return
REDUCTION_PAIR = "the (values, indices) pair torch.{name} returns along a dimension; return a tensor"
REDUCTION_PAIR_MINMAX = ("the (values, indices) pair torch.{name}(x, dim) returns when it reduces along dim; an "
                         "element-wise {name}imum is torch.{name}imum(x, other), or x.clamp")
SHAPE_MISMATCH = mistake("wrong shape", "on {input}: expected shape {expected}, got {got}")
DTYPE_MISMATCH = mistake("wrong dtype", "on {input}: expected dtype {expected}, got {got}")
DTYPE_NARROWED = ("note: on {input} your result is {got} where the inputs are {expected}; its values are right at "
                  "{got} precision, so it counts. Make it in the inputs' dtype to keep their precision (a tensor you "
                  "create: `torch.zeros(..., dtype=x.dtype)`; a number you compute: `torch.tensor(v, dtype=x.dtype)`)")
DTYPE_WIDENED = ("note: on {input} your result is {got} where the inputs are {expected}; its values are right, so "
                 "it counts. Something in your code made it {got} (a {got} tensor or constant, a cast, "
                 "torch.set_default_dtype): keep the inputs' dtype (a tensor you create: `torch.zeros(..., "
                 "dtype=x.dtype)`; a result in another dtype: `.to(x.dtype)`)")
VALUE_MISMATCH = mistake("wrong values",
                         "on {input}: values differ; largest difference at index {index}: expected {want}, got "
                         "{got} (tolerance {tol:.2g})")
NAN_MISMATCH = mistake("NaN or inf", "on {input}: got NaN or inf at index {index} where {want:.6g} was expected")
NEGATIVE_RESULT = mistake("negative distances (no clamp)",
                          "on {input}: got a negative squared distance {got:.3g} at index {index}; clamp tiny "
                          "negatives to 0")
GRAD_OUTPUT_MODIFIED = mistake("grad_output changed in place",
                               "on {input}: backward changed grad_output in place; return a new tensor (autograd "
                               "may hand the same grad_output to other functions)")
CODE_NOT_READ = mistake("code the checker did not read",
                        "{name} is not the code the checker read: {detail}. Something the checker cannot read "
                        "(globals(), a loop or an import that rebinds the name, a wrapper) put it there; define "
                        "{name} with def (or class) in its own cell")
UNREADABLE_MESSAGE = "(a {type} whose message cannot be shown as text)"
INPUT_MODIFIED = mistake("input changed in place",
                         "on {input}: your function changed its argument {arg} in place; leave inputs unchanged")
RETURNS_INPUT = mistake("returns an input's memory",
                        "on {input}: the result shares memory with an input; return a new tensor")
CASES_PASSED = "{count} inputs checked, including {kinds}"
GRADS_PASSED = "{names} match torch.autograd on {count} inputs"
STAT_PASSED = (
    "{name}({n_in}, {n_out}): mean {mean:.4f}, std {std:.4f} (expected {want:.4f} within {tol:.4f}); "
    "two calls differ; the same seed gives the same weights"
)

FRESH_INPUT_WRONG = "checked again, on fresh inputs, while tracing its operations: {detail}"

# -- errors the catalogue requires ----------------------------------------------------------
DID_NOT_RAISE = mistake("no error on mismatched shapes",
                        "on {input}: expected {expected} (the inner dimensions differ), but it returned {got}")
WRONG_EXCEPTION = mistake("wrong exception", "on {input}: expected {expected}, but it raised {type}: {message}")

# -- gradients -----------------------------------------------------------------------------
GRAD_MISSING = mistake("gradient not set", "on {input}: {what} was not set")
GRAD_STALE = mistake("gradient stored elsewhere",
                     "on {input}: your code never set {what}: it still holds the placeholder {stale:g} the checker "
                     "filled it with before the call; set {what} itself (a gradient left in a local variable, or "
                     "stored as .grad, does not count)")
GRAD_NOT_FRESH = mistake("accumulated gradient",
                         "on {input}: after a second forward/backward, {what} holds the sum of both passes; assign "
                         "gradients, don't accumulate them")
GRADCHECK_FAILED = mistake("gradcheck failed", "torch.autograd.gradcheck in float64 failed on {input}{detail}")

# -- operations ----------------------------------------------------------------------------
TRACE_HANDED_OFF = mistake("another array library",
                           "on {input}: hands its tensors to another library ({what}), where what it computes is "
                           "out of the checker's sight; this exercise's work must be done by torch ({why})")
FORBIDDEN_OP = mistake("forbidden op", "on {input}: calls {ops}, which this exercise does not allow ({why})")
# read from the submitted source in the grader (checker.source_evidence): what student code cannot rewrite
SOURCE_FORBIDDEN_OP = mistake("forbidden op",
                              "your code calls {ops} ({where}), which this exercise does not allow ({why})")
SOURCE_OTHER_LIBRARY = mistake("another array library",
                               "your code computes with {what} ({where}): this exercise's work must be done by "
                               "torch itself ({why})")
SOURCE_BELOW_API = mistake("forbidden op",
                           "your code calls {what} ({where}), a layer below torch's API that this exercise does not "
                           "allow ({why})")
SOURCE_DYNAMIC = mistake("call looked up at run time",
                         "your code looks up at run time what it calls ({what}, {where}), so which operation runs "
                         "cannot be checked; this exercise does not allow that: write the call out")
SOURCE_ELSEWHERE = mistake("work in another thread or process",
                           "your code runs work in another thread or process ({what}, {where}), where the checker "
                           "cannot see what it computes; this exercise does not allow that: do the work in the "
                           "function itself")
RAN_ELSEWHERE = mistake("work in another thread or process",
                        "{name} started {count} thread(s) or process(es) on {input}: what runs there is out of the "
                        "checker's sight, so this rule cannot pass; do the work in the function itself")
SEEN_IN_A_TRACED_CALL = "seen in a call the checker traced"  # where a way out of torch is, when only the trace saw it
TENSOR_AS_TEXT = "a tensor turned into text, by its {how}"
SOURCE_LEAVES_TORCH = mistake("loop left in",
                              "your {name} leaves torch ({what}, {where}): work done on Python numbers or another "
                              "library's arrays is judged as a loop; {expected}")
TAMPERED = mistake("tampering",
                   "not graded: this notebook reaches into the checker's process or runs code the checker cannot "
                   "read ({where}); no exercise of it is graded while that code is there, even in a demo cell, "
                   "since the checker cannot tell that use from an attack: delete that line (it works as before in "
                   "your own Jupyter) and check again")
UNREAD_CODE = "{what}: runs code the checker cannot read"  # what a submission's exec, pickle, importlib ... is
TAMPERING_NOTE = "tampering: {what}, {where}"
REQUIRED_OP_MISSING = mistake("required op not used", "on {input}: never calls {ops}; this exercise is about {why}")
REQUIRED_OP_IDLE = mistake("required op does none of the work",
                           "on {input}: calls {ops}, but your answer does not come from it: with what {ops} returned "
                           "on the inputs (where it sums over something) multiplied by {factor:.2f}, your answer "
                           "stayed the same; this exercise is about {why}, so {ops} must compute the answer")
REQUIRED_OP_PARTIAL = mistake("required op does part of the work",
                              "on {input}: {ops} does {done} multiply-adds on the inputs (moved, reshaped or retyped "
                              "only), and the answer needs {needed}; this exercise is about {why}, so {ops} must do "
                              "the products and their sums, not a part of them or a computation of its own")
OPS_VARY = mistake("loop left in",
                   "your {name} ran {count} tensor ops on {input}, where the loop rule measured {base} on {base_input} "
                   "(in a copy of your process made for it): {expected}; a function is judged by what it does on "
                   "every call, not only where it is measured")
LOOPS_MISSING = mistake("loops asked for, none written",
                        "your {name} does not loop over {dim}: {count} tensor ops for {base} and {bigger} for "
                        "{grown} (loops over every scalar entry would add at least {steps} more), and no loop over Python "
                        "numbers either; the work of {expected} grows with every dimension")
LOOPS_VECTORISED = mistake("loops asked for, none written",
                           "your {name} computes {size} entries in one operation ({op}, on {base}): loops over "
                           "scalar entries compute one entry (at most a row) at a time; {expected}")
OPS_GROW = mistake("loop left in",
                   "your {name} still loops over {dim}: {count} tensor ops for {base} and {bigger} for {grown}; "
                   "{expected}")
LARGEST_ALLOCATION = mistake("allocates too much",
                             "on {input}: builds a tensor of shape {shape} ({size}); memory must stay O({bound}), "
                             "at most {limit} here")
FULL_SIZE_COPIES = mistake("full-size copies",
                           "on {input}: creates {count} tensors as large as x; {expected} are needed. Keep mean and "
                           "std as (C, 1, 1) views and let broadcasting expand them")

# -- speed ---------------------------------------------------------------------------------
SPEED_FAILED = mistake("too slow",
                       "too slow on {input}: {student} against {reference} for {yardstick}: {ratio:.3g}x its time, "
                       "but at most {bar:.3g}x passes")
SPEED_PASSED = ("speed on {input}: {student} against {reference} for {yardstick}: {ratio:.3g}x its time "
                "(lower is faster; at most {bar:.3g}x passes)")
SPEED_WRONG_ANSWERS = "the answers produced while being timed were wrong: {detail}"  # detail names the inputs

# -- statistics ----------------------------------------------------------------------------
STAT_SHAPE = mistake("wrong shape", "{name}({n_in}, {n_out}) returned shape {got}, expected {expected}")
STAT_MEAN = mistake("mean not 0", "{name}({n_in}, {n_out}): mean {got:.4f}, expected 0 within {tol:.4f}")
STAT_STD = mistake("wrong standard deviation",
                   "{name}({n_in}, {n_out}): standard deviation {got:.4f}, expected {want:.4f} ({formula}) within "
                   "{tol:.4f}")
STAT_NOT_RANDOM = mistake("same weights every call",
                          "{name}({n_in}, {n_out}) returned the same tensor twice; draw fresh random numbers each "
                          "call")
STAT_NOT_SEEDED = mistake("not torch's random generator",
                          "{name}({n_in}, {n_out}) gave different tensors after the same torch.manual_seed; use "
                          "torch's random generator")
STAT_NOT_GAUSSIAN = mistake("not Gaussian",
                            "{name}({n_in}, {n_out}): {fraction:.1%} of the weights lie beyond 3 standard "
                            "deviations; a Gaussian has 0.27%")

# -- structure -----------------------------------------------------------------------------
NOT_SUBCLASS = mistake("not a subclass", "{name} must be a subclass of {base}")
PARAMETERS_WRONG = mistake("wrong parameters",
                           "{name}({args}) registers parameters {got}; expected exactly {expected}")
BIAS_NOT_ZERO = mistake("bias not zero", "{name}({args}): bias should start at zero, largest entry is {got:.3g}")
BASE_FORWARD = mistake("bare Module's forward",
                       "calling a bare Module should raise an error from forward (NotImplementedError, say); it "
                       "{got}")
SUBCLASS_TWO_INPUTS = mistake("Module subclass broken",
                              "a Module subclass whose forward and bwd take two inputs (forward(self, a, b), as "
                              "Mse's do) fails on {input}: {detail}; __call__ must keep every argument (self.args = "
                              "args) and backward must pass them all to bwd (self.bwd(self.out, *self.args))")
CALL_RETURNED_NONE = mistake("__call__ returns nothing",
                             "calling an instance of a new Module subclass (the checker's Cube, x**3) returned None: "
                             "__call__ must return what forward returned (return self.out), or no layer's output "
                             "reaches the next one")
SUBCLASS_BROKEN = mistake("Module subclass broken",
                          "a new Module subclass with only forward and bwd (the checker's Cube, x**3) did not work: "
                          "{detail}")
MODULES_WRONG = mistake("wrong layers",
                        "{name}({args}) should hold nn.Sequential(nn.Linear, nn.ReLU, nn.Linear); it holds {got}")
MODULES_NONE_REGISTERED = mistake("wrong layers",
                                  "{name}({args}) registers no layer: layers kept in a plain Python list or dict are "
                                  "invisible to nn.Module (no parameters, nothing for an optimizer to train); hold "
                                  "them in nn.Sequential(nn.Linear, nn.ReLU, nn.Linear)")
NO_BACKWARD_GRAD = mistake("gradient not set", "after loss.backward(), parameter {param} has no gradient")

# -- what the checker was doing, for time limits and crashes ("... the time limit for <this>") --
PROBE_ACTIVITY = {
    "call": "calling {name} on a test input",
    "layer": "building {name} and running it forward and backward",
    "module_subclass": "running a subclass of your {name}",
    "autograd_function": "{name}.apply and its backward",
    "nn_module": "building {name} and running it",
    "samples": "calling {name} to measure its statistics",
    "subclass_of": "looking up {name}",
    "timed_call": "timing {name} against the reference",
    "stage": "building the inputs {name} is timed on",
    "optimizer_step": "calling {name} on parameters with gradients",
    "training": "training a network with {name}",
}

# -- hints for the classic mistakes ---------------------------------------------------------
HINT_MSE_BROADCAST = mistake("(n,1)-(n,) broadcast",
                             "hint: output is (n, 1) and targ is (n,), so output - targ broadcasts to (n, n); "
                             "squeeze only the last axis: output.squeeze(-1)")
HINT_MSE_SQUEEZE_ALL = mistake("squeeze() drops the batch axis",
                               "hint: output.squeeze() also drops the batch axis when n = 1; use output.squeeze(-1)")
HINT_REDUCED = mistake("reduced along a dimension",
                       "hint: your result lost a dimension of x: torch.max(x, 0) (or x.max(dim)) takes the largest "
                       "entry along that dimension; an element-wise maximum with 0 is x.clamp(min=0), or "
                       "torch.maximum(x, torch.zeros_like(x))")
HINT_XAVIER_FAN_OUT = mistake("fan_out instead of fan_in",
                              "hint: your standard deviation matches 1/sqrt(n_out); scale by the number of inputs, "
                              "n_in")
HINT_KAIMING_NO_TWO = mistake("Kaiming without the 2",
                              "hint: your standard deviation matches 1/sqrt(n_in); Kaiming adds the factor 2 for "
                              "ReLU: sqrt(2/n_in)")
HINT_KAIMING_FAN_OUT = mistake("fan_out instead of fan_in",
                               "hint: your standard deviation matches sqrt(2/n_out); Kaiming (fan_in) uses n_in")
HINT_BIAS_AXIS = mistake("wrong axis",
                         "hint: b.g must have b's shape {shape}: sum out.g over the batch axis, out.g.sum(0)")
HINT_W_TRANSPOSE = mistake("w.g transposed", "hint: w.g must have w's shape {shape}: inp.t() @ out.g")
HINT_MSE_GRAD_MEAN = mistake("gradient not divided by n",
                             "hint: the gradient of a mean divides by the number of rows, inp.shape[0]")
HINT_RELU_GRAD_MASK = mistake("ReLU gradient not masked",
                              "hint: the gradient flows only where the input was positive: (inp > 0) * out.g (at "
                              "exactly 0, torch passes no gradient, so use > rather than >=)")
HINT_BACKWARD_ORDER = mistake("backward out of order",
                              "hint: each layer's backward reads the .g of its output, which the layer after it sets: "
                              "the model's backward calls the loss's backward first, then each layer's, last to first")
HINT_MYRELU_MASK = mistake("ReLU gradient not masked",
                           "hint: backward gets grad_output, and the gradient flows only where forward's input was "
                           "positive: i, = ctx.saved_tensors; return grad_output * (i > 0)")
HINT_NORMALIZE_CHANNELS_AXES = mistake("wrong axis",
                                       "hint: mean and std index the channel axis 1 of (N, C, H, W): use mean[:, "
                                       "None, None]")
HINT_NEGATIVE_DISTANCES = mistake("negative distances (no clamp)",
                                  "hint: |x|^2 + |y|^2 - 2 x.y can come out slightly negative in float; clamp at 0")

# what a case's label adds when the object was first called on other shapes (issue 21, rule 2)
AFTER_ANOTHER = ", after a first forward and backward on {name} of shape {shape} (the layer must keep nothing from it)"
AFTER_ANOTHER_CALL = ", after a first call on {name} of shape {shape} (the model must keep nothing from it)"

# a check that could not read what the student's code returned (an object no comparison understands)
CHECK_COULD_NOT_JUDGE = mistake("returned something no check can read",
                                "{name}: the checker could not judge what your code returned ({type}: {message}); "
                                "it earns nothing: return an ordinary tensor of numbers, as the stub's docstring "
                                "says")


def template_regex(template: str):
    """A message template as a regex: each {field} matches anything (for tests and reports that find a message)."""
    import re

    parts = re.split(r"\{[^}]*\}", template)
    return re.compile(".*?".join(re.escape(p) for p in parts), re.DOTALL)


def matches(template: str, lines) -> bool:
    """Whether any of ``lines`` is ``template`` filled in."""
    pattern = template_regex(template)
    return any(pattern.search(line) for line in lines)


A_TEST_INPUT = "a test input"  # an input no check named (feedback names every input it can)
HIDDEN_CHECK_PREFIX = "hidden check (other inputs): "  # before a feedback line of the hidden checks (autograde)
# a hidden check's line that would show what student code returned, raised or printed there (values, an exception's
# text, a repr): a function can put its inputs into any of them, and the hidden inputs would leave in the feedback
HIDDEN_CHECK_UNLABELLED = "a mistake"  # the {mistake} of a withheld line whose message names no kind of mistake
HIDDEN_CHECK_WITHHELD = ("{mistake}{on}: what your code returned or raised on the hidden inputs is not shown, so that "
                         "they stay hidden; check your code on inputs of these shapes")

SUBCLASS_SHARED = mistake("Module subclass broken",
                          "two instances of a Module subclass, the second called before the first's backward: the "
                          "first used what the second saw ({detail}); keep args and out on the instance (self), not "
                          "on the class")

# -- 05_training ------------------------------------------------------------------------------------------------------
HINT_SUBTRACT_MAX = mistake("unstable: no max subtracted",
                            "hint: exp of a large logit overflows (exp(89) is inf in float32) and of a very "
                            "negative one underflows to 0: subtract each row's max before exponentiating; the "
                            "result is the same")
HINT_MAX_AXIS = mistake("max over the wrong axis",
                        "hint: subtract each row's max, x.max(-1, keepdim=True).values, not each column's (x.max(0)): "
                        "the shift must be the same for every class of a row to leave the result unchanged")
HINT_SOFTMAX_AXIS = mistake("softmax over the wrong axis",
                            "hint: the softmax is over each row's classes (the last dimension), not down the "
                            "columns")
HINT_NLL_INDEX = mistake("nll picks an (n, n) matrix",
                         "hint: log_probs[:, target] picks every target for every row (an (n, n) matrix); pick one "
                         "entry per row: log_probs[range(n), target]")
HINT_NLL_SIGN = mistake("wrong sign",
                        "hint: the negative log-likelihood is minus the mean of the picked log-probabilities")
HINT_CE_GRAD_MEAN = mistake("gradient not divided by n",
                            "hint: the loss is a mean over the n rows, so its gradient is divided by n")
HINT_CE_ONE_HOT = mistake("one-hot not subtracted",
                          "hint: the gradient is softmax(logits) minus the one-hot targets: subtract 1 at each "
                          "row's target")
HINT_ACCURACY_FRACTION = mistake("count instead of fraction",
                                 "hint: the accuracy is the fraction of rows right (a mean), not their count")
HINT_ACCURACY_INTEGER = mistake("integer division",
                                "hint: your accuracy ({dtype}) is the fraction rounded down: a count divided with // "
                                "gives 0 unless every row is right; divide with / or take the mean of floats: "
                                "(preds == target).float().mean()")
HINT_CONV_SIZE = mistake("wrong output size",
                         "hint: each output side is (size + 2 * padding - kernel) // stride + 1; unfold's patches "
                         "come out as (n, c_in * kh * kw, L), L = out_h * out_w")
HINT_CONV_FLIPPED = mistake("kernel flipped",
                            "hint: F.conv2d is a cross-correlation: the kernel is applied as it is, not flipped")
STEP_WRONG = mistake("wrong step", "after sgd_step on {input}: {detail}")
SECOND_STEP = ", on a second call (the grads of the next backward)"
HINT_STEP_SIGN = mistake("wrong sign", "hint: a step goes down the gradient: p -= lr * p.grad")
HINT_STEP_NOT_IN_PLACE = mistake("wrong step",
                                 "hint: the parameters did not change: update them in place (p -= lr * p.grad, or "
                                 "p.sub_); p = p - ... binds a new tensor to a local name and the model never sees "
                                 "it")
HINT_STEP_ZEROED_FIRST = mistake("wrong step",
                                 "hint: the parameters did not change, and their gradients were zeroed: step before "
                                 "zeroing (p -= lr * p.grad, then p.grad.zero_()), and update in place (p = p - ... "
                                 "binds a new tensor to a local name and the model never sees it)")
STEP_RECORDED = mistake("update recorded by autograd",
                        "after sgd_step on {input}: parameter {index} is no longer a leaf tensor that requires "
                        "grad: the update was recorded by autograd (or requires_grad was switched off); update "
                        "under torch.no_grad()")
HINT_STEP_NO_GRAD = mistake("update recorded by autograd",
                            "hint: an in-place change of a parameter must not be recorded by autograd: wrap it in "
                            "torch.no_grad()")
STEP_GRADS_KEPT = mistake("gradients not zeroed",
                          "after sgd_step on {input}: parameter {index}'s .grad still holds the gradient; zero it "
                          "(p.grad.zero_() or p.grad = None) so that the next backward starts from zero")
HINT_STEP_GENERATOR = mistake("gradients not zeroed",
                              "hint: params may be a generator (model.parameters() is one), which a second loop finds "
                              "empty: do the step and the zeroing in one loop, or make a list first (params = "
                              "list(params))")
STEP_NEXT_BACKWARD = mistake("gradients not zeroed",
                             "after sgd_step on {input}, the next backward left parameter {index}'s .grad at "
                             "{detail}: it must start from zero")
FIT_PARAMETERS = mistake("wrong step",
                         "after fit on {input}: the parameters are not those of the training loop ({detail}); each "
                         "minibatch in order: loss_func(model(xb), yb), backward, then a step of every parameter")
HINT_FIT_SIGN = mistake("wrong sign",
                        "hint: the parameters match a loop that steps up the gradient: p -= lr * p.grad")
HINT_FIT_NO_ZERO = mistake("gradients not zeroed",
                           "hint: they match a loop that never zeroes the gradients: after each step, zero every "
                           "p.grad")
HINT_FIT_FIRST_BATCH = mistake("not every batch or epoch",
                               "hint: they match a loop that trains on the first minibatch only: loop over all of "
                               "them")
HINT_FIT_ONE_EPOCH = mistake("not every batch or epoch",
                             "hint: they match one pass over the batches: run `epochs` passes")
FIT_DID_NOT_LEARN = mistake("did not learn",
                            "after fit on {input}: {accuracy:.1%} of the held-out digits right, under the bar of "
                            "{bar:.0%} (the reference loop reaches {reference:.1%} from the same start)")
FIT_PASSED = "learned: {accuracy:.1%} of held-out digits right after training (bar {bar:.0%})"


# -- feedback as data ------------------------------------------------------------------------------
class Feedback(str):
    """A feedback line that knows which message it is: ``kind`` is the constant's name ("VALUE_MISMATCH"),
    ``inner`` the kind of the message it wraps, if any (FRESH_INPUT_WRONG around a VALUE_MISMATCH). It is a str
    everywhere text is wanted; reports read the kinds, never the text (instructor/reports/mistakes.py)."""

    kind: str | None
    inner: str | None

    def __new__(cls, text: str, kind: str | None = None, inner: str | None = None):
        line = super().__new__(cls, text)
        line.kind, line.inner = kind, inner
        return line

    def __reduce__(self):
        return (Feedback, (str(self), self.kind, self.inner))


class Message(str):
    """A message template that knows its name: ``format`` gives a :class:`Feedback` of that kind. ``mistake``
    is the kind of mistake it names, where it was declared with one (None for notes and passing lines)."""

    kind: str
    mistake: str | None

    def __new__(cls, text: str, kind: str, mistake: str | None = None):
        template = super().__new__(cls, text)
        template.kind, template.mistake = kind, mistake
        return template

    def format(self, *args, **kwargs) -> Feedback:
        inner = next((v.kind for v in (*args, *kwargs.values()) if isinstance(v, Feedback) and v.kind), None)
        return Feedback(str.format(self, *args, **kwargs), self.kind, inner)

    def __reduce__(self):
        return (Message, (str(self), self.kind, self.mistake))


def kind_of(line) -> str | None:
    return getattr(line, "kind", None)


def inner_of(line) -> str | None:
    return getattr(line, "inner", None)


def prefixed(prefix: str, line) -> Feedback:
    """``prefix + line``, still the message ``line`` was."""
    return Feedback(prefix + line, kind_of(line), inner_of(line))


def retold(line, text: str) -> Feedback:
    """The same message as ``line``, told in other words (a place named as the student's screen shows it)."""
    return Feedback(text, kind_of(line), inner_of(line))


def of_error(exc: BaseException, kind: str | None = None) -> Feedback:
    """A typed error's text, with the kind of the template it was formatted from."""
    first = exc.args[0] if exc.args else None
    return Feedback(str(exc), kind or kind_of(first) or type(exc).__name__, inner_of(first))


def as_data(line) -> dict:
    return {"text": str(line), "kind": kind_of(line), "inner": inner_of(line)}


def from_data(item: dict) -> Feedback:
    return Feedback(str(item.get("text", "")), item.get("kind"), item.get("inner"))


# -- last: every message above, and none added after this line, knows its name ----------------------------
for _name, _value in list(globals().items()):
    if _name.isupper() and type(_value) in (str, _Mistake):
        globals()[_name] = Message(str(_value), _name, getattr(_value, "label", None))
del _name, _value


def mistakes() -> dict[str, tuple["Message", ...]]:
    """label -> the messages declared as naming that mistake, in the order they are declared."""
    found: dict[str, list[Message]] = {}
    for value in list(globals().values()):
        if isinstance(value, Message) and value.mistake:
            found.setdefault(value.mistake, []).append(value)
    return {label: tuple(messages) for label, messages in found.items()}
