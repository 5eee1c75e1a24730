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

``Speed.prepare`` applies them in this order: each later rule falls back to the forward it finds.
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


def _rewrite(layer: nn.Module, marker: str, make_forward) -> bool:
    """Replace ``layer.forward`` by ``make_forward(inner)`` once (``marker`` records it); True when done now."""
    if getattr(layer, marker, False):
        return False
    layer.forward = functools.wraps(layer.forward)(make_forward(layer.forward))
    setattr(layer, marker, True)
    return True


def native_single_channel_deconv(module: nn.Module) -> int:
    """Run the forward of each ``ConvTranspose2d`` with one output channel without oneDNN (in place).

    On the CPU, oneDNN's deconvolution with a single output channel is several times slower than
    PyTorch's own kernel (the VAE's last layer, 16 -> 1 channels, 14 -> 28 pixels, batch 128: about
    4.6 ms against 1-2 ms per forward on 1 core). Only the forward changes backend: the backward,
    chosen when it runs, stays oneDNN's (faster there). Both compute the same convolution in
    float32. Returns the number of layers rewritten now.
    """
    def make_forward(inner):
        def forward(*args, **kwargs):
            with _onednn_disabled():
                return inner(*args, **kwargs)
        return forward

    return sum(_rewrite(layer, "_native_forward", make_forward) for layer in module.modules()
               if isinstance(layer, nn.ConvTranspose2d) and layer.out_channels == 1)


def _plain(layer: nn.Module) -> bool:
    """No padding, dilation, groups or output padding: the kernel meets the input only where the rules assume."""
    return (layer.groups == 1 and tuple(layer.dilation) == (1, 1) and tuple(layer.padding) == (0, 0)
            and layer.padding_mode == "zeros" and tuple(getattr(layer, "output_padding", (0, 0))) == (0, 0))


def _in_weight_format(y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``y`` (B, C, H, W) in channels_last when the layer was prepared in it (its weight is), else as is."""
    if not weight.is_contiguous() and weight.is_contiguous(memory_format=torch.channels_last):
        return y.contiguous(memory_format=torch.channels_last)
    return y


def _conv_as_linear(layer: nn.Conv2d):
    """``forward`` of a Conv2d: a product when the input is exactly kernel-sized (output 1x1), else the layer's own."""
    def make_forward(inner):
        def forward(x, *args, **kwargs):
            weight = layer.weight  # (C_out, C_in, kh, kw)
            if args or kwargs or x.dim() != 4 or tuple(x.shape[-2:]) != tuple(weight.shape[-2:]):
                return inner(x, *args, **kwargs)
            batch = x.shape[0]
            if x.is_contiguous():  # NCHW: (B, C*H*W) against (C_out, C*H*W)
                flat_x, flat_w = x.reshape(batch, -1), weight.reshape(weight.shape[0], -1)
            else:  # channels_last is (B, H, W, C) in memory: the same sum in H, W, C order, without copying x
                flat_x = x.permute(0, 2, 3, 1).reshape(batch, -1)
                flat_w = weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1)
            return F.linear(flat_x, flat_w, layer.bias).view(batch, -1, 1, 1)  # (B, C_out, 1, 1)
        return forward
    return make_forward


def _deconv_as_linear(layer: nn.ConvTranspose2d):
    """``forward`` of a ConvTranspose2d: a product for a 1x1 input (output = one kernel per sample), else its own."""
    def make_forward(inner):
        def forward(x, *args, **kwargs):
            if args or kwargs or x.dim() != 4 or tuple(x.shape[-2:]) != (1, 1):
                return inner(x, *args, **kwargs)
            weight = layer.weight  # (C_in, C_out, kh, kw); every stride gives the output (kh, kw) here
            batch, (c_in, c_out, kh, kw) = x.shape[0], weight.shape
            y = (x.reshape(batch, c_in) @ weight.reshape(c_in, -1)).view(batch, c_out, kh, kw)
            if layer.bias is not None:
                y = y + layer.bias.view(1, -1, 1, 1)
            return _in_weight_format(y, weight)
        return forward
    return make_forward


def whole_image_convs_as_matmul(module: nn.Module) -> int:
    """Run convolutions that are fully connected layers as one matrix product each (in place).

    A ``Conv2d`` without padding whose input is exactly its kernel's size has a 1x1 output: every
    output is a dot product of the whole input with one filter. A ``ConvTranspose2d`` of a 1x1
    input writes one scaled kernel per input channel. Both are ``F.linear`` of the flattened
    tensors. oneDNN runs them as convolutions at 1-15 GFLOP/s on one core here (the GAN's first and
    last layers: about 60 ms of an 800 ms step at batch 128), a matrix product at tens of GFLOP/s.
    The rule is checked on every call: other input sizes run the layer's own forward. Results
    agree with the convolution to float32 rounding (another summation order). Returns the number
    of layers rewritten now.
    """
    count = 0
    for layer in module.modules():
        if type(layer) is nn.Conv2d and _plain(layer):
            count += _rewrite(layer, "_matmul_forward", _conv_as_linear(layer))
        elif type(layer) is nn.ConvTranspose2d and _plain(layer):
            count += _rewrite(layer, "_matmul_forward", _deconv_as_linear(layer))
    return count


def _deconv_bias_apart(layer: nn.ConvTranspose2d):
    """``forward`` of a ConvTranspose2d: the transposed convolution without its bias, then the bias added."""
    def make_forward(inner):
        def forward(x, *args, **kwargs):
            if args or kwargs or layer.bias is None:  # output_size given: the layer's own forward
                return inner(x, *args, **kwargs)
            y = F.conv_transpose2d(x, layer.weight, None, layer.stride, layer.padding, layer.output_padding,
                                   layer.groups, layer.dilation)
            return y.add_(layer.bias.view(1, -1, *([1] * (y.dim() - 2))))  # in place: the output is not saved
        return forward
    return make_forward


def deconv_bias_apart(module: nn.Module) -> int:
    """Add the bias of each multi-channel ``ConvTranspose2d`` after the convolution, not inside it (in place).

    On the CPU in channels_last, PyTorch's oneDNN deconvolution with a bias is much slower than the
    same deconvolution without one plus a broadcast add (the GAN generator's ``ConvTranspose2d(128,
    64, 4, 2, 1)`` at batch 128 on one core: forward about 40 against 27 ms, forward and backward
    112 against 89 ms). The add's backward is the bias gradient, a sum over the batch and pixels.
    Layers with one output channel are left to ``native_single_channel_deconv``. Apply this before
    ``whole_image_convs_as_matmul`` (which falls back to the forward it finds). Returns the number
    of layers rewritten now.
    """
    return sum(_rewrite(layer, "_bias_apart_forward", _deconv_bias_apart(layer)) for layer in module.modules()
               if type(layer) is nn.ConvTranspose2d and layer.bias is not None and layer.out_channels > 1)
