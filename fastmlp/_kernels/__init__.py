"""fastmlp's compiled modules: ``fastmlp._kernels.<name>`` is built from ``kernels/<name>.pyx``.

    activations  element-wise activations, derivatives and fused backward forms
    softmax      softmax and log-softmax
    loss         fused softmax-cross-entropy and MSE, forward and gradient
    linear       affine layers on BLAS
    optim        the optimizers' in-place update rules (SGD, Adam, AdamW)
    network      a whole MLP: forward, training step and epoch, in one call each

These are the unchecked entry points; use them through ``fastmlp.kernels`` (which
validates every argument) and ``fastmlp.MLP``. The loops themselves are the
header-only workers in ``kernels/*_ops.pxd`` (one per topic) and the shared helpers
``vecmath``, ``blas``, ``checks`` and ``parallel``: no ``.pxd`` there shares its name
with a ``.pyx``.
"""
