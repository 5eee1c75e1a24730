from . import mistake

_DISCRIMINATOR = '''
class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            {layers}
        )

    def forward(self, x):
        {forward}
'''
_LAYERS = [
    "nn.Conv2d(1, 64, 4, 2, 1)", "nn.LeakyReLU(0.2)",
    "nn.Conv2d(64, 128, 4, 2, 1)", "nn.BatchNorm2d(128)", "nn.LeakyReLU(0.2)",
    "nn.Conv2d(128, 1, 7, 1, 0)",
]
_FORWARD = "return self.net(x).view(x.shape[0], 1)"


def discriminator(replace=None, forward=_FORWARD, extra=()):
    """A Sequential discriminator with some layers replaced ({index: new layer or None to drop})."""
    layers = [(replace or {}).get(i, layer) for i, layer in enumerate(_LAYERS)] + list(extra)
    return _DISCRIMINATOR.format(layers=",\n            ".join(x for x in layers if x), forward=forward)


MISTAKES = [
    mistake("Discriminator", "sigmoid at the end", discriminator(extra=["nn.Sigmoid()"]),
            "returns_logits", "matches_reference_eval", "matches_reference_train"),
    mistake("Discriminator", "returns (B,) (squeezed)", discriminator(forward="return self.net(x).view(-1)"),
            "output_shape", "matches_reference_eval", "matches_reference_train"),
    mistake("Discriminator", "squeeze() loses the batch dimension for B = 1",
            discriminator(forward="return self.net(x).squeeze().unsqueeze(-1)"), "output_shape"),
    mistake("Discriminator", "ReLU instead of LeakyReLU", discriminator({1: "nn.ReLU()", 4: "nn.ReLU()"}),
            "matches_reference_eval", "matches_reference_train"),
    mistake("Discriminator", "LeakyReLU with the default slope 0.01",
            discriminator({1: "nn.LeakyReLU()", 4: "nn.LeakyReLU()"}),
            "matches_reference_eval", "matches_reference_train"),
    mistake("Discriminator", "BatchNorm on the first layer too",
            discriminator({1: "nn.BatchNorm2d(64), nn.LeakyReLU(0.2)"}),
            "holds_reference_weights", "matches_reference_eval", "matches_reference_train"),
    mistake("Discriminator", "LeakyReLU before BatchNorm", discriminator({3: "nn.LeakyReLU(0.2)", 4: "nn.BatchNorm2d(128)"}),
            "matches_reference_eval", "matches_reference_train"),
    mistake("Discriminator", "max pooling instead of strided convolutions",
            discriminator({0: "nn.Conv2d(1, 64, 4, 1, 1), nn.MaxPool2d(2)"}),
            "output_shape", "matches_reference_eval", "matches_reference_train", "returns_logits", "keeps_dtype",
            "backpropagates"),
    mistake("Discriminator", "casts the input to float32", discriminator(forward="return self.net(x.float()).view(x.shape[0], 1)"),
            "keeps_dtype"),
    mistake("Discriminator", "forward returns detached logits",
            discriminator(forward="return self.net(x).view(x.shape[0], 1).detach()"), "backpropagates"),
    mistake("Discriminator", "forward runs under torch.no_grad()",
            discriminator(forward="with torch.no_grad():\n            return self.net(x).view(x.shape[0], 1)"),
            "backpropagates"),
    mistake("Discriminator", "input detached inside forward",
            discriminator(forward="return self.net(x.detach()).view(x.shape[0], 1)"), "backpropagates"),
    mistake("Discriminator", "dropout after the first LeakyReLU", discriminator({1: "nn.LeakyReLU(0.2), nn.Dropout(0.3)"}),
            "matches_reference_train"),
    mistake("Discriminator", "BatchNorm momentum 0.99 (the Keras convention)",
            discriminator({3: "nn.BatchNorm2d(128, momentum=0.99)"}), "matches_reference_train"),
    mistake("Discriminator", "no bias in the convolution before BatchNorm",
            discriminator({2: "nn.Conv2d(64, 128, 4, 2, 1, bias=False)"}),
            "holds_reference_weights", "matches_reference_eval", "matches_reference_train"),
    mistake("Discriminator", "forward switches to train mode", discriminator(
        forward="self.train()\n        return self.net(x).view(x.shape[0], 1)"), "matches_reference_eval"),
]
