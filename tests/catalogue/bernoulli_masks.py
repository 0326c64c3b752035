"""Exercise 03 (the Bernoulli-mask equations): the checks of each answer cell, wrong
implementations that students write (each with the words its failure message must contain), and
correct implementations in other styles."""

from autograder.content.hidden import bernoulli_masks as hidden
from dropout_course.checks import bernoulli_masks as checks

from .entries import Implementation

ASSIGNMENT = A03 = "03-bernoulli-masks"

#: For each answer cell, the check of its visible test cell and of its hidden test cell.
CHECKS = {
    "bernoulli_mask": (checks.check_bernoulli_mask, hidden.hidden_bernoulli_mask),
    "dropout_forward": (checks.check_dropout_forward, hidden.hidden_dropout_forward),
    "Dropout": (checks.check_dropout_module, hidden.hidden_dropout_module),
    "predict": (checks.check_predict, hidden.hidden_predict),
    "dropout_moments": (checks.check_dropout_moments, hidden.hidden_dropout_moments),
    "dropout_experiment": (checks.check_dropout_experiment, hidden.hidden_dropout_experiment),
}


def _experiment(name, seeding, measure, returned, message=""):
    """A dropout_experiment: how it seeds, how it measures an error, what it returns."""
    code = (
        "def dropout_experiment(ps, seed=0, epochs=60):\n"
        "    from dropout_course.data import digits_split\n"
        "    X_train, y_train, X_test, y_test = digits_split(300, seed=0)\n"
        "    results = {}\n"
        "    for p in ps:\n"
        f"{seeding}"
        "        model = nn.Sequential(\n"
        "            nn.Linear(64, 128), nn.ReLU(), Dropout(p), nn.Linear(128, 10)\n"
        "        )\n"
        "        opt = torch.optim.Adam(model.parameters(), lr=1e-3)\n"
        "        for _ in range(epochs):\n"
        "            order = torch.randperm(300, generator=gen)\n"
        "            for i in range(0, 300, 50):\n"
        "                b = order[i : i + 50]\n"
        "                loss = nn.functional.cross_entropy(model(X_train[b]), y_train[b])\n"
        "                opt.zero_grad()\n"
        "                loss.backward()\n"
        "                opt.step()\n"
        f"        def error(X, y):\n            return {measure}\n"
        "        results[p] = (error(X_train, y_train), error(X_test, y_test))\n"
        f"    return {returned}\n"
    )
    return Implementation(name, A03, "dropout_experiment", code, message)


_SEEDED = "        torch.manual_seed(seed)\n        gen = torch.Generator().manual_seed(seed)\n"
_FRACTION = "float((predict(model, X).argmax(1) != y).float().mean())"


def _mask(name, code, message):
    return Implementation(name, A03, "bernoulli_mask", code, message)


def _forward(name, body, message):
    code = "def dropout_forward(x, p, rng, training=True, inverted=True):\n" + body
    return Implementation(name, A03, "dropout_forward", code, message)


def _module(name, forward_body, message, init_body=None, prelude=""):
    init_body = init_body or (
        "        super().__init__()\n"
        "        if not 0 <= p <= 1:\n"
        "            raise ValueError(f'bad p={p}')\n"
        "        self.p = p\n"
    )
    code = prelude + (
        "class Dropout(nn.Module):\n"
        "    def __init__(self, p=0.5):\n" + init_body + "\n"
        "    def forward(self, x):\n" + forward_body
    )
    return Implementation(name, A03, "Dropout", code, message)


#: A constructor that accepts any p.
_NO_CHECK = "        super().__init__()\n        self.p = p\n"


def _moments(name, body, message=""):
    code = "def dropout_moments(y, p, inverted=True):\n" + body
    return Implementation(name, A03, "dropout_moments", code, message)


def _predict(name, body, message):
    return Implementation(name, A03, "predict", "def predict(model, x):\n" + body, message)


_VALID = "    if not 0 <= p <= 1:\n        raise ValueError(f'p={p} out of range')\n"

WRONG = [
    # ---------------------------------------------------------------- bernoulli_mask
    _mask(
        "mask_p_keeps",
        "def bernoulli_mask(shape, p, rng):\n    return rng.random(shape) < p\n",
        "KEEP probability",
    ),
    _mask(
        "mask_global_rng",
        "def bernoulli_mask(shape, p, rng):\n    return np.random.random(shape) >= p\n",
        "never from np.random",
    ),
    _mask(
        "mask_fixed_count",
        "def bernoulli_mask(shape, p, rng):\n"
        "    shape = (shape,) if isinstance(shape, int) else tuple(shape)\n"
        "    n = shape[-1]\n"
        "    rows = [rng.permutation(n) >= round(p * n) for _ in range(int(np.prod(shape[:-1])))]\n"
        "    return np.array(rows).reshape(shape)\n",
        "keeps exactly",
    ),
    _mask(
        "mask_shared_across_rows",
        "def bernoulli_mask(shape, p, rng):\n"
        "    shape = (shape,) if isinstance(shape, int) else tuple(shape)\n"
        "    row = rng.random(shape[-1]) >= p\n"
        "    return np.broadcast_to(row, shape).copy()\n",
        "every row of the mask is the same",
    ),
    _mask(
        "mask_scaled",
        "def bernoulli_mask(shape, p, rng):\n    return (rng.random(shape) >= p) / (1 - p)\n",
        "1/(1-p)",
    ),
    _mask(
        "mask_reseeds",
        "def bernoulli_mask(shape, p, rng):\n"
        "    return np.random.default_rng(0).random(shape) >= p\n",
        "ignores the rng argument",
    ),
    # ---------------------------------------------------------------- dropout_forward
    _forward(
        "forward_p_keeps",
        _VALID + "    if not training:\n        return (x if inverted else x * (1 - p)), None\n"
        "    mask = rng.random(x.shape) < p\n"
        "    return (x * mask / (1 - p) if inverted else x * mask), mask\n",
        "KEEP probability",
    ),
    _forward(
        "forward_no_scale",
        _VALID + "    if not training:\n        return (x if inverted else x * (1 - p)), None\n"
        "    mask = bernoulli_mask(x.shape, p, rng)\n"
        "    return x * mask, mask\n",
        "not scaled",
    ),
    _forward(
        "forward_times_keep",
        _VALID + "    if not training:\n        return (x if inverted else x * (1 - p)), None\n"
        "    mask = bernoulli_mask(x.shape, p, rng)\n"
        "    return (x * mask * (1 - p) if inverted else x * mask), mask\n",
        "multiplied by (1 - p)",
    ),
    _forward(
        "forward_divides_by_p",
        _VALID + "    if not training:\n        return (x if inverted else x * (1 - p)), None\n"
        "    mask = bernoulli_mask(x.shape, p, rng)\n"
        "    return (x * mask / p if inverted else x * mask), mask\n",
        "divided by p",
    ),
    _forward(
        "forward_on_at_eval",
        _VALID + "    mask = bernoulli_mask(x.shape, p, rng)\n"
        "    if p == 1:\n        return np.zeros_like(x), mask\n"
        "    return (x * mask / (1 - p) if inverted else x * mask), mask\n",
        "must be None",
    ),
    _forward(
        "forward_standard_not_scaled_at_eval",
        _VALID + "    if not training:\n        return x, None\n"
        "    mask = bernoulli_mask(x.shape, p, rng)\n"
        "    if p == 1:\n        return np.zeros_like(x), mask\n"
        "    return (x * mask / (1 - p) if inverted else x * mask), mask\n",
        "multiply by the keep probability",
    ),
    _forward(
        "forward_nan_at_p1",
        _VALID + "    if not training:\n        return (x if inverted else x * (1 - p)), None\n"
        "    mask = bernoulli_mask(x.shape, p, rng)\n"
        "    return ((x * mask / (1 - p)).astype(x.dtype) if inverted else x * mask), mask\n",
        "NaN or inf",
    ),
    _forward(
        "forward_float64_mask_upcasts",
        _VALID + "    if not training:\n        return (x if inverted else x * (1 - p)), None\n"
        "    mask = bernoulli_mask(x.shape, p, rng).astype(np.float64)\n"
        "    if p == 1:\n        return np.zeros_like(x), mask\n"
        "    return (x * mask / (1 - p) if inverted else x * mask), mask\n",
        "dtype float64",
    ),
    _forward(
        "forward_mutates_input",
        _VALID + "    if not training:\n        return (x if inverted else x * (1 - p)), None\n"
        "    mask = bernoulli_mask(x.shape, p, rng)\n"
        "    if p == 1:\n        x *= 0\n        return x, mask\n"
        "    x *= mask\n"
        "    if inverted:\n        x /= 1 - p\n"
        "    return x, mask\n",
        "in place",
    ),
    _forward(
        "forward_returns_other_mask",
        _VALID + "    if not training:\n        return (x if inverted else x * (1 - p)), None\n"
        "    used = bernoulli_mask(x.shape, p, rng)\n"
        "    if p == 1:\n        return np.zeros_like(x), used\n"
        "    out = x * used / (1 - p) if inverted else x * used\n"
        "    return out, bernoulli_mask(x.shape, p, rng)\n",
        "not the one you applied",
    ),
    _forward(
        "forward_no_validation",
        "    if not training:\n        return (x if inverted else x * (1 - p)), None\n"
        "    mask = bernoulli_mask(x.shape, p, rng)\n"
        "    if p >= 1:\n        return np.zeros_like(x), mask\n"
        "    return (x * mask / (1 - p) if inverted else x * mask), mask\n",
        "must raise ValueError",
    ),
    # ---------------------------------------------------------------- Dropout module
    _module(
        "module_ignores_training",
        "        mask = (torch.rand_like(x) >= self.p).to(x.dtype)\n"
        "        return x * mask / (1 - self.p) if self.p < 1 else x * 0\n",
        "still dropped units",
    ),
    _module(
        "module_detaches",
        "        if not self.training or self.p == 0:\n            return x\n"
        "        if self.p == 1:\n            return torch.zeros_like(x)\n"
        "        mask = (torch.rand_like(x) >= self.p).to(x.dtype)\n"
        "        return (x * mask / (1 - self.p)).detach()\n",
        "cut off from autograd",
    ),
    _module(
        "module_numpy_rng",
        "        if not self.training or self.p == 0:\n            return x\n"
        "        if self.p == 1:\n            return x * 0\n"
        "        keep = np.random.random(tuple(x.shape)) >= self.p\n"
        "        return x * torch.from_numpy(keep).to(x.dtype) / (1 - self.p)\n",
        "torch's generator",
    ),
    _module(
        "module_uses_F_dropout",
        "        return torch.nn.functional.dropout(x, self.p, self.training)\n",
        "PyTorch's own dropout",
    ),
    # PyTorch's own dropout reached under another name: the ban follows the function called,
    # not the name it was called by (dropout_course.checks.bernoulli_masks).
    _module(
        "module_F_dropout_imported_by_name",
        "        return _thin(x, self.p, self.training)\n",
        "PyTorch's own dropout",
        prelude="from torch.nn.functional import dropout as _thin\n\n\n",
    ),
    # The ban follows the class the notebook calls Dropout, whatever its own name.
    Implementation(
        "module_aliased_class_uses_F_dropout",
        A03,
        "Dropout",
        "class Thinning(nn.Module):\n"
        "    def __init__(self, p=0.5):\n"
        "        super().__init__()\n"
        "        if not 0 <= p <= 1:\n"
        "            raise ValueError(f'bad p={p}')\n"
        "        self.p = p\n"
        "\n"
        "    def forward(self, x):\n"
        "        return torch.nn.functional.dropout(x, self.p, self.training)\n"
        "\n"
        "\n"
        "Dropout = Thinning\n",
        "PyTorch's own dropout",
    ),
    _module(
        "module_holds_nn_dropout",
        "        return self.inner(x)\n",
        "PyTorch's own dropout",
        init_body="        super().__init__()\n"
        "        self.inner = nn.Dropout(p)\n"
        "        self.p = p\n",
    ),
    _module(
        "module_native_dropout",
        "        if not self.training:\n            return x\n"
        "        return torch.native_dropout(x, self.p, True)[0]\n",
        "PyTorch's own dropout",
    ),
    _module(
        "module_aten_dropout",
        "        return torch.ops.aten.dropout(x, self.p, self.training)\n",
        "PyTorch's own dropout",
    ),
    _module(
        "module_dropout_found_by_getattr",
        "        return getattr(torch.nn.functional, 'drop' + 'out')(x, self.p, self.training)\n",
        "PyTorch's own dropout",
    ),
    _module(
        "module_p_keeps",
        "        if not self.training:\n            return x\n"
        "        mask = (torch.rand_like(x) < self.p).to(x.dtype)\n"
        "        return x * mask / self.p if self.p > 0 else x * 0\n",
        "keep probability",
    ),
    _module(
        "module_no_scale",
        "        if not self.training:\n            return x\n"
        "        return x * (torch.rand_like(x) >= self.p).to(x.dtype)\n",
        "not scaled",
    ),
    _module(
        "module_mask_shared_across_batch",
        "        if not self.training or self.p == 0:\n            return x\n"
        "        if self.p == 1:\n            return x * 0\n"
        "        mask = (torch.rand(x.shape[1:], dtype=x.dtype) >= self.p).to(x.dtype)\n"
        "        return x * mask / (1 - self.p)\n",
        "the mask repeats across rows",
    ),
    _module(
        "module_no_validation",
        "        if not self.training or self.p == 0:\n            return x\n"
        "        if self.p >= 1:\n            return x * 0\n"
        "        return x * (torch.rand_like(x) >= self.p).to(x.dtype) / (1 - self.p)\n",
        "must raise ValueError",
        init_body="        super().__init__()\n        self.p = p\n",
    ),
    # ---------------------------------------------------------------- predict
    _predict(
        "predict_forgets_eval",
        "    with torch.no_grad():\n        return model(x)\n",
        "Call model.eval()",
    ),
    _predict(
        "predict_keeps_graph",
        "    was = model.training\n    model.eval()\n    out = model(x)\n"
        "    model.train(was)\n    return out\n",
        "torch.no_grad()",
    ),
    _predict(
        "predict_leaves_eval",
        "    model.eval()\n    with torch.no_grad():\n        return model(x)\n",
        "left the model in evaluation mode",
    ),
    _predict(
        "predict_forces_train",
        "    model.eval()\n    with torch.no_grad():\n        out = model(x)\n"
        "    model.train()\n    return out\n",
        "switched the model to training mode",
    ),
    # Found by a red team: mistakes the first catalogue did not hold.
    Implementation(
        "forward_validates_p_only_in_training",
        A03,
        "dropout_forward",
        "def dropout_forward(x, p, rng, training=True, inverted=True):\n"
        "    if not training:\n"
        "        return (x.copy() if inverted else (x * (1 - p)).astype(x.dtype)), None\n"
        "    if not 0 <= p <= 1:\n"
        '        raise ValueError(f"p must be in [0, 1], got p={p}")\n'
        "    mask = bernoulli_mask(x.shape, p, rng)\n"
        "    if p == 1:\n"
        "        return np.zeros_like(x), mask\n"
        "    return (x * mask / (1 - p) if inverted else x * mask).astype(x.dtype), mask\n",
        "training=False",
    ),
    Implementation(
        "forward_p1_fills_x_in_place",
        A03,
        "dropout_forward",
        "def dropout_forward(x, p, rng, training=True, inverted=True):\n"
        "    if not 0 <= p <= 1:\n"
        '        raise ValueError(f"p must be in [0, 1], got p={p}")\n'
        "    if not training:\n"
        "        return (x.copy() if inverted else (x * (1 - p)).astype(x.dtype)), None\n"
        "    mask = bernoulli_mask(x.shape, p, rng)\n"
        "    if p == 1:\n"
        "        x.fill(0)          # everything is dropped\n"
        "        return x, mask\n"
        "    return (x * mask / (1 - p) if inverted else x * mask).astype(x.dtype), mask\n",
        "modified its input x in place",
    ),
    Implementation(
        "mask_shared_along_the_batch_axis_in_3d",
        A03,
        "bernoulli_mask",
        "def bernoulli_mask(shape, p, rng):\n"
        "    shape = (shape,) if isinstance(shape, int) else tuple(shape)\n"
        "    # one mask for the last two axes, reused along the first axis of a 3-D shape\n"
        "    return np.broadcast_to(rng.random(shape[-2:]) >= p, shape).copy()\n",
        "independent",
    ),
    Implementation(
        "forward_mask_shared_along_middle_axes",
        A03,
        "dropout_forward",
        "def dropout_forward(x, p, rng, training=True, inverted=True):\n"
        "    if not 0 <= p <= 1:\n"
        '        raise ValueError(f"p must be in [0, 1], got p={p}")\n'
        "    if not training:\n"
        "        return (x.copy() if inverted else (x * (1 - p)).astype(x.dtype)), None\n"
        "    # one mask per (example, feature), shared along any middle axes\n"
        "    if x.ndim >= 3:\n"
        "        shared = (x.shape[0],) + (1,) * (x.ndim - 2) + (x.shape[-1],)\n"
        "        mask = bernoulli_mask(shared, p, rng)\n"
        "        mask = np.broadcast_to(mask, x.shape).copy()\n"
        "    else:\n"
        "        mask = bernoulli_mask(x.shape, p, rng)\n"
        "    if p == 1:\n"
        "        return np.zeros_like(x), mask\n"
        "    return (x * mask / (1 - p) if inverted else x * mask).astype(x.dtype), mask\n",
        "independent",
    ),
    Implementation(
        "mask_global_rng_for_int_shapes",
        A03,
        "bernoulli_mask",
        "def bernoulli_mask(shape, p, rng):\n"
        "    if isinstance(shape, int):\n"
        "        return np.random.rand(shape) >= p\n"
        "    return rng.random(shape) >= p\n",
        "never from np.random",
    ),
    Implementation(
        "forward_global_rng_for_vectors",
        A03,
        "dropout_forward",
        "def dropout_forward(x, p, rng, training=True, inverted=True):\n"
        "    if not 0 <= p <= 1:\n"
        '        raise ValueError(f"p must be in [0, 1], got p={p}")\n'
        "    if not training:\n"
        "        return (x.copy() if inverted else (x * (1 - p)).astype(x.dtype)), None\n"
        "    if x.ndim == 1:\n"
        "        mask = np.random.random(x.shape) >= p      # vectors: the quick way\n"
        "    else:\n"
        "        mask = rng.random(x.shape) >= p\n"
        "    if p == 1:\n"
        "        return np.zeros_like(x), mask\n"
        "    return (x * mask / (1 - p) if inverted else x * mask).astype(x.dtype), mask\n",
        "never from np.random",
    ),
    Implementation(
        "mask_rate_in_whole_percent",
        A03,
        "bernoulli_mask",
        "def bernoulli_mask(shape, p, rng):\n"
        "    return rng.integers(0, 100, size=shape) >= int(p * 100)\n",
        "with p=0.2951 it must be close to 0.2951",
    ),
    Implementation(
        "mask_child_seeded_from_a_thousand_values",
        A03,
        "bernoulli_mask",
        "def bernoulli_mask(shape, p, rng):\n"
        "    # a child generator seeded from rng -- but only 1000 possible seeds\n"
        "    child = np.random.default_rng(int(rng.integers(1000)))\n"
        "    return child.random(shape) >= p\n",
        "repeat",
    ),
    Implementation(
        "module_float32_mask_for_half_inputs",
        A03,
        "Dropout",
        "class Dropout(nn.Module):\n"
        "    def __init__(self, p=0.5):\n"
        "        super().__init__()\n"
        "        if not 0 <= p <= 1:\n"
        '            raise ValueError(f"p must be in [0, 1], got p={p}")\n'
        "        self.p = p\n"
        "\n"
        "    def forward(self, x):\n"
        "        if not self.training:\n"
        "            return x\n"
        "        keep = (torch.rand(x.shape) >= self.p).float()\n"
        "        return x * keep / (1 - self.p) if self.p < 1 else x * keep\n",
        "keep the input's dtype",
    ),
    Implementation(
        "predict_detaches_after_the_graph",
        A03,
        "predict",
        "def predict(model, x):\n"
        "    was = model.training\n"
        "    model.eval()\n"
        "    out = model(x).detach()\n"
        "    model.train(was)\n"
        "    return out\n",
        "autograd graph",
    ),
    # Found by the second red team (issue 9).
    Implementation(
        "n_bm_lru",
        A03,
        "bernoulli_mask",
        "from functools import lru_cache\n"
        "@lru_cache(maxsize=None)\n"
        "def bernoulli_mask(shape, p, rng):\n"
        "    return rng.random(shape) >= p\n",
        "masks repeat an earlier one",
    ),
    Implementation(
        "w_fw_lru_mask",
        A03,
        "dropout_forward",
        "_masks = {}\n"
        "def dropout_forward(x, p, rng, training=True, inverted=True):\n"
        "    if not 0 <= p <= 1:\n"
        '        raise ValueError(f"p must be in [0, 1], got p={p}")\n'
        "    if not training:\n"
        "        return (x.copy() if inverted else (x * (1 - p)).astype(x.dtype)), None\n"
        "    key = (id(rng), x.shape, p)\n"
        "    if key not in _masks:             # one mask per generator: 'reproducible'\n"
        "        _masks[key] = (bernoulli_mask(x.shape, p, rng), rng)\n"
        "    mask = _masks[key][0]\n"
        "    if p == 1:\n"
        "        return np.zeros_like(x), mask\n"
        "    return (x * mask / (1 - p) if inverted else x * mask).astype(x.dtype), mask\n",
        "same result twice from one generator",
    ),
    Implementation(
        "w_pr_memo",
        A03,
        "predict",
        "_memo = {}\n"
        "def predict(model, x):\n"
        "    key = (id(model), id(x))\n"
        "    if key not in _memo:\n"
        "        was = model.training\n"
        "        model.eval()\n"
        "        with torch.no_grad():\n"
        "            _memo[key] = model(x)\n"
        "        model.train(was)\n"
        "    return _memo[key]\n",
        "does not follow the model",
    ),
    Implementation(
        "w_pr_lru",
        A03,
        "predict",
        "import functools\n"
        "@functools.lru_cache(maxsize=None)\n"
        "def predict(model, x):\n"
        "    was = model.training\n"
        "    model.eval()\n"
        "    with torch.no_grad():\n"
        "        out = model(x)\n"
        "    model.train(was)\n"
        "    return out\n",
        "does not follow the model",
    ),
    Implementation(
        "k2_bm_ones",
        A03,
        "bernoulli_mask",
        "def bernoulli_mask(shape, p, rng):\n    return np.ones(shape, dtype=bool)\n",
        "dropped a fraction 0.000",
    ),
    Implementation(
        "k2_bm_zeros",
        A03,
        "bernoulli_mask",
        "def bernoulli_mask(shape, p, rng):\n    return np.zeros(shape, dtype=bool)\n",
        "dropped a fraction 1.000",
    ),
    Implementation(
        "k2_fw_zeros",
        A03,
        "dropout_forward",
        "def dropout_forward(x, p, rng, training=True, inverted=True):\n"
        "    return np.zeros_like(x), (np.zeros(x.shape) if training else None)\n",
        "dropped a fraction 1.000",
    ),
    Implementation(
        "k2_fw_identity_ones",
        A03,
        "dropout_forward",
        "def dropout_forward(x, p, rng, training=True, inverted=True):\n"
        "    return x.copy(), (np.ones(x.shape) if training else None)\n",
        "dropped a fraction 0.000",
    ),
    _module(
        "k2_dm_zeros", "        return x * 0\n", "dropped a fraction 1.000", init_body=_NO_CHECK
    ),
    _module("k2_dm_identity", "        return x\n", "dropped no units", init_body=_NO_CHECK),
    Implementation(
        "w_dm_inplace_when_no_grad",
        A03,
        "Dropout",
        "class Dropout(nn.Module):\n"
        "    def __init__(self, p=0.5):\n"
        "        super().__init__()\n"
        "        if not 0 <= p <= 1:\n"
        '            raise ValueError(f"p={p}")\n'
        "        self.p = p\n"
        "    def forward(self, x):\n"
        "        if not self.training:\n"
        "            return x\n"
        "        mask = (torch.rand_like(x) >= self.p).to(x.dtype)\n"
        "        scale = 0.0 if self.p == 1 else 1 / (1 - self.p)\n"
        "        if x.requires_grad:\n"
        "            return x * mask * scale\n"
        "        return x.mul_(mask).mul_(scale)     # save memory when no gradient is needed\n",
        "modified its input x in place",
    ),
    # ---------------------------------------------------------------- dropout_moments
    _moments(
        "moments_inverted_variance_is_standard",
        "    y = np.asarray(y, dtype=float)\n"
        "    q = 1 - p\n"
        "    return (y, p * q * y**2) if inverted else (q * y, p * q * y**2)\n",
        "variance is standard dropout's",
    ),
    _moments(
        "moments_standard_mean_not_scaled",
        "    y = np.asarray(y, dtype=float)\n"
        "    q = 1 - p\n"
        "    return (y, p / q * y**2) if inverted else (y, p * q * y**2)\n",
        "mean is inverted dropout's",
    ),
    _moments(
        "moments_standard_deviation",
        "    y = np.asarray(y, dtype=float)\n"
        "    q = 1 - p\n"
        "    sd = np.sqrt(p / q) * np.abs(y) if inverted else np.sqrt(p * q) * np.abs(y)\n"
        "    return (y if inverted else q * y), sd\n",
        "standard deviation",
    ),
    _moments(
        "moments_swapped",
        "    y = np.asarray(y, dtype=float)\n"
        "    q = 1 - p\n"
        "    return (p / q * y**2, y) if inverted else (p * q * y**2, q * y)\n",
        "swapped",
    ),
    _moments(
        "moments_scalar_only",
        "    q = 1 - p\n"
        "    y = float(y)\n"
        "    return (y, p / q * y * y) if inverted else (q * y, p * q * y * y)\n",
        "element by element",
    ),
    # ------------------------------------------------------------- dropout_experiment
    _experiment(
        "experiment_not_seeded",
        "        gen = torch.Generator()\n        gen.seed()\n",
        _FRACTION,
        "results",
        "rerun",
    ),
    _experiment(
        "experiment_percent",
        _SEEDED,
        "100 * float((predict(model, X).argmax(1) != y).float().mean())",
        "results",
        "FRACTION",
    ),
    _experiment(
        "experiment_list_of_pairs",
        _SEEDED,
        _FRACTION,
        "list(results.values())",
        "must return a dict",
    ),
    _experiment(
        "experiment_train_error_on_test_set",
        _SEEDED,
        "float((predict(model, X_test).argmax(1) != y_test).float().mean())",
        "results",
        "not a whole number of the",
    ),
]


CORRECT = [
    # Correct, but NumPy or the student's code prints a warning to stderr when the tests run:
    # stock nbgrader would score the test cells 0.
    Implementation(
        "mask_with_a_warning",
        A03,
        "bernoulli_mask",
        "def bernoulli_mask(shape, p, rng):\n"
        "    import warnings\n"
        "    warnings.warn('drawing a mask', RuntimeWarning, stacklevel=1)\n"
        "    np.mean([])  # NumPy's own RuntimeWarning: Mean of empty slice\n"
        "    return rng.random(shape) >= p\n",
    ),
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
        "module_bernoulli_in_place",
        A03,
        "Dropout",
        "class Dropout(nn.Module):\n"
        "    def __init__(self, p=0.5):\n"
        "        super().__init__()\n"
        "        if not 0.0 <= p <= 1.0:\n"
        "            raise ValueError(f'p={p} is not a probability')\n"
        "        self.p = p\n\n"
        "    def forward(self, x):\n"
        "        if not self.training or self.p == 0:\n"
        "            return x\n"
        "        if self.p == 1:\n"
        "            return torch.zeros_like(x)\n"
        "        keep = torch.empty_like(x).bernoulli_(1 - self.p)\n"
        "        return x * keep.div_(1 - self.p)\n",
    ),
    Implementation(
        "module_torch_where",
        A03,
        "Dropout",
        "class Dropout(nn.Module):\n"
        "    def __init__(self, p=0.5):\n"
        "        super().__init__()\n"
        "        if isinstance(p, bool) or not 0 <= p <= 1:\n"
        "            raise ValueError('p must be a drop probability in [0, 1]')\n"
        "        self.p = p\n\n"
        "    def forward(self, x):\n"
        "        if not self.training:\n"
        "            return x\n"
        "        dropped = torch.rand(x.shape, dtype=x.dtype, device=x.device) < self.p\n"
        "        scale = 0.0 if self.p == 1 else 1.0 / (1.0 - self.p)\n"
        "        return torch.where(dropped, torch.zeros_like(x), x * scale)\n",
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
    # Found by a red team: correct styles that once lost points through the grader.
    Implementation(
        "mask_from_a_spawned_child",
        A03,
        "bernoulli_mask",
        "def bernoulli_mask(shape, p, rng):\n"
        "    child = rng.spawn(1)[0]\n"
        "    return child.random(shape) >= p\n",
    ),
    Implementation(
        "mask_from_a_spawned_seed_sequence",
        A03,
        "bernoulli_mask",
        "def bernoulli_mask(shape, p, rng):\n"
        "    (seq,) = rng.bit_generator.seed_seq.spawn(1)\n"
        "    child = np.random.Generator(np.random.PCG64(seq))\n"
        "    return child.random(shape) >= p\n",
    ),
    Implementation(
        "forward_spawned_mask",
        A03,
        "dropout_forward",
        "def dropout_forward(x, p, rng, training=True, inverted=True):\n"
        "    if not 0 <= p <= 1:\n"
        '        raise ValueError(f"p must be in [0, 1], got p={p}")\n'
        "    if not training:\n"
        "        return (x.copy() if inverted else (x * (1 - p)).astype(x.dtype)), None\n"
        "    mask = rng.spawn(1)[0].random(x.shape) >= p\n"
        "    scale = 0.0 if p == 1 else (1 / (1 - p) if inverted else 1.0)\n"
        "    return (x * mask * scale).astype(x.dtype), mask\n",
    ),
    Implementation(
        "forward_returns_a_list_pair",
        A03,
        "dropout_forward",
        "def dropout_forward(x, p, rng, training=True, inverted=True):\n"
        "    if not 0 <= p <= 1:\n"
        '        raise ValueError(f"p must be in [0, 1], got p={p}")\n'
        "    if not training:\n"
        "        return [x.copy() if inverted else (x * (1 - p)).astype(x.dtype), None]\n"
        "    mask = bernoulli_mask(x.shape, p, rng)\n"
        "    if p == 1:\n"
        "        return [np.zeros_like(x), mask]\n"
        "    return [(x * mask / (1 - p) if inverted else x * mask).astype(x.dtype), mask]\n",
    ),
    Implementation(
        "forward_names_P_in_capitals",
        A03,
        "dropout_forward",
        "def dropout_forward(x, p, rng, training=True, inverted=True):\n"
        "    if not 0 <= p <= 1:\n"
        '        raise ValueError(f"P must be a drop probability between 0 and 1 (P={p})")\n'
        "    if not training:\n"
        "        return (x.copy() if inverted else (x * (1 - p)).astype(x.dtype)), None\n"
        "    mask = bernoulli_mask(x.shape, p, rng)\n"
        "    if p == 1:\n"
        "        return np.zeros_like(x), mask\n"
        "    return (x * mask * (1 / (1 - p) if inverted else 1)).astype(x.dtype), mask\n",
    ),
    # ---------------------------------------------------------------- dropout_moments
    _moments(
        "moments_second_moment_minus_square",
        "    q = 1.0 - p\n"
        "    y = np.asarray(y, dtype=np.float64)\n"
        "    kept = y / q if inverted else y\n"
        "    mean = q * kept\n"
        "    return mean, q * kept**2 - mean**2\n",
    ),
    _moments(
        "moments_torch_list",
        "    y = torch.as_tensor(y, dtype=torch.float64)\n"
        "    scale = 1 / (1 - p) if inverted else 1.0\n"
        "    mean = (1 - p) * scale * y\n"
        "    return [mean, p * (1 - p) * (scale * y) ** 2]\n",
    ),
    # ------------------------------------------------------------- dropout_experiment
    _experiment(
        "experiment_own_generator_counts",
        _SEEDED,
        "(predict(model, X).argmax(dim=1) != y).sum().item() / len(y)",
        "{float(p): pair for p, pair in results.items()}",
    ),
]
