from . import mistake

MISTAKES = [
    # ---------------------------------------------------------------- weights_init
    mistake("weights_init", "std 0.2 instead of 0.02", """
def weights_init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.2)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
""", "conv_weights"),
    mistake("weights_init", "uniform instead of normal", """
def weights_init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.uniform_(module.weight, -0.02, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
""", "conv_weights"),
    mistake("weights_init", "misses ConvTranspose2d", """
def weights_init(module):
    if type(module) is nn.Conv2d:
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
""", "conv_weights", "conv_biases_zero"),
    mistake("weights_init", "conv biases left as they were (classic DCGAN snippet)", """
def weights_init(module):
    classname = module.__class__.__name__
    if classname.find("Conv") != -1:
        module.weight.data.normal_(0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        module.weight.data.normal_(1.0, 0.02)
        module.bias.data.fill_(0)
""", "conv_biases_zero", "other_modules_untouched"),
    mistake("weights_init", "BatchNorm weight N(0, 0.02)", """
def weights_init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)
""", "batchnorm"),
    mistake("weights_init", "BatchNorm bias not zeroed", """
def weights_init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
""", "batchnorm"),
    mistake("weights_init", "initializes Linear layers too", """
def weights_init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
""", "other_modules_untouched"),
    mistake("weights_init", "'Norm' in the class name catches LayerNorm", """
def weights_init(module):
    name = type(module).__name__
    if "Conv" in name:
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif "Norm" in name:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
""", "other_modules_untouched"),
    mistake("weights_init", "base classes _ConvNd/_BatchNorm catch Conv1d and BatchNorm1d", """
def weights_init(module):
    if isinstance(module, nn.modules.conv._ConvNd):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
""", "other_modules_untouched"),
    mistake("weights_init", "BatchNorm of any dimension (BatchNorm1d too)", """
def weights_init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
""", "other_modules_untouched"),
    mistake("weights_init", "zeroes a missing bias", """
def weights_init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
""", "conv_without_bias"),
    # ---------------------------------------------------------------- clip_gradients
    mistake("clip_gradients", "returns the norm after clipping", """
def clip_gradients(model, max_norm):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    scale = min(1.0, max_norm / (norm.item() + 1e-6))
    for g in grads:
        g.mul_(scale)
    return torch.sqrt(sum((g ** 2).sum() for g in grads))
""", "returns_total_norm", "skips_params_without_grad"),
    mistake("clip_gradients", "clips each parameter separately", """
def clip_gradients(model, max_norm):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    for g in grads:
        g.mul_(min(1.0, max_norm / (g.norm().item() + 1e-6)))
    return total
""", "clips_to_max_norm", "skips_params_without_grad"),
    mistake("clip_gradients", "clamps values (clip by value)", """
def clip_gradients(model, max_norm):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    for g in grads:
        g.clamp_(-max_norm, max_norm)
    return total
""", "clips_to_max_norm", "skips_params_without_grad"),
    mistake("clip_gradients", "always rescales to max_norm", """
def clip_gradients(model, max_norm):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    for g in grads:
        g.mul_(max_norm / (total + 1e-6))
    return total
""", "leaves_small_gradients"),
    mistake("clip_gradients", "forgets parameters without gradients", """
def clip_gradients(model, max_norm):
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters()))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for p in model.parameters():
        p.grad.mul_(scale)
    return total
""", "skips_params_without_grad"),
    mistake("clip_gradients", "returns nothing", """
def clip_gradients(model, max_norm):
    nn.utils.clip_grad_norm_(model.parameters(), max_norm)
""", "returns_total_norm", "skips_params_without_grad"),
    mistake("clip_gradients", "sum of per-parameter norms", """
def clip_gradients(model, max_norm):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    total = sum(g.norm() for g in grads)
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale)
    return total
""", "returns_total_norm", "clips_to_max_norm", "skips_params_without_grad"),
    # ---------------------------------------------------------------- make_optimizers
    mistake("make_optimizers", "returns (opt_D, opt_G)", """
def make_optimizers(G, D, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)):
    opt_G = torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas)
    opt_D = torch.optim.Adam(D.parameters(), lr=lr_d, betas=betas)
    return opt_D, opt_G
""", "uses_arguments", "own_parameters"),
    mistake("make_optimizers", "optimizers over the wrong models", """
def make_optimizers(G, D, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)):
    return torch.optim.Adam(D.parameters(), lr=lr_g, betas=betas), torch.optim.Adam(G.parameters(), lr=lr_d, betas=betas)
""", "own_parameters"),
    mistake("make_optimizers", "default Adam betas", """
def make_optimizers(G, D, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)):
    return torch.optim.Adam(G.parameters(), lr=lr_g), torch.optim.Adam(D.parameters(), lr=lr_d)
""", "adam_with_defaults", "uses_arguments"),
    mistake("make_optimizers", "lr_g for both", """
def make_optimizers(G, D, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)):
    return torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas), torch.optim.Adam(D.parameters(), lr=lr_g, betas=betas)
""", "uses_arguments"),
    mistake("make_optimizers", "both models in one optimizer each", """
def make_optimizers(G, D, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)):
    both = list(G.parameters()) + list(D.parameters())
    return torch.optim.Adam(both, lr=lr_g, betas=betas), torch.optim.Adam(both, lr=lr_d, betas=betas)
""", "own_parameters"),
    mistake("make_optimizers", "SGD", """
def make_optimizers(G, D, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)):
    return torch.optim.SGD(G.parameters(), lr=lr_g, momentum=betas[0]), torch.optim.SGD(D.parameters(), lr=lr_d, momentum=betas[0])
""", "adam_with_defaults", "uses_arguments"),
    # ---------------------------------------------------------------- instance_noise
    mistake("instance_noise", "uniform noise", """
def instance_noise(x, std):
    return x + std * torch.rand_like(x)
""", "statistics"),
    mistake("instance_noise", "std used as a variance", """
def instance_noise(x, std):
    return x + std ** 2 * torch.randn_like(x)
""", "statistics"),
    mistake("instance_noise", "multiplicative noise", """
def instance_noise(x, std):
    return x * (1 + std * torch.randn_like(x))
""", "statistics"),
    mistake("instance_noise", "adds the noise in place", """
def instance_noise(x, std):
    return x.add_(std * torch.randn_like(x))
""", "leaves_input_unchanged"),
    mistake("instance_noise", "noise made on the CPU in float32", """
def instance_noise(x, std):
    return x + std * torch.randn(x.shape)
""", "keeps_dtype_and_device"),
    mistake("instance_noise", "reseeds inside", """
def instance_noise(x, std):
    torch.manual_seed(0)
    return x + std * torch.randn_like(x)
""", "fresh_noise"),
    mistake("instance_noise", "noise of at least 0.1", """
def instance_noise(x, std):
    return x + max(std, 0.1) * torch.randn_like(x)
""", "zero_std_is_identity"),
    # ---------------------------------------------------------------- least-squares losses
    mistake("ls_discriminator_loss", "no factor 0.5", """
def ls_discriminator_loss(real_out, fake_out):
    return ((real_out - 1) ** 2).mean() + (fake_out ** 2).mean()
""", "values"),
    mistake("ls_discriminator_loss", "targets swapped", """
def ls_discriminator_loss(real_out, fake_out):
    return 0.5 * (real_out ** 2).mean() + 0.5 * ((fake_out - 1) ** 2).mean()
""", "values", "zero_for_perfect_outputs"),
    mistake("ls_discriminator_loss", "sigmoid on the outputs", """
def ls_discriminator_loss(real_out, fake_out):
    return 0.5 * ((torch.sigmoid(real_out) - 1) ** 2).mean() + 0.5 * (torch.sigmoid(fake_out) ** 2).mean()
""", "values", "zero_for_perfect_outputs"),
    mistake("ls_discriminator_loss", "sums instead of means", """
def ls_discriminator_loss(real_out, fake_out):
    return 0.5 * ((real_out - 1) ** 2).sum() + 0.5 * (fake_out ** 2).sum()
""", "values"),
    mistake("ls_discriminator_loss", "targets built on the CPU", """
def ls_discriminator_loss(real_out, fake_out):
    return 0.5 * ((real_out - torch.ones(real_out.shape)) ** 2).mean() + 0.5 * (fake_out ** 2).mean()
""", "keeps_dtype_and_device"),
    mistake("ls_generator_loss", "target 0", """
def ls_generator_loss(fake_out):
    return 0.5 * (fake_out ** 2).mean()
""", "values", "zero_at_target"),
    mistake("ls_generator_loss", "no factor 0.5", """
def ls_generator_loss(fake_out):
    return ((fake_out - 1) ** 2).mean()
""", "values"),
    mistake("ls_generator_loss", "BCE instead of least squares", """
def ls_generator_loss(fake_out):
    return F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))
""", "values", "zero_at_target"),
    mistake("ls_generator_loss", "target built on the CPU", """
def ls_generator_loss(fake_out):
    return 0.5 * ((fake_out - torch.ones(fake_out.shape)) ** 2).mean()
""", "keeps_dtype_and_device"),
    mistake("instance_noise", "clamps the noisy images to [-1, 1]", """
def instance_noise(x, std):
    return (x + std * torch.randn_like(x)).clamp(-1, 1)
""", "statistics"),
    # ---------------------------------------------------------------- red-team additions
    mistake("weights_init", "nn.init.normal_(w, 0.02): the second argument is the mean", """
def weights_init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
""", "conv_weights"),
    mistake("weights_init", "convolutions copied from the BatchNorm line: N(1, 0.02)", """
def weights_init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
""", "conv_weights"),
    mistake("weights_init", "new CPU float32 tensors through .data =", """
def weights_init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        module.weight.data = 0.02 * torch.randn(module.weight.shape)
        if module.bias is not None:
            module.bias.data = torch.zeros(module.bias.shape)
    elif isinstance(module, nn.BatchNorm2d):
        module.weight.data = 1 + 0.02 * torch.randn(module.weight.shape)
        module.bias.data = torch.zeros(module.bias.shape)
""", "keeps_dtype_and_device"),
    mistake("weights_init", "replaces the weight with a new nn.Parameter", """
def weights_init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        module.weight = nn.Parameter(torch.randn(module.weight.shape) * 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
""", "keeps_dtype_and_device"),
    mistake("weights_init", "in-place normal_ on parameters without torch.no_grad", """
def weights_init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        module.weight.normal_(0.0, 0.02)
        if module.bias is not None:
            module.bias.zero_()
    elif isinstance(module, nn.BatchNorm2d):
        module.weight.normal_(1.0, 0.02)
        module.bias.zero_()
""", "conv_weights", "conv_biases_zero", "batchnorm", "other_modules_untouched", "conv_without_bias",
        "keeps_dtype_and_device"),
    mistake("clip_gradients", "g = g * scale rebinds a name: gradients unchanged", """
def clip_gradients(model, max_norm):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    scale = min(1.0, max_norm / (total.item() + 1e-6))
    for g in grads:
        g = g * scale
    return total
""", "clips_to_max_norm", "skips_params_without_grad"),
    mistake("clip_gradients", "inverted factor total_norm / max_norm", """
def clip_gradients(model, max_norm):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    if total > max_norm:
        for g in grads:
            g.mul_(total / max_norm)
    return total
""", "clips_to_max_norm", "skips_params_without_grad"),
    mistake("clip_gradients", "filters on requires_grad instead of grad is not None", """
def clip_gradients(model, max_norm):
    params = [p for p in model.parameters() if p.requires_grad]
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in params))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for p in params:
        p.grad.mul_(scale)
    return total
""", "skips_params_without_grad"),
    mistake("clip_gradients", "returns the scale factor", """
def clip_gradients(model, max_norm):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale)
    return scale
""", "returns_total_norm", "skips_params_without_grad"),
    mistake("make_optimizers", "AdamW", """
def make_optimizers(G, D, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)):
    return torch.optim.AdamW(G.parameters(), lr=lr_g, betas=betas), torch.optim.AdamW(D.parameters(), lr=lr_d, betas=betas)
""", "adam_with_defaults", "uses_arguments"),
    mistake("make_optimizers", "lr_d defaults to the recipe's 1e-4", """
def make_optimizers(G, D, lr_g=2e-4, lr_d=1e-4, betas=(0.5, 0.999)):
    return torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas), torch.optim.Adam(D.parameters(), lr=lr_d, betas=betas)
""", "adam_with_defaults"),
    mistake("instance_noise", "one noise image broadcast over the batch", """
def instance_noise(x, std):
    return x + std * torch.randn_like(x[0])
""", "statistics"),
    mistake("instance_noise", "one noise value per image", """
def instance_noise(x, std):
    return x + std * torch.randn(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)
""", "statistics"),
    mistake("instance_noise", "returns the noise without the images", """
def instance_noise(x, std):
    return std * torch.randn_like(x)
""", "statistics", "zero_std_is_identity"),
    mistake("instance_noise", "noise scaled by the batch's std", """
def instance_noise(x, std):
    return x + std * x.std() * torch.randn_like(x)
""", "statistics", "fresh_noise"),
    mistake("ls_discriminator_loss", "square of the means instead of the mean of the squares", """
def ls_discriminator_loss(real_out, fake_out):
    return 0.5 * (real_out.mean() - 1) ** 2 + 0.5 * fake_out.mean() ** 2
""", "values"),
    mistake("ls_discriminator_loss", "fake target -1", """
def ls_discriminator_loss(real_out, fake_out):
    return 0.5 * ((real_out - 1) ** 2).mean() + 0.5 * ((fake_out + 1) ** 2).mean()
""", "values", "zero_for_perfect_outputs"),
    mistake("ls_generator_loss", "mean(dim=0) leaves shape (1,)", """
def ls_generator_loss(fake_out):
    return 0.5 * ((fake_out - 1) ** 2).mean(dim=0)
""", "values", "zero_at_target", "keeps_dtype_and_device"),
    mistake("ls_generator_loss", "smoothed target 0.9 for the generator", """
def ls_generator_loss(fake_out):
    return 0.5 * ((fake_out - 0.9) ** 2).mean()
""", "values", "zero_at_target"),
]
