"""Autograder for the VAE/GAN course: untrusted notebooks run in worker processes,
comparisons happen in the trusted parent on plain data only."""
