"""Exceptions shared by the parent's light modules (importing them must not import torch)."""
from __future__ import annotations


class PlainDataError(ValueError):
    """Data from a worker was not of the accepted plain shape."""
