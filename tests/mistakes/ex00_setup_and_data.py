from . import mistake

MISTAKES = [
    mistake("count_parameters", "counts buffers too (state_dict)", """
def count_parameters(model):
    return sum(t.numel() for t in model.state_dict().values())
""", "counts_every_parameter", "trainable_only"),
    mistake("count_parameters", "ignores requires_grad", """
def count_parameters(model):
    return sum(p.numel() for p in model.parameters())
""", "trainable_only"),
    mistake("count_parameters", "counts parameter tensors, not elements", """
def count_parameters(model):
    return len([p for p in model.parameters() if p.requires_grad])
""", "counts_every_parameter", "trainable_only"),
    mistake("count_parameters", "returns a tensor", """
import torch
def count_parameters(model):
    return torch.tensor(sum(p.numel() for p in model.parameters() if p.requires_grad))
""", "returns_python_int"),
    mistake("count_parameters", "counts a shared layer once per use", """
def count_parameters(model):
    return sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False) if p.requires_grad)
""", "counts_every_parameter"),
    mistake("count_parameters", "counts weights but not biases", """
def count_parameters(model):
    return sum(p.numel() for name, p in model.named_parameters() if p.requires_grad and "weight" in name)
""", "counts_every_parameter", "trainable_only"),
    mistake("to_tanh_range", "forgets the shift", """
def to_tanh_range(x):
    return 2 * x
""", "values"),
    mistake("to_tanh_range", "casts to float32", """
def to_tanh_range(x):
    return (2 * x - 1).float()
""", "keeps_dtype_and_device"),
    mistake("to_tanh_range", "builds a CPU tensor of ones", """
import torch
def to_tanh_range(x):
    return 2 * x - torch.ones(x.shape, dtype=x.dtype)
""", "keeps_dtype_and_device"),
    mistake("to_tanh_range", "modifies the input in place", """
def to_tanh_range(x):
    return x.mul_(2).sub_(1)
""", "leaves_input_unchanged"),
    mistake("from_tanh_range", "subtracts instead of adding", """
def from_tanh_range(x):
    return (x - 1) / 2
""", "values"),
    mistake("from_tanh_range", "casts to float32", """
def from_tanh_range(x):
    return ((x + 1) / 2).to(torch.float32)
""", "keeps_dtype_and_device"),
    mistake("from_tanh_range", "modifies the input in place", """
def from_tanh_range(x):
    x += 1
    return x / 2
""", "leaves_input_unchanged"),

    # ---------------------------------------------------------------- red-team round: rescaling, layer types, NumPy
    mistake("to_tanh_range", "min-max rescales the batch (x - x.min()) / (x.max() - x.min()) * 2 - 1", """
def to_tanh_range(x):
    return (x - x.min()) / (x.max() - x.min()) * 2 - 1
""", "values"),
    mistake("from_tanh_range", "min-max rescales the batch (x - x.min()) / (x.max() - x.min())", """
def from_tanh_range(x):
    return (x - x.min()) / (x.max() - x.min())
""", "values"),
    mistake("from_tanh_range", "min-max rescales each image to [0, 1]", """
def from_tanh_range(x):
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    hi = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x - lo) / (hi - lo)
""", "values"),
    mistake("to_tanh_range", "computed in NumPy and converted back", """
def to_tanh_range(x):
    return torch.from_numpy(2 * x.numpy() - 1)
""", "keeps_dtype_and_device"),
    mistake("count_parameters", "counts the parameters of Linear and Conv2d layers only (misses BatchNorm)", """
def count_parameters(model):
    return sum(p.numel() for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))
               for p in m.parameters(recurse=False) if p.requires_grad)
""", "counts_every_parameter"),
    mistake("count_parameters", "parameters_to_vector(...).numel() (frozen ones too; fails without parameters)", """
def count_parameters(model):
    return torch.nn.utils.parameters_to_vector(model.parameters()).numel()
""", "counts_every_parameter", "trainable_only"),
]
