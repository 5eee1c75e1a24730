"""CPU kernel choices for the models' convolutions: the same functions, computed by faster kernels.

Each rule rewrites, in place, the ``forward`` of the layers it applies to (an instance attribute:
parameters, buffers and ``state_dict`` keys are unchanged, so weights, checkpoints and the graded
functions see the same modules). They are fixed rules, not timings, so two runs (and a resumed
run) make the same choice; ``benchmarks/bench.py`` times the trainer with and without each one.

- ``deconv_bias_apart``: a multi-channel ``ConvTranspose2d`` adds its bias after the convolution
  (oneDNN's deconvolution with a bias is much slower in channels_last);
- ``native_single_channel_deconv``: a ``ConvTranspose2d`` with one output channel runs its forward
  in PyTorch's own kernel, not oneDNN's (the last layer of both decoders);
- ``whole_image_convs_as_matmul``: a convolution whose kernel covers its whole input (the GAN
  discriminator's ``Conv2d(128, 1, 7)`` on 7x7 features) or a transposed convolution of a 1x1
  input (the generator's ``ConvTranspose2d(100, 128, 7)``) is a fully connected layer, and runs as
  one matrix product instead of a oneDNN convolution.

A layer can have several rules (one forward dispatches them: the whole-image product when the
input makes the layer fully connected, else the bias or the backend rule, else its own forward),
so the order in which they are given does not matter.
"""
from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F
from torch import nn


@contextlib.contextmanager
def _onednn_disabled():
    """oneDNN (mkldnn) off for the block; the same switch ``torch.backends.mkldnn.flags`` flips, without
    touching its other flags (setting those warns about Intel GPUs on every call)."""
    getter, setter = getattr(torch._C, "_get_mkldnn_enabled", None), getattr(torch._C, "_set_mkldnn_enabled", None)
    if getter is None or setter is None:  # another torch: the public context manager
        with torch.backends.mkldnn.flags(enabled=False):
            yield
        return
    before = getter()
    setter(False)
    try:
        yield
    finally:
        setter(before)


def _add_rule(layer: nn.Module, rule: str) -> bool:
    """Give ``layer`` the rule-dispatching forward (once) and ``rule``; True when the rule is new to it.

    The forward is ``functools.partial(_ruled_forward, layer)`` (an instance attribute), not a closure
    over the layer: ``copy.deepcopy`` and pickling rebuild it around the copy, so a copy computes with
    its own weights and a pickled model loads back.
    """
    rules = layer.__dict__.get("_kernel_rules", ())
    if rule in rules:
        return False
    layer._kernel_rules = rules + (rule,)  # _ruled_forward tries them in its own fixed order
    layer.forward = functools.partial(_ruled_forward, layer)
    return True


def _ruled_forward(self: nn.Module, x, *args, **kwargs):
    """The forward of a layer with kernel rules: the first rule that applies to this call, else the layer's own."""
    rules = self._kernel_rules
    if not args and not kwargs and isinstance(x, torch.Tensor) and x.dim() == 4:  # output_size etc.: the layer's own
        if "matmul" in rules:
            y = _as_linear(self, x)
            if y is not None:
                return y
        if "bias_apart" in rules and self.bias is not None:
            y = F.conv_transpose2d(x, self.weight, None, self.stride, self.padding, self.output_padding,
                                   self.groups, self.dilation)
            return y.add_(self.bias.view(1, -1, 1, 1))  # in place: the convolution does not save its output
    if "native" in rules:
        with _onednn_disabled():
            return type(self).forward(self, x, *args, **kwargs)
    return type(self).forward(self, x, *args, **kwargs)


def native_single_channel_deconv(module: nn.Module) -> int:
    """Run the forward of each ``ConvTranspose2d`` with one output channel without oneDNN (in place).

    On the CPU, oneDNN's deconvolution with a single output channel is several times slower than
    PyTorch's own kernel (the VAE's last layer, 16 -> 1 channels, 14 -> 28 pixels, batch 128: about
    4.6 ms against 1-2 ms per forward on 1 core). Only the forward changes backend: the backward,
    chosen when it runs, stays oneDNN's (faster there). Both compute the same convolution in
    float32. Returns the number of layers given the rule now.
    """
    return sum(_add_rule(layer, "native") for layer in module.modules()
               if type(layer) is nn.ConvTranspose2d and layer.out_channels == 1)


def _plain(layer: nn.Module) -> bool:
    """No padding, dilation, groups or output padding: the kernel meets the input only where the rules assume."""
    return (layer.groups == 1 and tuple(layer.dilation) == (1, 1) and tuple(layer.padding) == (0, 0)
            and layer.padding_mode == "zeros" and tuple(getattr(layer, "output_padding", (0, 0))) == (0, 0))


def _in_weight_format(y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``y`` (B, C, H, W) in channels_last when the layer was prepared in it (its weight is), else as is."""
    if not weight.is_contiguous() and weight.is_contiguous(memory_format=torch.channels_last):
        return y.contiguous(memory_format=torch.channels_last)
    return y


def _as_linear(layer: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """The layer on ``x`` as one matrix product, or None when this input does not make it a fully connected layer."""
    weight = layer.weight
    batch = x.shape[0]
    if isinstance(layer, nn.ConvTranspose2d):  # a 1x1 input: one kernel per sample, whatever the stride
        if tuple(x.shape[-2:]) != (1, 1):
            return None
        c_in, c_out, kh, kw = weight.shape
        y = (x.flatten(1) @ weight.reshape(c_in, -1)).view(batch, c_out, kh, kw)
        if layer.bias is not None:  # in the product's dtype: bfloat16 under autocast, as the convolution gives
            y = y + layer.bias.view(1, -1, 1, 1).to(y.dtype)
        return _in_weight_format(y, weight)
    if tuple(x.shape[-2:]) != tuple(weight.shape[-2:]):  # Conv2d: only a kernel-sized input gives a 1x1 output
        return None
    if x.is_contiguous():  # NCHW: (B, C*H*W) against (C_out, C*H*W)
        flat_x, flat_w = x.flatten(1), weight.flatten(1)
    else:  # channels_last is (B, H, W, C) in memory: the same sum in H, W, C order, without copying x
        flat_x, flat_w = x.permute(0, 2, 3, 1).flatten(1), weight.permute(0, 2, 3, 1).flatten(1)
    return F.linear(flat_x, flat_w, layer.bias).view(batch, weight.shape[0], 1, 1)  # (B, C_out, 1, 1)


def whole_image_convs_as_matmul(module: nn.Module) -> int:
    """Run convolutions that are fully connected layers as one matrix product each (in place).

    A ``Conv2d`` without padding whose input is exactly its kernel's size has a 1x1 output: every
    output is a dot product of the whole input with one filter. A ``ConvTranspose2d`` of a 1x1
    input writes one scaled kernel per input channel. Both are ``F.linear`` of the flattened
    tensors. oneDNN runs them as convolutions at 1-15 GFLOP/s on one core here (the GAN's first and
    last layers: about 60 ms of an 800 ms step at batch 128), a matrix product at tens of GFLOP/s.
    The rule is checked on every call: other input sizes run the layer's other rules or its own
    forward. Results agree with the convolution to float32 rounding (another summation order).
    Returns the number of layers given the rule now.
    """
    return sum(_add_rule(layer, "matmul") for layer in module.modules()
               if type(layer) in (nn.Conv2d, nn.ConvTranspose2d) and _plain(layer))


def deconv_bias_apart(module: nn.Module) -> int:
    """Add the bias of each multi-channel ``ConvTranspose2d`` after the convolution, not inside it (in place).

    On the CPU in channels_last, PyTorch's oneDNN deconvolution with a bias is much slower than the
    same deconvolution without one plus a broadcast add (the GAN generator's ``ConvTranspose2d(128,
    64, 4, 2, 1)`` at batch 128 on one core: forward about 40 against 27 ms, forward and backward
    112 against 89 ms). The add's backward is the bias gradient, a sum over the batch and pixels.
    Layers with one output channel are left to ``native_single_channel_deconv``. Returns the number
    of layers given the rule now.
    """
    return sum(_add_rule(layer, "bias_apart") for layer in module.modules()
               if type(layer) is nn.ConvTranspose2d and layer.bias is not None and layer.out_channels > 1)


# The rules by the name of their Speed / RunConfig switch (``resolve_speed`` and ``Speed.prepare`` use this).
CPU_RULES = {"native_deconv": native_single_channel_deconv, "matmul_convs": whole_image_convs_as_matmul,
             "deconv_bias_apart": deconv_bias_apart}
