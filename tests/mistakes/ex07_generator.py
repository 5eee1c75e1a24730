from . import mistake

_GENERATOR = '''
class Generator(nn.Module):
    def __init__(self, noise_dim=100):
        super().__init__()
        self.noise_dim = noise_dim
        self.net = nn.Sequential(
            {layers}
        )

    def forward(self, z):
        {forward}
'''
_LAYERS = [
    "nn.ConvTranspose2d(noise_dim, 128, 7, 1, 0)", "nn.BatchNorm2d(128)", "nn.ReLU()",
    "nn.ConvTranspose2d(128, 64, 4, 2, 1)", "nn.BatchNorm2d(64)", "nn.ReLU()",
    "nn.ConvTranspose2d(64, 1, 4, 2, 1)", "nn.Tanh()",
]
_FORWARD = "return self.net(z.view(z.shape[0], self.noise_dim, 1, 1))"


def generator(replace=None, forward=_FORWARD):
    """A Sequential generator with some layers replaced ({index: new layer or None to drop})."""
    layers = [(replace or {}).get(i, layer) for i, layer in enumerate(_LAYERS)]
    return _GENERATOR.format(layers=",\n            ".join(x for x in layers if x), forward=forward)


MISTAKES = [
    # ---------------------------------------------------------------- sample_noise
    mistake("sample_noise", "uniform noise (torch.rand)", """
def sample_noise(batch_size, noise_dim=100, device=None):
    return torch.rand(batch_size, noise_dim, device=device)
""", "standard_normal"),
    mistake("sample_noise", "uniform in [-1, 1]", """
def sample_noise(batch_size, noise_dim=100, device=None):
    return torch.rand(batch_size, noise_dim, device=device) * 2 - 1
""", "standard_normal"),
    mistake("sample_noise", "ignores device (CPU, then nothing)", """
def sample_noise(batch_size, noise_dim=100, device=None):
    return torch.randn(batch_size, noise_dim)
""", "respects_device"),
    mistake("sample_noise", "reseeds inside", """
def sample_noise(batch_size, noise_dim=100, device=None):
    torch.manual_seed(0)
    return torch.randn(batch_size, noise_dim, device=device)
""", "fresh_each_call"),
    mistake("sample_noise", "hard-codes noise_dim 100", """
def sample_noise(batch_size, noise_dim=100, device=None):
    return torch.randn(batch_size, 100, device=device)
""", "shape"),
    mistake("sample_noise", "returns (B, noise_dim, 1, 1)", """
def sample_noise(batch_size, noise_dim=100, device=None):
    return torch.randn(batch_size, noise_dim, 1, 1, device=device)
""", "shape"),
    mistake("sample_noise", "float64 noise", """
def sample_noise(batch_size, noise_dim=100, device=None):
    return torch.randn(batch_size, noise_dim, device=device, dtype=torch.float64)
""", "shape"),
    # ---------------------------------------------------------------- Generator
    mistake("Generator", "sigmoid instead of tanh", generator({7: "nn.Sigmoid()"}),
            "tanh_range", "matches_reference_eval", "matches_reference_train"),
    mistake("Generator", "no output activation", generator({7: None}),
            "tanh_range", "matches_reference_eval", "matches_reference_train"),
    mistake("Generator", "BatchNorm after ReLU", generator({1: "nn.ReLU()", 2: "nn.BatchNorm2d(128)",
                                                            4: "nn.ReLU()", 5: "nn.BatchNorm2d(64)"}),
            "matches_reference_eval", "matches_reference_train"),
    mistake("Generator", "LeakyReLU instead of ReLU", generator({2: "nn.LeakyReLU(0.2)", 5: "nn.LeakyReLU(0.2)"}),
            "matches_reference_eval", "matches_reference_train"),
    mistake("Generator", "no BatchNorm", generator({1: None, 4: None}),
            "holds_reference_weights", "matches_reference_eval", "matches_reference_train"),
    mistake("Generator", "convolutions without bias", generator({
        0: "nn.ConvTranspose2d(noise_dim, 128, 7, 1, 0, bias=False)", 3: "nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False)"}),
            "holds_reference_weights", "matches_reference_eval", "matches_reference_train"),
    mistake("Generator", "padding 0 in the upsampling layers", generator({
        3: "nn.ConvTranspose2d(128, 64, 4, 2, 0)", 6: "nn.ConvTranspose2d(64, 1, 4, 2, 0)"}),
            "output_shape", "matches_reference_eval", "matches_reference_train"),
    mistake("Generator", "hard-codes 100 input channels", generator({0: "nn.ConvTranspose2d(100, 128, 7, 1, 0)"},
                                                                   forward="return self.net(z.view(-1, 100, 1, 1))"),
            "noise_dim_argument"),
    mistake("Generator", "casts the noise to float32", generator(
        forward="return self.net(z.float().view(z.shape[0], self.noise_dim, 1, 1))"), "keeps_dtype"),
    mistake("Generator", "squeezes the channel dimension", generator(
        forward="return self.net(z.view(z.shape[0], self.noise_dim, 1, 1)).squeeze(1)"),
            "output_shape", "matches_reference_eval", "matches_reference_train"),
    mistake("sample_noise", "clamped to [-2, 2] (tails cut off)", """
def sample_noise(batch_size, noise_dim=100, device=None):
    return torch.randn(batch_size, noise_dim, device=device).clamp(-2, 2)
""", "standard_normal"),
    mistake("Generator", "forward returns a detached output", generator(
        forward="return self.net(z.view(z.shape[0], self.noise_dim, 1, 1)).detach()"), "backpropagates"),
    mistake("Generator", "forward runs under torch.no_grad()", generator(
        forward="with torch.no_grad():\n            return self.net(z.view(z.shape[0], self.noise_dim, 1, 1))"),
            "backpropagates"),
    mistake("Generator", "BatchNorm momentum 0.9 (the Keras convention)", generator({
        1: "nn.BatchNorm2d(128, momentum=0.9)", 4: "nn.BatchNorm2d(64, momentum=0.9)"}), "matches_reference_train"),
    mistake("Generator", "dropout after the first ReLU", generator({2: "nn.ReLU(), nn.Dropout(0.3)"}),
            "matches_reference_train"),
    mistake("Generator", "BatchNorm on the output layer too", generator({7: "nn.BatchNorm2d(1), nn.Tanh()"}),
            "holds_reference_weights", "matches_reference_eval", "matches_reference_train"),
    mistake("Generator", "Hardtanh instead of tanh", generator({7: "nn.Hardtanh()"}),
            "matches_reference_eval", "matches_reference_train"),
    mistake("Generator", "forward switches to eval mode", generator(
        forward="self.eval()\n        return self.net(z.view(z.shape[0], self.noise_dim, 1, 1))"), "matches_reference_train"),
]
