"""neuroedge: take PyTorch models to edge and neuromorphic hardware.

``toolkit/`` installs as this package; converters/ and targets/ install as
``neuroedge.converters`` and ``neuroedge.targets``. Importing ``neuroedge`` is
cheap: it never imports torch.
"""

from neuroedge.bundle import Bundle, BundleError, Manifest, TensorSpec, load

__version__ = "0.1.0"
__all__ = ["Bundle", "BundleError", "Manifest", "TensorSpec", "load", "__version__"]
