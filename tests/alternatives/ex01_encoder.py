from . import alternative

ALTERNATIVES = [
    # ---------------------------------------------------------------- Encoder
    alternative("Encoder", "separate layers, F.relu, view(B, -1), logvar head registered first", """
import torch.nn.functional as F
class Encoder(nn.Module):
    def __init__(self, latent_dim: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 2, 1)  # 28 -> 14
        self.conv2 = nn.Conv2d(16, 8, 3, 2, 1)  # 14 -> 7
        self.logvar_head = nn.Linear(392, latent_dim)
        self.mu_head = nn.Linear(392, latent_dim)

    def forward(self, x):
        B = x.size(0)
        h = F.relu(self.conv2(F.relu(self.conv1(x))))  # (B, 8, 7, 7)
        h = h.view(B, -1)  # (B, 392)
        mu = self.mu_head(h)
        logvar = self.logvar_head(h)
        return mu, logvar
"""),
    alternative("Encoder", "nn.ModuleList of convs, ReLU(inplace=True), reshape, a tuple of two heads", """
class Encoder(nn.Module):
    def __init__(self, latent_dim=32, in_channels=1):
        super().__init__()
        self.latent_dim = latent_dim
        self.convs = nn.ModuleList([
            nn.Conv2d(in_channels, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=True),
            nn.Conv2d(16, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=True),
        ])
        self.act = nn.ReLU(inplace=True)
        self.heads = nn.ModuleList([nn.Linear(8 * 7 * 7, latent_dim) for _ in range(2)])

    def forward(self, x: torch.Tensor):
        for conv in self.convs:
            x = self.act(conv(x))
        x = x.reshape(x.shape[0], 8 * 7 * 7)
        mu, logvar = (head(x) for head in self.heads)
        return mu, logvar
"""),
    alternative("Encoder", "a helper building the conv blocks, torch.flatten, a ModuleDict of heads", """
def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU())


class Encoder(nn.Module):
    def __init__(self, latent_dim: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_block(1, 16), conv_block(16, 8))
        self.heads = nn.ModuleDict({"logvar": nn.Linear(392, latent_dim), "mu": nn.Linear(392, latent_dim)})

    def forward(self, images):
        features = torch.flatten(self.body(images), start_dim=1)  # (B, 392)
        return self.heads["mu"](features), self.heads["logvar"](features)
"""),
    alternative("Encoder", "one nn.Sequential with nn.Flatten(), layers found by index", """
class Encoder(nn.Module):
    def __init__(self, latent_dim=32):
        super(Encoder, self).__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(True),
            nn.Conv2d(16, 8, 3, stride=2, padding=1), nn.ReLU(True),
            nn.Flatten(start_dim=1),
            nn.Identity(),
        )
        self.fc1 = nn.Linear(392, latent_dim)
        self.fc2 = nn.Linear(392, latent_dim)

    def forward(self, x):
        h = self.net(x)
        return (self.fc1(h), self.fc2(h))
"""),
    alternative("Encoder", "tuple-unpacked conv attributes, one shared nn.ReLU, calls .forward on the convs", """
class Encoder(nn.Module):
    def __init__(self, latent_dim=32):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 16, 3, 2, 1), nn.Conv2d(16, 8, 3, 2, 1)
        self.fc_var = nn.Linear(392, latent_dim)
        self.fc_mean = nn.Linear(392, latent_dim)
        self.relu = nn.ReLU()

    def forward(self, x):
        h = self.relu(self.c2.forward(self.relu(self.c1.forward(x))))
        h = h.flatten(1)
        return self.fc_mean(h), self.fc_var(h)
"""),

    # ---------------------------------------------------------------- red-team round
    alternative("Encoder", "layers registered, called functionally (F.conv2d, F.linear, torch.addmm)", """
import torch.nn.functional as F
class Encoder(nn.Module):
    def __init__(self, latent_dim=32):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 8, 3, stride=2, padding=1)
        self.fc_mu = nn.Linear(392, latent_dim)
        self.fc_logvar = nn.Linear(392, latent_dim)

    def forward(self, x):
        h = F.relu(F.conv2d(x, self.conv1.weight, self.conv1.bias, stride=2, padding=1))
        h = F.relu(F.conv2d(h, self.conv2.weight, self.conv2.bias, stride=2, padding=1))
        h = torch.flatten(h, 1)
        mu = F.linear(h, self.fc_mu.weight, self.fc_mu.bias)
        return mu, torch.addmm(self.fc_logvar.bias, h, self.fc_logvar.weight.t())
"""),
    alternative("Encoder", "channels as a keyword-only argument, each head wrapped in a Sequential", """
class Encoder(nn.Module):
    def __init__(self, latent_dim=32, *, channels=(16, 8)):
        super().__init__()
        c1, c2 = channels
        self.down = nn.Sequential(nn.Conv2d(1, c1, 3, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 3, 2, 1), nn.ReLU())
        self.mu = nn.Sequential(nn.Linear(c2 * 49, latent_dim))
        self.logvar = nn.Sequential(nn.Linear(c2 * 49, latent_dim))

    def forward(self, x):
        h = self.down(x).reshape(len(x), -1)
        return self.mu(h), self.logvar(h)
"""),
]
