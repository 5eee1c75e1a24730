from . import alternative

ALTERNATIVES = [
    # ---------------------------------------------------------------- sample_noise
    alternative("sample_noise", "torch.empty(...).normal_() with type hints", """
def sample_noise(batch_size: int, noise_dim: int = 100, device: torch.device | str | None = None) -> torch.Tensor:
    return torch.empty(batch_size, noise_dim, device=device).normal_()  # (B, noise_dim)
"""),
    alternative("sample_noise", "torch.normal(0, 1, size=...) with keyword arguments", """
def sample_noise(batch_size, noise_dim=100, device=None):
    return torch.normal(mean=0.0, std=1.0, size=(batch_size, noise_dim), device=device)
"""),
    alternative("sample_noise", "randn of a shape tuple, explicit float32, extra dtype keyword", """
def sample_noise(batch_size, noise_dim=100, device=None, dtype=torch.float32):
    shape = (batch_size, noise_dim)
    return torch.randn(shape, dtype=dtype, device=torch.device(device) if device is not None else None)
"""),
    alternative("sample_noise", "drawn on the CPU, then .to(device)", """
def sample_noise(batch_size, noise_dim=100, device=None):
    z = torch.randn(batch_size, noise_dim)  # (B, noise_dim)
    return z if device is None else z.to(device)
"""),
    # ---------------------------------------------------------------- Generator
    alternative("Generator", "separate layers, F.relu, torch.tanh, z[:, :, None, None]", """
import torch.nn.functional as F
class Generator(nn.Module):
    def __init__(self, noise_dim: int = 100):
        super().__init__()
        self.deconv1 = nn.ConvTranspose2d(noise_dim, 128, 7)
        self.bn1 = nn.BatchNorm2d(128)
        self.deconv2 = nn.ConvTranspose2d(128, 64, 4, 2, 1)
        self.bn2 = nn.BatchNorm2d(64)
        self.deconv3 = nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1)

    def forward(self, z):
        x = z[:, :, None, None]  # (B, noise_dim, 1, 1)
        x = F.relu(self.bn1(self.deconv1(x)))  # (B, 128, 7, 7)
        x = F.relu(self.bn2(self.deconv2(x)))  # (B, 64, 14, 14)
        return torch.tanh(self.deconv3(x))  # (B, 1, 28, 28)
"""),
    alternative("Generator", "nn.Unflatten first in one nn.Sequential, ReLU(inplace=True)", """
class Generator(nn.Module):
    def __init__(self, noise_dim=100):
        super().__init__()
        self.model = nn.Sequential(
            nn.Unflatten(1, (noise_dim, 1, 1)),
            nn.ConvTranspose2d(noise_dim, 128, kernel_size=7, stride=1, padding=0, bias=True),
            nn.BatchNorm2d(128, eps=1e-5, momentum=0.1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(128, 64, kernel_size=4, stride=2, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(True),
            nn.ConvTranspose2d(64, 1, kernel_size=4, stride=2, padding=1),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.model(z)
"""),
    alternative("Generator", "BatchNorms registered before the convolutions, ModuleLists, view(-1, ...)", """
class Generator(nn.Module):
    def __init__(self, noise_dim=100):
        super().__init__()
        self.nz = noise_dim
        self.norms = nn.ModuleList([nn.BatchNorm2d(128), nn.BatchNorm2d(64)])
        self.ups = nn.ModuleList([
            nn.ConvTranspose2d(noise_dim, 128, 7, 1, 0),
            nn.ConvTranspose2d(128, 64, 4, 2, 1),
            nn.ConvTranspose2d(64, 1, 4, 2, 1),
        ])
        self.act = nn.ReLU()
        self.out = nn.Tanh()

    def forward(self, z):
        h = z.view(-1, self.nz, 1, 1)
        for up, norm in zip(self.ups, self.norms):
            h = self.act(norm(up(h)))
        return self.out(self.ups[-1](h))
"""),
    alternative("Generator", "blocks from a helper function, reshape with -1 channels", """
def _up_block(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> nn.Sequential:
    \"\"\"ConvTranspose2d -> BatchNorm2d -> ReLU.\"\"\"
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, kernel, stride, padding), nn.BatchNorm2d(c_out), nn.ReLU())


class Generator(nn.Module):
    def __init__(self, noise_dim=100):
        super().__init__()
        self.block1 = _up_block(noise_dim, 128, 7, 1, 0)  # 1 -> 7
        self.block2 = _up_block(128, 64, 4, 2, 1)  # 7 -> 14
        self.to_image = nn.Sequential(nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())  # 14 -> 28

    def forward(self, z):
        return self.to_image(self.block2(self.block1(z.reshape(z.size(0), -1, 1, 1))))
"""),
    alternative("Generator", "DCGAN initialization inside __init__", """
class Generator(nn.Module):
    def __init__(self, noise_dim=100):
        super().__init__()
        self.noise_dim = noise_dim
        self.net = nn.Sequential(
            nn.ConvTranspose2d(noise_dim, 128, 7, 1, 0), nn.BatchNorm2d(128), nn.ReLU(True),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(True),
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(),
        )
        for m in self.modules():  # N(0, 0.02) convolutions, N(1, 0.02) BatchNorm scales, zero biases
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, z):
        return self.net(z.view(z.shape[0], -1, 1, 1))
"""),
    alternative("sample_noise", "randn of (noise_dim, batch_size), transposed", """
def sample_noise(batch_size, noise_dim=100, device=None):
    return torch.randn(noise_dim, batch_size, device=device).T  # (B, noise_dim), not contiguous
"""),
    alternative("Generator", "accepts (B, noise_dim) or (B, noise_dim, 1, 1) noise", """
class Generator(nn.Module):
    def __init__(self, noise_dim=100):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(noise_dim, 128, 7, 1, 0), nn.BatchNorm2d(128), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(),
        )

    def forward(self, z):
        if z.dim() == 2:
            z = z[:, :, None, None]  # (B, noise_dim, 1, 1)
        return self.net(z)
"""),
    alternative("Generator", "a subclass of nn.Sequential, stride 2 on the 1x1 first layer (same output)", """
class Generator(nn.Sequential):
    def __init__(self, noise_dim=100):
        super().__init__(
            nn.Unflatten(1, (noise_dim, 1, 1)),
            nn.ConvTranspose2d(noise_dim, 128, 7, 2, 0), nn.BatchNorm2d(128), nn.ReLU(),  # 1x1 input: stride unused
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(),
        )
        self.noise_dim = noise_dim
"""),
    alternative("Generator", "OrderedDict of named layers, view (B, 1, 1, nz) then permute", """
from collections import OrderedDict
class Generator(nn.Module):
    def __init__(self, noise_dim=100):
        super().__init__()
        self.layers = nn.Sequential(OrderedDict([
            ("up1", nn.ConvTranspose2d(noise_dim, 128, (7, 7))), ("bn1", nn.BatchNorm2d(128)), ("relu1", nn.ReLU()),
            ("up2", nn.ConvTranspose2d(128, 64, (4, 4), (2, 2), (1, 1))), ("bn2", nn.BatchNorm2d(64)), ("relu2", nn.ReLU()),
            ("up3", nn.ConvTranspose2d(64, 1, 4, 2, 1)), ("tanh", nn.Tanh()),
        ]))

    def forward(self, z):
        return self.layers(z.view(z.shape[0], 1, 1, -1).permute(0, 3, 1, 2))  # (B, nz, 1, 1)
"""),
]
