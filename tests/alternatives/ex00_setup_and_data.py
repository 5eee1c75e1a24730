from . import alternative

ALTERNATIVES = [
    # ---------------------------------------------------------------- count_parameters
    alternative("count_parameters", "loop over named_parameters, int() of a tensor sum", """
def count_parameters(model):
    total = 0
    for _name, p in model.named_parameters():
        if p.requires_grad:
            total += int(torch.tensor(p.shape).prod())
    return total
"""),
    alternative("count_parameters", "math.prod over the shapes of a filtered list", """
import math
def count_parameters(model):
    trainable = filter(lambda p: p.requires_grad, model.parameters())
    return sum(math.prod(p.size()) for p in trainable)
"""),
    alternative("count_parameters", "unique parameters by id, numel of each", """
def count_parameters(model: nn.Module) -> int:
    seen = {id(p): p for p in model.parameters()}
    return sum(p.numel() for p in seen.values() if p.requires_grad)
"""),
    # ---------------------------------------------------------------- to_tanh_range
    alternative("to_tanh_range", "x.mul(2).sub(1)", """
def to_tanh_range(x):
    return x.mul(2).sub(1)
"""),
    alternative("to_tanh_range", "(x - 0.5) / 0.5, like Normalize((0.5,), (0.5,))", """
def to_tanh_range(x):
    return (x - 0.5) / 0.5
"""),
    alternative("to_tanh_range", "torch.lerp towards the range ends", """
def to_tanh_range(x):
    return torch.lerp(-torch.ones_like(x), torch.ones_like(x), x)
"""),
    # ---------------------------------------------------------------- from_tanh_range
    alternative("from_tanh_range", "x * 0.5 + 0.5", """
def from_tanh_range(x):
    return x * 0.5 + 0.5
"""),
    alternative("from_tanh_range", "torch.add(x, 1).div(2)", """
def from_tanh_range(x):
    return torch.add(x, 1).div(2)
"""),
    alternative("from_tanh_range", "in a new tensor via clone().add_(1).mul_(0.5)", """
def from_tanh_range(x):
    return x.clone().add_(1).mul_(0.5)
"""),

    # ---------------------------------------------------------------- red-team round
    alternative("count_parameters", "every module's own parameters (recurse=False) over model.modules()", """
def count_parameters(model):
    return sum(p.numel() for m in model.modules() for p in m.parameters(recurse=False) if p.requires_grad)
"""),
    alternative("to_tanh_range", "an affine map with the range as keyword arguments", """
def to_tanh_range(x, low=-1.0, high=1.0):
    return x * (high - low) + low
"""),
    alternative("from_tanh_range", "torch.addcmul with full_like constants", """
def from_tanh_range(x):
    half = torch.full_like(x, 0.5)
    return torch.addcmul(half, x, half)
"""),
]
