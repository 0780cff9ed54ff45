"""04_modules: a Module base class, autograd Functions, nn.Module."""
from __future__ import annotations

from checker.checks.gradients import LayerGradients
from checker.checks.structure import (AutogradFunction, BackwardOps, LinearLayerCheck, ModuleBase, Subclass,
                                      TorchModelCheck)
from checker.exercises import backprop, forward
from checker.registry import Exercise, Question

NOTEBOOK = "04_modules"

ENTRIES = [
    Exercise("Module", NOTEBOOK, 3.0, "base class: __call__ stores args and out; backward calls bwd",
             checks=(ModuleBase(),)),
    Exercise("Relu", NOTEBOOK, 2.0, "Module subclass: forward and bwd of a ReLU",
             checks=(Subclass(), LayerGradients(backprop.relu_layer_cases, hints=(backprop.relu_hint,)), backprop.BY_HAND),
             uses=("Module",)),
    Exercise("Lin", NOTEBOOK, 2.0, "Module subclass: w.g as a matrix product, no einsum or outer product",
             checks=(Subclass(), LayerGradients(backprop.lin_layer_cases, hints=backprop.LAYER_HINTS),
                     BackwardOps(backprop.big_lin_layer_case), backprop.BY_HAND), uses=("Module",)),
    Exercise("Mse", NOTEBOOK, 2.0, "Module subclass: forward and bwd of the loss",
             checks=(Subclass(), LayerGradients(backprop.mse_layer_cases, hints=backprop.MSE_HINTS,
                                                   out_hints=(forward.broadcast_loss_hint,)), backprop.BY_HAND),
             uses=("Module",)),
    Exercise("Model", NOTEBOOK, 2.0, "the model built from the Module subclasses",
             checks=(LayerGradients(backprop.model_cases, hints=backprop.LAYER_HINTS,
                                    raised_hints=(backprop.backward_order_hint,)), backprop.BY_HAND),
             uses=("Lin", "Relu", "Mse")),
    Exercise("MyRelu", NOTEBOOK, 3.0, "torch.autograd.Function with static forward and backward",
             checks=(AutogradFunction(),)),
    Exercise("LinearLayer", NOTEBOOK, 3.0, "nn.Module with weight (n_out, n_in) and bias (n_out) Parameters",
             checks=(LinearLayerCheck(),)),
    Exercise("TorchModel", NOTEBOOK, 4.0, "nn.Sequential(Linear, ReLU, Linear) whose forward returns the mse loss",
             checks=(TorchModelCheck(loss_hints=(forward.broadcast_loss_hint,)),)),
    Question("q_module_saves", NOTEBOOK, 2.0,
             "What does the Module base class save you from writing in every layer, and what must a new "
             "layer still provide?"),
    Question("q_save_for_backward", NOTEBOOK, 2.0,
             "In MyRelu, what does `ctx.save_for_backward` keep, and why does backward need it?"),
]
