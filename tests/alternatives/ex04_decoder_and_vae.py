from . import alternative

ALTERNATIVES = [
    # ---------------------------------------------------------------- Decoder
    alternative("Decoder", "one nn.Sequential with nn.Unflatten and nn.ReLU modules", """
class Decoder(nn.Module):
    def __init__(self, latent_dim=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 8 * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (8, 7, 7)),  # (B, 392) -> (B, 8, 7, 7)
            nn.ConvTranspose2d(8, 16, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(16, 1, 4, 2, 1),
        )

    def forward(self, z):
        return self.net(z)
"""),
    alternative("Decoder", "separate layers, F.relu, view(-1, 8, 7, 7), deconvs registered before the linear", """
import torch.nn.functional as F
class Decoder(nn.Module):
    def __init__(self, latent_dim: int = 32):
        super().__init__()
        self.up2 = nn.ConvTranspose2d(16, 1, kernel_size=4, stride=2, padding=1)
        self.up1 = nn.ConvTranspose2d(8, 16, kernel_size=4, stride=2, padding=1)
        self.project = nn.Linear(latent_dim, 392)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.project(z)).view(-1, 8, 7, 7)
        h = F.relu(self.up1(h))  # (B, 16, 14, 14)
        return self.up2(h)  # (B, 1, 28, 28) logits
"""),
    alternative("Decoder", "nn.ModuleList of deconvs, ReLU(inplace=True), reshape(z.size(0), ...)", """
class Decoder(nn.Module):
    def __init__(self, latent_dim=32, channels=(8, 16, 1)):
        super().__init__()
        self.latent_dim = latent_dim
        self.fc = nn.Linear(latent_dim, channels[0] * 49)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1)
                                 for a, b in zip(channels[:-1], channels[1:]))
        self.act = nn.ReLU(inplace=True)

    def forward(self, z):
        h = self.act(self.fc(z)).reshape(z.size(0), 8, 7, 7)
        for i, up in enumerate(self.ups):
            h = up(h)
            if i < len(self.ups) - 1:
                h = self.act(h)
        return h
"""),
    alternative("Decoder", "torch.unflatten, clamp(min=0) as the ReLU", """
class Decoder(nn.Module):
    def __init__(self, latent_dim=32):
        super().__init__()
        self.fc = nn.Linear(latent_dim, 392)
        self.deconv1 = nn.ConvTranspose2d(8, 16, 4, 2, 1)
        self.deconv2 = nn.ConvTranspose2d(16, 1, 4, 2, 1)

    def forward(self, z):
        h = torch.unflatten(self.fc(z).clamp(min=0), 1, (8, 7, 7))
        return self.deconv2(self.deconv1(h).clamp(min=0))
"""),
    # ---------------------------------------------------------------- VAE
    alternative("VAE", "inline reparameterization, device from the decoder's weights, latent_dim kept as z_dim", """
class VAE(nn.Module):
    def __init__(self, latent_dim: int = 32):
        super().__init__()
        self.z_dim = latent_dim
        self.encoder = Encoder(latent_dim)
        self.decoder = Decoder(latent_dim)

    def forward(self, x):
        mu, logvar = self.encoder(x)
        std = torch.exp(0.5 * logvar)
        z = mu + std * torch.randn_like(std)
        x_logits = self.decoder(z)
        return x_logits, mu, logvar

    def sample(self, n, device=None):
        weight = next(self.decoder.parameters())
        with torch.no_grad():
            z = torch.randn(n, self.z_dim, device=device or weight.device, dtype=weight.dtype)
            return self.decoder(z).sigmoid()
"""),
    alternative("VAE", "encode/decode helper methods, torch.inference_mode in sample", """
class VAE(nn.Module):
    def __init__(self, latent_dim=32):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = Encoder(latent_dim=latent_dim)
        self.decoder = Decoder(latent_dim=latent_dim)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        return self.decode(reparameterize(mu, logvar)), mu, logvar

    def sample(self, n: int, device=None) -> torch.Tensor:
        if device is None:
            device = next(self.parameters()).device
        with torch.inference_mode():
            z = torch.randn((n, self.latent_dim), device=device)
            return torch.sigmoid(self.decode(z))
"""),
    alternative("VAE", "sample switches to eval() and restores the mode; calls self.decoder.forward", """
class VAE(nn.Module):
    def __init__(self, latent_dim=32):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = Encoder(latent_dim)
        self.decoder = Decoder(latent_dim)

    def forward(self, x):
        mu, logvar = self.encoder.forward(x)
        z = reparameterize(mu, logvar, eps=torch.randn_like(mu))
        return self.decoder.forward(z), mu, logvar

    @torch.no_grad()
    def sample(self, n, device=None):
        was_training = self.training
        self.eval()
        try:
            p = next(self.parameters())
            z = p.new_empty(n, self.latent_dim, device=device if device is not None else p.device).normal_()
            images = torch.sigmoid(self.decoder.forward(z))
        finally:
            self.train(was_training)
        return images
"""),
    alternative("VAE", "latent size read from the encoder head, torch.distributions rsample and prior", """
from torch.distributions import Normal
class VAE(nn.Module):
    def __init__(self, latent_dim=32):
        super().__init__()
        self.encoder, self.decoder = Encoder(latent_dim), Decoder(latent_dim)

    def forward(self, x):
        mu, logvar = self.encoder(x)
        z = Normal(mu, (0.5 * logvar).exp()).rsample()
        return self.decoder(z), mu, logvar

    @torch.no_grad()
    def sample(self, n, device=None):
        weight = next(self.parameters())
        dim = self.encoder.fc_mu.out_features
        zeros = torch.zeros(n, dim, device=weight.device if device is None else device, dtype=weight.dtype)
        z = Normal(zeros, torch.ones_like(zeros)).sample()
        return torch.sigmoid(self.decoder(z))
"""),

    # ---------------------------------------------------------------- red-team round
    alternative("Decoder", "layers registered, called functionally (F.linear, F.conv_transpose2d), unflatten", """
import torch.nn.functional as F
class Decoder(nn.Module):
    def __init__(self, latent_dim=32):
        super().__init__()
        self.fc = nn.Linear(latent_dim, 392)
        self.up1 = nn.ConvTranspose2d(8, 16, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1)

    def forward(self, z):
        h = F.relu(F.linear(z, self.fc.weight, self.fc.bias)).unflatten(-1, (8, 7, 7))
        h = F.relu(F.conv_transpose2d(h, self.up1.weight, self.up1.bias, stride=2, padding=1))
        return F.conv_transpose2d(h, self.up2.weight, self.up2.bias, stride=2, padding=1)
"""),
    alternative("VAE", "Independent(Normal).rsample, a return_z keyword, z made like the decoder's weights", """
from torch.distributions import Independent, Normal
class VAE(nn.Module):
    def __init__(self, latent_dim=32):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = Encoder(latent_dim)
        self.decoder = Decoder(latent_dim)

    def forward(self, x, return_z=False):
        mu, logvar = self.encoder(x)
        z = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1).rsample()
        out = self.decoder(z)
        return (out, mu, logvar, z) if return_z else (out, mu, logvar)

    @torch.no_grad()
    def sample(self, n, device=None):
        p = next(self.decoder.parameters())
        if device is None:
            z = torch.randn(n, self.latent_dim).to(p)
        else:
            z = p.new_zeros(n, self.latent_dim, device=device).normal_()
        return self.decoder(z).sigmoid()
"""),
]
