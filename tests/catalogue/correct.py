"""Correct implementations in styles other than the instructor's: each must earn full marks."""

from .entries import Implementation

A03 = "03-bernoulli-masks"

CORRECT = [
    Implementation(
        "mask_binomial",
        A03,
        "bernoulli_mask",
        "def bernoulli_mask(shape, p, rng):\n    return rng.binomial(1, 1 - p, size=shape)\n",
    ),
    Implementation(
        "mask_float_less_than",
        A03,
        "bernoulli_mask",
        "def bernoulli_mask(shape, p, rng):\n"
        "    return (rng.uniform(size=shape) < 1 - p).astype(float)\n",
    ),
    Implementation(
        "forward_np_where",
        A03,
        "dropout_forward",
        "def dropout_forward(x, p, rng, training=True, inverted=True):\n"
        "    if p < 0 or p > 1:\n"
        "        raise ValueError('p must lie in [0, 1]')\n"
        "    if not training:\n"
        "        return (x.copy() if inverted else (x * (1 - p)).astype(x.dtype)), None\n"
        "    mask = bernoulli_mask(x.shape, p, rng).astype(bool)\n"
        "    scale = 0.0 if p == 1 else (1 / (1 - p) if inverted else 1.0)\n"
        "    return np.where(mask, x * scale, 0).astype(x.dtype), mask\n",
    ),
    Implementation(
        "forward_loop",
        A03,
        "dropout_forward",
        "def dropout_forward(x, p, rng, training=True, inverted=True):\n"
        "    if not (0 <= p <= 1):\n"
        "        raise ValueError(f'invalid p: {p}')\n"
        "    out = np.empty_like(x)\n"
        "    if not training:\n"
        "        out[...] = x if inverted else x * (1 - p)\n"
        "        return out, None\n"
        "    mask = bernoulli_mask(x.shape, p, rng)\n"
        "    flat_x, flat_m, flat_o = x.reshape(-1), np.reshape(mask, -1), out.reshape(-1)\n"
        "    for i in range(flat_x.size):\n"
        "        keep = flat_m[i] and p < 1\n"
        "        value = flat_x[i] / (1 - p) if inverted else flat_x[i]\n"
        "        flat_o[i] = value if keep else 0\n"
        "    return out, mask\n",
    ),
    Implementation(
        "module_bernoulli",
        A03,
        "Dropout",
        "class Dropout(nn.Module):\n"
        "    def __init__(self, p=0.5):\n"
        "        super().__init__()\n"
        "        if p < 0 or p > 1:\n"
        "            raise ValueError(f'p must be in [0, 1], got {p}')\n"
        "        self.p = float(p)\n\n"
        "    def forward(self, x):\n"
        "        if not self.training:\n"
        "            return x\n"
        "        keep = torch.bernoulli(torch.full_like(x, 1 - self.p))\n"
        "        return x * keep / (1 - self.p) if self.p < 1 else x * keep\n",
    ),
    Implementation(
        "predict_context_manager",
        A03,
        "predict",
        "def predict(model, x):\n"
        "    modes = {m: m.training for m in model.modules()}\n"
        "    model.eval()\n"
        "    with torch.inference_mode():\n"
        "        out = model(x)\n"
        "    for module, mode in modes.items():\n"
        "        module.training = mode\n"
        "    return out.clone()\n",
    ),
]
