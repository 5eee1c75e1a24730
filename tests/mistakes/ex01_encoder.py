from . import mistake

_HEADER = """
import torch
from torch import nn
"""


def _encoder(init: str, forward: str) -> str:
    return _HEADER + f"""
class Encoder(nn.Module):
    def __init__(self, latent_dim=32):
        super().__init__()
{init}
    def forward(self, x):
{forward}
"""


_STANDARD_INIT = """
        self.conv1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 8, 3, stride=2, padding=1)
        self.fc_mu = nn.Linear(392, latent_dim)
        self.fc_logvar = nn.Linear(392, latent_dim)
"""

MISTAKES = [
    mistake("Encoder", "no ReLU after the second convolution", _encoder(_STANDARD_INIT, """
        h = torch.relu(self.conv1(x))
        h = self.conv2(h).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)
"""), "reference_outputs"),
    mistake("Encoder", "logvar head exponentiated (returns the variance)", _encoder(_STANDARD_INIT, """
        h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1)
        return self.fc_mu(h), torch.exp(self.fc_logvar(h))
"""), "reference_outputs"),
    mistake("Encoder", "one head used for both mu and logvar", _encoder(_STANDARD_INIT, """
        h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1)
        return self.fc_mu(h), self.fc_mu(h)
"""), "reference_outputs"),
    mistake("Encoder", "ReLU on the heads", _encoder(_STANDARD_INIT, """
        h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1)
        return torch.relu(self.fc_mu(h)), torch.relu(self.fc_logvar(h))
"""), "reference_outputs"),
    mistake("Encoder", "flattens channels-last", _encoder(_STANDARD_INIT, """
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        h = h.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        return self.fc_mu(h), self.fc_logvar(h)
"""), "reference_outputs"),
    mistake("Encoder", "kernel size 4 instead of 3", _encoder("""
        self.conv1 = nn.Conv2d(1, 16, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 8, 4, stride=2, padding=1)
        self.fc_mu = nn.Linear(392, latent_dim)
        self.fc_logvar = nn.Linear(392, latent_dim)
""", """
        h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)
"""), "architecture", "reference_outputs"),
    mistake("Encoder", "stride 1 in the second convolution", _encoder("""
        self.conv1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 8, 3, stride=1, padding=1)
        self.fc_mu = nn.Linear(392, latent_dim)
        self.fc_logvar = nn.Linear(392, latent_dim)
""", """
        h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)
"""), "output_shapes", "reference_outputs", "keeps_dtype_and_device"),
    mistake("Encoder", "heads hard-code a latent size of 32", _encoder(
        _STANDARD_INIT.replace("nn.Linear(392, latent_dim)", "nn.Linear(392, 32)"), """
        h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)
"""), "architecture", "reference_outputs", "output_shapes"),
    mistake("Encoder", "default latent_dim 20 instead of 32", _encoder(
        _STANDARD_INIT, """
        h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)
""").replace("latent_dim=32", "latent_dim=20"), "output_shapes"),
    mistake("Encoder", "squeezes the features (breaks a batch of one)", _encoder(_STANDARD_INIT, """
        h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1).squeeze()
        return self.fc_mu(h), self.fc_logvar(h)
"""), "output_shapes"),
    mistake("Encoder", "casts the input to float32", _encoder(_STANDARD_INIT, """
        x = x.float()
        h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)
"""), "keeps_dtype_and_device"),
    mistake("Encoder", "one fused Linear(392, 2 * latent_dim) head, chunked (not the fixed two heads)", _encoder("""
        self.conv1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 8, 3, stride=2, padding=1)
        self.heads = nn.Linear(392, 2 * latent_dim)
""", """
        h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1)
        mu, logvar = self.heads(h).chunk(2, dim=1)
        return mu, logvar
"""), "architecture", "reference_outputs"),

    # ---------------------------------------------------------------- red-team round
    mistake("Encoder", "rescales the input to [-1, 1] first (2x - 1)", _encoder(_STANDARD_INIT, """
        x = 2 * x - 1
        h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)
"""), "reference_outputs"),
    mistake("Encoder", "LeakyReLU(0.2) instead of ReLU", _encoder(_STANDARD_INIT, """
        h = nn.functional.leaky_relu(self.conv2(nn.functional.leaky_relu(self.conv1(x), 0.2)), 0.2).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)
"""), "reference_outputs"),
    mistake("Encoder", "softplus on the logvar head (logvar forced positive)", _encoder(_STANDARD_INIT, """
        h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1)
        return self.fc_mu(h), nn.functional.softplus(self.fc_logvar(h))
"""), "reference_outputs"),
    mistake("Encoder", "logvar bounded with 5 * tanh", _encoder(_STANDARD_INIT, """
        h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1)
        return self.fc_mu(h), 5 * torch.tanh(self.fc_logvar(h))
"""), "reference_outputs"),
]
