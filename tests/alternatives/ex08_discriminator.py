from . import alternative

ALTERNATIVES = [
    alternative("Discriminator", "separate layers, F.leaky_relu, view(-1, 1)", """
import torch.nn.functional as F
class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 4, 2, 1)
        self.conv2 = nn.Conv2d(64, 128, 4, 2, 1)
        self.bn2 = nn.BatchNorm2d(128)
        self.conv3 = nn.Conv2d(128, 1, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv1(x), 0.2)  # (B, 64, 14, 14)
        h = F.leaky_relu(self.bn2(self.conv2(h)), negative_slope=0.2)  # (B, 128, 7, 7)
        return self.conv3(h).view(-1, 1)  # (B, 1)
"""),
    alternative("Discriminator", "LeakyReLU(0.2, inplace=True) and nn.Flatten in one nn.Sequential", """
class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, 64, kernel_size=4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 128, kernel_size=4, stride=2, padding=1),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(128, 1, kernel_size=7, stride=1, padding=0),
            nn.Flatten(),
        )

    def forward(self, x):
        return self.main(x)
"""),
    alternative("Discriminator", "BatchNorm registered first, ModuleList, flatten(1)", """
class Discriminator(nn.Module):
    def __init__(self, slope: float = 0.2):
        super().__init__()
        self.norm = nn.BatchNorm2d(128)
        self.convs = nn.ModuleList([nn.Conv2d(1, 64, 4, 2, 1), nn.Conv2d(64, 128, 4, 2, 1), nn.Conv2d(128, 1, 7, 1, 0)])
        self.act = nn.LeakyReLU(slope)

    def forward(self, x):
        x = self.act(self.convs[0](x))
        x = self.act(self.norm(self.convs[1](x)))
        return self.convs[2](x).flatten(1)  # (B, 1, 1, 1) -> (B, 1)
"""),
    alternative("Discriminator", "features and a head, squeeze of the spatial dimensions", """
class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(negative_slope=0.2),
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(negative_slope=0.2),
        )
        self.head = nn.Conv2d(128, 1, 7)

    def forward(self, x):
        return self.head(self.features(x)).squeeze(-1).squeeze(-1)  # (B, 1)
"""),
    alternative("Discriminator", "DCGAN initialization inside __init__, view(-1, 1)", """
class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2, True),
            nn.Conv2d(128, 1, 7, 1, 0),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.net(x).view(-1, 1)
"""),
    alternative("Discriminator", "a subclass of nn.Sequential ending in nn.Flatten(1)", """
class Discriminator(nn.Sequential):
    def __init__(self):
        super().__init__(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
            nn.Conv2d(128, 1, 7), nn.Flatten(1),
        )
"""),
    alternative("Discriminator", "F.leaky_relu(inplace=True), mean over the 1x1 map", """
import torch.nn.functional as F
class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(1, 64, 4, 2, 1), nn.Conv2d(64, 128, 4, 2, 1), nn.Conv2d(128, 1, 7)
        self.bn = nn.BatchNorm2d(128)

    def forward(self, x):
        h = F.leaky_relu(self.c1(x), 0.2, inplace=True)
        h = F.leaky_relu(self.bn(self.c2(h)), 0.2, inplace=True)
        return self.c3(h).mean(dim=(2, 3))  # (B, 1, 1, 1) -> (B, 1)
"""),
]
