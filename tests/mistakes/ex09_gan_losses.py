from . import mistake

MISTAKES = [
    # ---------------------------------------------------------------- discriminator_loss
    mistake("discriminator_loss", "one mean over real and fake logits together, times 2", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    logits = torch.cat([real_logits, fake_logits])
    targets = torch.cat([torch.full_like(real_logits, real_label), torch.zeros_like(fake_logits)])
    return 2 * F.binary_cross_entropy_with_logits(logits, targets)
""", "unequal_batch_sizes"),
    mistake("discriminator_loss", "smooths the fake targets too", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.full_like(fake_logits, 1 - real_label))
    return real + fake
""", "label_smoothing_real_only", "unequal_batch_sizes"),
    mistake("discriminator_loss", "ignores real_label", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake
""", "label_smoothing_real_only", "unequal_batch_sizes"),
    mistake("discriminator_loss", "sigmoid before BCE-with-logits", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    real_p, fake_p = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)
    real = F.binary_cross_entropy_with_logits(real_p, torch.full_like(real_p, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_p, torch.zeros_like(fake_p))
    return real + fake
""", "values", "label_smoothing_real_only", "stable_for_large_logits", "gradients",
       "unequal_batch_sizes"),
    mistake("discriminator_loss", "probabilities with BCELoss (unstable)", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    real_p, fake_p = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)
    real = F.binary_cross_entropy(real_p, torch.full_like(real_p, real_label))
    fake = F.binary_cross_entropy(fake_p, torch.zeros_like(fake_p))
    return real + fake
""", "stable_for_large_logits"),
    mistake("discriminator_loss", "sums over the batch", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label), reduction="sum")
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits), reduction="sum")
    return real + fake
""", "values", "label_smoothing_real_only", "stable_for_large_logits", "gradients",
       "unequal_batch_sizes"),
    mistake("discriminator_loss", "averages the two terms", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return (real + fake) / 2
""", "values", "label_smoothing_real_only", "stable_for_large_logits", "gradients",
       "unequal_batch_sizes"),
    mistake("discriminator_loss", "targets built on the CPU", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    real_t = torch.ones(real_logits.shape, dtype=real_logits.dtype) * real_label
    fake_t = torch.zeros(fake_logits.shape, dtype=fake_logits.dtype)
    return F.binary_cross_entropy_with_logits(real_logits, real_t) + F.binary_cross_entropy_with_logits(fake_logits, fake_t)
""", "keeps_dtype_and_device"),
    mistake("discriminator_loss", "float32 targets", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    real_t = torch.full(real_logits.shape, real_label, device=real_logits.device)
    fake_t = torch.zeros(fake_logits.shape, device=fake_logits.device)
    return F.binary_cross_entropy_with_logits(real_logits, real_t) + F.binary_cross_entropy_with_logits(fake_logits, fake_t)
""", "keeps_dtype_and_device"),
    mistake("discriminator_loss", "detaches the fake logits", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits.detach(), torch.zeros_like(fake_logits))
    return real + fake
""", "gradients"),
    # ---------------------------------------------------------------- generator_loss
    mistake("generator_loss", "saturating: minimizes log(1 - D(G(z)))", """
def generator_loss(fake_logits):
    return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
""", "values", "non_saturating", "stable_for_large_logits"),
    mistake("generator_loss", "saturating, written with log1p", """
def generator_loss(fake_logits):
    return torch.log1p(-torch.sigmoid(fake_logits)).mean()
""", "values", "non_saturating", "stable_for_large_logits"),
    mistake("generator_loss", "target 0 (the discriminator's objective)", """
def generator_loss(fake_logits):
    return F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
""", "values", "non_saturating", "stable_for_large_logits"),
    mistake("generator_loss", "smoothed target 0.9", """
def generator_loss(fake_logits):
    return F.binary_cross_entropy_with_logits(fake_logits, torch.full_like(fake_logits, 0.9))
""", "values", "stable_for_large_logits"),
    mistake("generator_loss", "-log(sigmoid) overflows", """
def generator_loss(fake_logits):
    return -torch.log(torch.sigmoid(fake_logits)).mean()
""", "stable_for_large_logits"),
    mistake("generator_loss", "targets on the CPU", """
def generator_loss(fake_logits):
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones(fake_logits.shape, dtype=fake_logits.dtype))
""", "keeps_dtype_and_device"),
    mistake("discriminator_loss", "default real_label 0.9 (discriminator_step's default)", """
def discriminator_loss(real_logits, fake_logits, real_label=0.9):
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake
""", "values"),
    mistake("discriminator_loss", "BCELoss on probabilities, fake targets smoothed too", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    bce = nn.BCELoss()
    real_p, fake_p = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)
    return bce(real_p, torch.full_like(real_p, real_label)) + bce(fake_p, torch.full_like(fake_p, 1 - real_label))
""", "label_smoothing_real_only", "unequal_batch_sizes", "stable_for_large_logits"),
    mistake("discriminator_loss", "smoothing as real_label * BCE(real, 1)", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    real = real_label * F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    return real + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
""", "label_smoothing_real_only", "unequal_batch_sizes"),
    mistake("discriminator_loss", "both sums divided by the real batch size", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label), reduction="sum")
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits), reduction="sum")
    return (real + fake) / real_logits.shape[0]
""", "unequal_batch_sizes"),
    mistake("generator_loss", "-log(sigmoid(x) + 1e-8)", """
def generator_loss(fake_logits):
    return -torch.log(torch.sigmoid(fake_logits) + 1e-8).mean()
""", "stable_for_large_logits"),
    mistake("generator_loss", "summed over the batch", """
def generator_loss(fake_logits):
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits), reduction="sum")
""", "values", "stable_for_large_logits"),
]
