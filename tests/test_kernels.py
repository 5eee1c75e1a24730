"""CPU kernel rules (vaegan.train.kernels): the same functions and gradients, computed by other kernels."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from vaegan.train.kernels import deconv_bias_apart, native_single_channel_deconv, whole_image_convs_as_matmul


class OpLog(TorchDispatchMode):
    """Names of the aten operators run inside the block."""

    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func.__name__)
        return func(*args, **(kwargs or {}))

    def convolutions(self) -> int:
        return sum(name.startswith(("convolution", "_convolution", "mkldnn_convolution")) for name in self.names)


def gan_pair(bias: bool):
    """The curriculum's generator and discriminator shapes (BatchNorm left out: it plays no part here)."""
    G = nn.Sequential(nn.Unflatten(1, (100, 1, 1)), nn.ConvTranspose2d(100, 32, 7, 1, 0, bias=bias), nn.ReLU(),
                      nn.ConvTranspose2d(32, 16, 4, 2, 1, bias=bias), nn.ReLU(),
                      nn.ConvTranspose2d(16, 1, 4, 2, 1, bias=bias), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1, bias=bias), nn.LeakyReLU(0.2), nn.Conv2d(16, 32, 4, 2, 1, bias=bias),
                      nn.LeakyReLU(0.2), nn.Conv2d(32, 1, 7, 1, 0, bias=bias), nn.Flatten())
    return nn.Sequential(G, D)


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("bias", [False, True], ids=["no_bias", "bias"])
def test_whole_image_convolutions_give_the_same_outputs_and_gradients(channels_last, bias):
    torch.manual_seed(0)
    model = gan_pair(bias)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    twin, keys = copy.deepcopy(model), list(model.state_dict())
    assert whole_image_convs_as_matmul(model) == 2 and whole_image_convs_as_matmul(model) == 0  # once only
    rewritten = [name for name, layer in model.named_modules() if "forward" in vars(layer)]
    assert rewritten == ["0.1", "1.4"]  # the 1x1-input deconvolution and the 7x7-kernel-on-7x7 convolution
    z = torch.randn(6, 100)
    with OpLog() as fast:
        out = model(z)
    with OpLog() as slow:
        ref = twin(z)
    assert slow.convolutions() - fast.convolutions() == 2, "the two layers must not run as convolutions"
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    out.square().sum().backward()
    ref.square().sum().backward()
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6, msg=name)
    assert list(model.state_dict()) == keys
    if channels_last:  # the next layer gets the memory format it was prepared for
        hidden = model[0][1](z.view(6, 100, 1, 1))
        assert hidden.is_contiguous(memory_format=torch.channels_last) and not hidden.is_contiguous()


def test_other_input_sizes_and_layouts_keep_the_convolution():
    torch.manual_seed(0)
    conv, deconv = nn.Conv2d(3, 4, 5, stride=2), nn.ConvTranspose2d(3, 4, 5, stride=3)
    padded, grouped = nn.Conv2d(4, 4, 5, padding=1), nn.Conv2d(4, 4, 5, groups=2)
    twins = copy.deepcopy((conv, deconv))
    for layer in (conv, deconv, padded, grouped):
        whole_image_convs_as_matmul(layer)
    assert "forward" in vars(conv) and "forward" in vars(deconv)
    assert "forward" not in vars(padded) and "forward" not in vars(grouped)  # not a plain product
    for layer, twin, x in ((conv, twins[0], torch.randn(2, 3, 9, 9)), (deconv, twins[1], torch.randn(2, 3, 2, 2))):
        with OpLog() as log:
            out = layer(x)
        assert log.convolutions() == 1  # not kernel-sized (nor 1x1): the layer's own forward
        torch.testing.assert_close(out, twin(x))
    x = torch.randn(2, 3, 5, 5)  # kernel-sized, with a stride: still a 1x1 output
    with OpLog() as log:
        out = conv(x)
    assert log.convolutions() == 0 and out.shape == (2, 4, 1, 1)
    torch.testing.assert_close(out, twins[0](x), rtol=1e-5, atol=1e-6)
    x = torch.randn(2, 3, 1, 1)  # 1x1 input: one kernel per sample, whatever the stride
    with OpLog() as log:
        out = deconv(x)
    assert log.convolutions() == 0 and out.shape == (2, 4, 5, 5)
    torch.testing.assert_close(out, twins[1](x), rtol=1e-5, atol=1e-6)


def test_subclassed_layers_are_left_alone():
    class Custom(nn.Conv2d):
        def forward(self, x):
            return super().forward(x) + 1

    layer = Custom(2, 3, 4)
    assert whole_image_convs_as_matmul(nn.Sequential(layer)) == 0 and "forward" not in vars(layer)


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
def test_deconvolution_bias_added_apart_gives_the_same_outputs_and_gradients(channels_last):
    torch.manual_seed(0)
    model = nn.Sequential(nn.ConvTranspose2d(12, 8, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(8, 6, 3, 2, 1, 1),
                          nn.ReLU(), nn.ConvTranspose2d(6, 1, 4, 2, 1), nn.ConvTranspose2d(1, 2, 3, bias=False))
    with torch.no_grad():
        for layer in model:
            if getattr(layer, "bias", None) is not None:
                layer.bias.normal_()  # not the tiny default: a lost bias must show
    if channels_last:
        model.to(memory_format=torch.channels_last)
    twin = copy.deepcopy(model)
    assert deconv_bias_apart(model) == 2 and deconv_bias_apart(model) == 0  # once only
    assert [i for i, layer in enumerate(model) if "forward" in vars(layer)] == [0, 2]  # with a bias, > 1 channel
    x = torch.randn(3, 12, 5, 5)
    out, ref = model(x), twin(x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    out.square().sum().backward()
    ref.square().sum().backward()
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5, msg=name)
    sized = model[2](torch.randn(3, 8, 10, 10), output_size=(20, 20))  # output_size: the layer's own forward
    assert sized.shape == (3, 6, 20, 20)


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0)], ids=["as_speed_applies_them", "reversed"])
def test_the_rules_compose_in_any_order(order):
    torch.manual_seed(0)
    layer = nn.ConvTranspose2d(10, 4, 3)  # a bias, and whole-image for a 1x1 input
    twin = copy.deepcopy(layer)
    rules = (deconv_bias_apart, native_single_channel_deconv, whole_image_convs_as_matmul)
    for i in order:
        rules[i](layer)
    for x in (torch.randn(2, 10, 1, 1), torch.randn(2, 10, 4, 4)):  # the product, then the bias rule
        with OpLog() as log:
            out = layer(x)
        assert log.convolutions() == (0 if x.shape[-1] == 1 else 1)
        torch.testing.assert_close(out, twin(x), rtol=1e-5, atol=1e-6)


def test_a_copy_of_a_rewritten_model_computes_with_its_own_weights():
    torch.manual_seed(0)
    model = gan_pair(bias=True)
    plain = copy.deepcopy(model)  # no rules: the function the copy must compute
    deconv_bias_apart(model)
    native_single_channel_deconv(model)
    whole_image_convs_as_matmul(model)
    clone = copy.deepcopy(model)
    z = torch.randn(3, 100)
    before = model(z)
    with torch.no_grad():
        for a, b in zip(clone.parameters(), plain.parameters()):
            a.mul_(2.0)
            b.mul_(2.0)
    torch.testing.assert_close(clone(z), plain(z), rtol=1e-5, atol=1e-5,
                               msg="a copy's rewritten layers must compute with the copy's weights")
    torch.testing.assert_close(model(z), before)


@pytest.mark.parametrize("rule", ["native_deconv", "matmul_convs", "deconv_bias_apart"])
def test_each_rule_is_on_for_the_cpu_only_and_can_be_turned_off(rule):
    from vaegan.train.engine import RunConfig, resolve_speed

    cpu = torch.device("cpu")
    assert getattr(resolve_speed(RunConfig().with_defaults(), cpu, verbose=False), rule) is True
    assert getattr(resolve_speed(RunConfig(**{rule: False}).with_defaults(), cpu, verbose=False), rule) is False
    assert getattr(resolve_speed(RunConfig(compile=True).with_defaults(), cpu, verbose=False), rule) is False
    assert getattr(resolve_speed(RunConfig(**{rule: True}).with_defaults(), torch.device("meta"),
                                 verbose=False), rule) is False


def test_autocast_forward_survives_a_copy_and_returns_float32():
    from vaegan.train.engine import autocast_forward

    torch.manual_seed(0)
    model = autocast_forward(nn.Sequential(nn.Linear(4, 3)), "cpu", torch.bfloat16)
    x = torch.randn(2, 4)
    assert model(x).dtype == torch.float32  # computed in bf16 under autocast, cast back
    clone = copy.deepcopy(model)
    with torch.no_grad():
        clone[0].weight.mul_(2.0)
    assert not torch.allclose(clone(x), model(x)), "the copy still computes with the original's weights"
    assert list(clone.state_dict()) == ["0.weight", "0.bias"]


def test_rewritten_models_pickle_and_take_empty_batches(tmp_path):
    from vaegan.train.engine import autocast_forward

    torch.manual_seed(0)
    model = gan_pair(bias=True)
    deconv_bias_apart(model)
    native_single_channel_deconv(model)
    whole_image_convs_as_matmul(model)
    autocast_forward(model, "cpu", torch.bfloat16)
    autocast_forward(model, "cpu", torch.bfloat16)  # twice: still one autocast, no recursion
    z = torch.randn(3, 100)
    torch.save(model, tmp_path / "model.pt")
    loaded = torch.load(tmp_path / "model.pt", weights_only=False)
    torch.testing.assert_close(loaded(z), model(z))
    assert model(torch.randn(0, 100)).shape == (0, 1)  # an empty batch, like the plain layers
    layer = nn.ConvTranspose2d(6, 4, 3)
    whole_image_convs_as_matmul(layer)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the product's dtype, as the convolution's
        assert layer(torch.randn(2, 6, 1, 1)).dtype == torch.bfloat16
