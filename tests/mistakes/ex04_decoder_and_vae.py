from . import mistake


def _decoder(init: str, forward: str) -> str:
    return f"""
import torch
from torch import nn
class Decoder(nn.Module):
    def __init__(self, latent_dim=32):
        super().__init__()
{init}
    def forward(self, z):
{forward}
"""


_INIT = """
        self.fc = nn.Linear(latent_dim, 392)
        self.up1 = nn.ConvTranspose2d(8, 16, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1)
"""
_FORWARD = """
        h = torch.relu(self.fc(z)).view(-1, 8, 7, 7)
        return self.up2(torch.relu(self.up1(h)))
"""


def _vae(forward: str = "", sample: str = "", init: str = "") -> str:
    init = init or """
        self.latent_dim = latent_dim
        self.encoder = Encoder(latent_dim)
        self.decoder = Decoder(latent_dim)
"""
    forward = forward or """
        mu, logvar = self.encoder(x)
        return self.decoder(reparameterize(mu, logvar)), mu, logvar
"""
    sample = sample or """
        device = next(self.parameters()).device if device is None else device
        return torch.sigmoid(self.decoder(torch.randn(n, self.latent_dim, device=device)))
"""
    return f"""
import torch
from torch import nn
class VAE(nn.Module):
    def __init__(self, latent_dim=32):
        super().__init__()
{init}
    def forward(self, x):
{forward}
    @torch.no_grad()
    def sample(self, n, device=None):
{sample}
"""


MISTAKES = [
    # ---------------------------------------------------------------- Decoder
    mistake("Decoder", "sigmoid at the end (returns probabilities)", _decoder(_INIT, """
        h = torch.relu(self.fc(z)).view(-1, 8, 7, 7)
        return torch.sigmoid(self.up2(torch.relu(self.up1(h))))
"""), "reference_outputs"),
    mistake("Decoder", "no ReLU after the linear layer", _decoder(_INIT, """
        h = self.fc(z).view(-1, 8, 7, 7)
        return self.up2(torch.relu(self.up1(h)))
"""), "reference_outputs"),
    mistake("Decoder", "reshapes channels-last", _decoder(_INIT, """
        h = torch.relu(self.fc(z)).view(-1, 7, 7, 8).permute(0, 3, 1, 2)
        return self.up2(torch.relu(self.up1(h)))
"""), "reference_outputs"),
    mistake("Decoder", "kernel size 3 in the transposed convolutions", _decoder("""
        self.fc = nn.Linear(latent_dim, 392)
        self.up1 = nn.ConvTranspose2d(8, 16, 3, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1)
""", _FORWARD), "output_shape", "architecture", "reference_outputs"),
    mistake("Decoder", "hard-codes a latent size of 32", _decoder("""
        self.fc = nn.Linear(32, 392)
        self.up1 = nn.ConvTranspose2d(8, 16, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1)
""", _FORWARD), "output_shape", "architecture", "reference_outputs"),
    mistake("Decoder", "casts z to float32", _decoder(_INIT, """
        z = z.float()
        h = torch.relu(self.fc(z)).view(-1, 8, 7, 7)
        return self.up2(torch.relu(self.up1(h)))
"""), "keeps_dtype_and_device"),
    # ---------------------------------------------------------------- VAE
    mistake("VAE", "decodes z = mu (no sampling in forward)", _vae(forward="""
        mu, logvar = self.encoder(x)
        return self.decoder(mu), mu, logvar
"""), "forward_samples_z"),
    mistake("VAE", "exp(logvar) as the standard deviation in forward", _vae(forward="""
        mu, logvar = self.encoder(x)
        z = mu + torch.exp(logvar) * torch.randn_like(mu)
        return self.decoder(z), mu, logvar
"""), "forward_samples_z"),
    mistake("VAE", "forward returns (mu, logvar, x_logits)", _vae(forward="""
        mu, logvar = self.encoder(x)
        return mu, logvar, self.decoder(reparameterize(mu, logvar))
"""), "forward_samples_z"),
    mistake("VAE", "forward applies sigmoid", _vae(forward="""
        mu, logvar = self.encoder(x)
        return torch.sigmoid(self.decoder(reparameterize(mu, logvar))), mu, logvar
"""), "forward_samples_z"),
    mistake("VAE", "sample returns logits", _vae(sample="""
        device = next(self.parameters()).device if device is None else device
        return self.decoder(torch.randn(n, self.latent_dim, device=device))
"""), "sample_images"),
    mistake("VAE", "sample draws uniform noise", _vae(sample="""
        device = next(self.parameters()).device if device is None else device
        return torch.sigmoid(self.decoder(torch.rand(n, self.latent_dim, device=device)))
"""), "sample_images"),
    mistake("VAE", "sample ignores the model's device (device=None goes to torch.randn)", _vae(sample="""
        return torch.sigmoid(self.decoder(torch.randn(n, self.latent_dim, device=device)))
"""), "sample_device"),
    mistake("VAE", "builds the decoder without latent_dim", _vae(init="""
        self.latent_dim = latent_dim
        self.encoder = Encoder(latent_dim)
        self.decoder = Decoder()
"""), "structure"),
    mistake("VAE", "an extra layer on the VAE itself", _vae(init="""
        self.latent_dim = latent_dim
        self.encoder = Encoder(latent_dim)
        self.decoder = Decoder(latent_dim)
        self.to_latent = nn.Linear(latent_dim, latent_dim)
"""), "structure"),
    mistake("VAE", "z = mu in eval mode (the test metric needs z sampled)", _vae(forward="""
        mu, logvar = self.encoder(x)
        z = reparameterize(mu, logvar) if self.training else mu
        return self.decoder(z), mu, logvar
"""), "forward_samples_z_in_eval"),
    mistake("VAE", "no noise in eval mode (eps = 0 unless training)", _vae(forward="""
        mu, logvar = self.encoder(x)
        eps = torch.randn_like(mu) if self.training else torch.zeros_like(mu)
        return self.decoder(reparameterize(mu, logvar, eps)), mu, logvar
"""), "forward_samples_z_in_eval"),
    mistake("VAE", "sample switches to eval() and never back", _vae(sample="""
        self.eval()
        device = next(self.parameters()).device if device is None else device
        return torch.sigmoid(self.decoder(torch.randn(n, self.latent_dim, device=device)))
"""), "sample_keeps_train_mode"),
    mistake("VAE", "sample leaves the decoder in eval mode", _vae(sample="""
        device = next(self.parameters()).device if device is None else device
        return torch.sigmoid(self.decoder.eval()(torch.randn(n, self.latent_dim, device=device)))
"""), "sample_keeps_train_mode"),
    mistake("VAE", "sample hard-codes a latent size of 32", _vae(sample="""
        device = next(self.parameters()).device if device is None else device
        return torch.sigmoid(self.decoder(torch.randn(n, 32, device=device)))
"""), "sample_images"),
    mistake("VAE", "z drawn under torch.no_grad() in forward (the encoder gets no reconstruction gradient)", _vae(forward="""
        mu, logvar = self.encoder(x)
        with torch.no_grad():
            z = reparameterize(mu, logvar)
        return self.decoder(z), mu, logvar
"""), "forward_samples_z"),
    mistake("VAE", "z detached before decoding", _vae(forward="""
        mu, logvar = self.encoder(x)
        z = reparameterize(mu, logvar).detach()
        return self.decoder(z), mu, logvar
"""), "forward_samples_z"),
    mistake("VAE", "forward draws eps on the CPU (torch.randn(mu.shape))", _vae(forward="""
        mu, logvar = self.encoder(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape)
        return self.decoder(z), mu, logvar
"""), "forward_samples_z"),

    # ---------------------------------------------------------------- red-team round
    mistake("Decoder", "ReLU after the last transposed convolution", _decoder(_INIT, """
        h = torch.relu(self.fc(z)).view(-1, 8, 7, 7)
        return torch.relu(self.up2(torch.relu(self.up1(h))))
"""), "reference_outputs"),
    mistake("Decoder", "tanh at the end", _decoder(_INIT, """
        h = torch.relu(self.fc(z)).view(-1, 8, 7, 7)
        return torch.tanh(self.up2(torch.relu(self.up1(h))))
"""), "reference_outputs"),
    mistake("VAE", "forward returns the variance exp(logvar) in place of logvar", _vae(forward="""
        mu, logvar = self.encoder(x)
        return self.decoder(reparameterize(mu, logvar)), mu, logvar.exp()
"""), "forward_samples_z"),
    mistake("VAE", "forward draws one eps for the whole batch", _vae(forward="""
        mu, logvar = self.encoder(x)
        eps = torch.randn_like(mu[:1])
        return self.decoder(mu + torch.exp(0.5 * logvar) * eps), mu, logvar
"""), "forward_samples_z"),
    mistake("VAE", "forward clamps the noise to [-2.5, 2.5]", _vae(forward="""
        mu, logvar = self.encoder(x)
        eps = torch.randn_like(mu).clamp(-2.5, 2.5)
        return self.decoder(mu + torch.exp(0.5 * logvar) * eps), mu, logvar
"""), "forward_samples_z"),
    mistake("VAE", "sample draws z with temperature 0.5", _vae(sample="""
        device = next(self.parameters()).device if device is None else device
        return torch.sigmoid(self.decoder(0.5 * torch.randn(n, self.latent_dim, device=device)))
"""), "sample_images"),
    mistake("VAE", "sample clamps z to [-2.5, 2.5]", _vae(sample="""
        device = next(self.parameters()).device if device is None else device
        z = torch.randn(n, self.latent_dim, device=device).clamp(-2.5, 2.5)
        return torch.sigmoid(self.decoder(z))
"""), "sample_images"),
]
