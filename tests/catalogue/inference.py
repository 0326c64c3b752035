"""Exercise 06 (inference): the checks of each answer cell, wrong implementations that students
write (each with the words its failure message must contain), and correct implementations in
other styles."""

from autograder.content.hidden import inference as hidden
from dropout_course.checks import inference as checks

from .entries import Implementation, variant

ASSIGNMENT = A06 = "06-inference"

#: For each answer cell, the check of its visible test cell and of its hidden test cell.
CHECKS = {
    "mc_predict": (checks.check_mc_predict, hidden.hidden_mc_predict),
    "normalized_geometric_mean": (
        checks.check_normalized_geometric_mean,
        hidden.hidden_normalized_geometric_mean,
    ),
    "ngm_logits": (checks.check_ngm_logits, hidden.hidden_ngm_logits),
}

#: The instructor's answer, which the wrong entries below change in one place each.
_MC = Implementation(
    "instructor",
    A06,
    "mc_predict",
    "def mc_predict(model, x, samples):\n"
    "    if samples < 1:\n"
    "        raise ValueError(f'samples must be at least 1, got {samples}')\n"
    "    dropouts = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)\n"
    "    modes = [(module, module.training) for module in model.modules()]\n"
    "    try:\n"
    "        for module, _ in modes:\n"
    "            is_dropout = isinstance(module, dropouts) or type(module).__name__.endswith(\n"
    "                'Dropout'\n"
    "            )\n"
    "            module.training = is_dropout\n"
    "        with torch.no_grad():\n"
    "            probs = torch.stack([F.softmax(model(x), dim=1) for _ in range(samples)])\n"
    "    finally:\n"
    "        for module, mode in modes:\n"
    "            module.training = mode\n"
    "    return probs.mean(dim=0), probs.std(dim=0, correction=0)\n",
)

_SWITCH = (
    "        for module, _ in modes:\n"
    "            is_dropout = isinstance(module, dropouts) or type(module).__name__.endswith(\n"
    "                'Dropout'\n"
    "            )\n"
    "            module.training = is_dropout\n"
)
_PASSES = "            probs = torch.stack([F.softmax(model(x), dim=1) for _ in range(samples)])\n"
_RETURN = "    return probs.mean(dim=0), probs.std(dim=0, correction=0)\n"
_RESTORE = "        for module, mode in modes:\n            module.training = mode\n"


def _mc(name, old, new, message=""):
    return variant(_MC, name, old, new, message)


def _switch(name, new, message=""):
    return _mc(name, _SWITCH, new, message)


_NGM = Implementation(
    "instructor",
    A06,
    "normalized_geometric_mean",
    "def normalized_geometric_mean(probs):\n"
    "    with np.errstate(divide='ignore'):\n"
    "        mean_log = np.log(np.asarray(probs, dtype=np.float64)).mean(axis=0)\n"
    "    weights = np.exp(mean_log - mean_log.max(axis=-1, keepdims=True))\n"
    "    return weights / weights.sum(axis=-1, keepdims=True)\n",
)


def _ngm(name, body, message=""):
    return Implementation(
        name, A06, "normalized_geometric_mean", "def normalized_geometric_mean(probs):\n" + body,
        message,
    )  # fmt: skip


def _logits(name, body, message=""):
    code = "def ngm_logits(x, W, b, p):\n" + body
    return Implementation(name, A06, "ngm_logits", code, message)


#: A prediction on a deep copy of the model (its modes need no restoring).
_ON_A_COPY = Implementation(
    "mc_on_a_deep_copy",
    A06,
    "mc_predict",
    "import copy\n"
    "\n"
    "def mc_predict(model, x, samples):\n"
    "    if samples < 1:\n"
    "        raise ValueError('samples')\n"
    "    twin = copy.deepcopy(model).eval()\n"
    "    for module in twin.modules():\n"
    "        if 'Dropout' in type(module).__name__:\n"
    "            module.train()\n"
    "    with torch.no_grad():\n"
    "        probs = torch.stack([F.softmax(twin(x), dim=1) for _ in range(samples)])\n"
    "    return probs.mean(0), probs.std(0, correction=0)\n",
)

WRONG = [
    # ------------------------------------------------------------------------- mc_predict
    _switch("mc_model_train", "        model.train()\n", "BatchNorm was in training mode"),
    _switch("mc_model_eval", "        model.eval()\n", "every pass gave the same prediction"),
    _switch(
        "mc_only_nn_dropout",
        "        model.eval()\n"
        "        for module in model.modules():\n"
        "            if isinstance(module, nn.Dropout):\n"
        "                module.train()\n",
        "did not sample",
    ),
    _switch(
        "mc_name_ends_in_dropout_only",  # misses nn.Dropout1d/2d/3d (their names end in "d")
        "        for module, _ in modes:\n"
        "            module.training = type(module).__name__.endswith('Dropout')\n",
        "nn.Dropout1d gave std 0",
    ),
    _switch(
        "mc_train_then_eval_batchnorm_by_name",  # BatchNorm1d is not "BatchNorm"
        "        model.train()\n"
        "        for module in model.modules():\n"
        "            if type(module).__name__ == 'BatchNorm':\n"
        "                module.eval()\n",
        "BatchNorm was in training mode",
    ),
    _mc(
        "mc_averages_logits",
        _PASSES,
        "            probs = torch.stack([model(x) for _ in range(samples)])\n",
        "average the SOFTMAX PROBABILITIES",
    ),
    _mc(
        "mc_averages_log_softmax",
        _PASSES,
        "            probs = torch.stack(\n"
        "                [F.log_softmax(model(x), dim=1) for _ in range(samples)]\n"
        "            )\n",
        "average the SOFTMAX PROBABILITIES",
    ),
    _mc(
        "mc_softmax_over_batch",
        _PASSES,
        "            probs = torch.stack([F.softmax(model(x), dim=0) for _ in range(samples)])\n",
        "over the batch (dim=0)",
    ),
    _mc(
        "mc_softmax_of_mean_logits",
        _RETURN,
        "    logits = torch.log(probs)\n"
        "    return F.softmax(logits.mean(dim=0), dim=1), probs.std(dim=0, correction=0)\n",
        "AVERAGE LOGITS",
    ),
    _mc(
        "mc_sample_std",
        _RETURN,
        "    return probs.mean(dim=0), probs.std(dim=0)\n",
        "SAMPLE standard deviation",
    ),
    _mc(
        "mc_returns_variance",
        _RETURN,
        "    return probs.mean(dim=0), probs.var(dim=0, correction=0)\n",
        "VARIANCE of the probabilities",
    ),
    _mc(
        "mc_std_of_logits",
        _PASSES + "    finally:\n" + _RESTORE + _RETURN,
        "            logits = torch.stack([model(x) for _ in range(samples)])\n"
        "    finally:\n" + _RESTORE + "    probs = F.softmax(logits, dim=2)\n"
        "    return probs.mean(dim=0), logits.std(dim=0, correction=0)\n",
        "standard deviation of the LOGITS",
    ),
    _mc(
        "mc_same_mask_every_pass",
        _PASSES,
        "            passes = []\n"
        "            for _ in range(samples):\n"
        "                torch.manual_seed(0)  # 'for reproducibility'\n"
        "                passes.append(F.softmax(model(x), dim=1))\n"
        "            probs = torch.stack(passes)\n",
        "same mask every pass",
    ),
    _switch(
        "mc_switches_the_models_children_only",  # the dropout inside a nested block stays off
        "        for module in [model, *model.children()]:\n"
        "            module.training = isinstance(module, dropouts)\n",
        "every pass gave the same prediction",
    ),
    _switch(
        "mc_train_then_batchnorm_eval",  # every other train-only module stays in training
        "        model.train()\n"
        "        for module in model.modules():\n"
        "            if isinstance(module, nn.modules.batchnorm._BatchNorm):\n"
        "                module.eval()\n",
        "however deeply nested",
    ),
    variant(
        _ON_A_COPY,
        "mc_graph_on_a_copy",
        "    with torch.no_grad():\n"
        "        probs = torch.stack([F.softmax(twin(x), dim=1) for _ in range(samples)])\n"
        "    return probs.mean(0), probs.std(0, correction=0)\n",
        "    probs = torch.stack([F.softmax(twin(x), dim=1) for _ in range(samples)])\n"
        "    return probs.mean(0).detach(), probs.std(0, correction=0).detach()\n",
        "autograd graph",
    ),
    _mc("mc_mode_not_restored", _RESTORE, "        pass\n", "another mode than before"),
    _mc(
        "mc_restores_the_models_flag_only",  # modules that were in different modes all follow
        _RESTORE,
        "        model.train(modes[0][1])\n",
        "another mode than before",
    ),
    _mc("mc_ends_in_eval_mode", _RESTORE, "        model.eval()\n", "another mode than before"),
    _mc(
        "mc_builds_a_graph",
        "        with torch.no_grad():\n" + _PASSES,
        "        if True:\n"
        "            probs = torch.stack([F.softmax(model(x), dim=1) for _ in range(samples)])\n"
        "            probs = probs.detach()\n",
        "autograd graph",
    ),
    _mc(
        "mc_no_value_error",
        "    if samples < 1:\n"
        "        raise ValueError(f'samples must be at least 1, got {samples}')\n",
        "",
        "must raise ValueError",
    ),
    _mc(
        "mc_returns_every_pass",
        _RETURN,
        "    return probs, probs.std(dim=0, correction=0)\n",
        "must have shape",
    ),
    _mc("mc_returns_mean_only", _RETURN, "    return probs.mean(dim=0)\n", "must return a pair"),
    # ---------------------------------------------------------- normalized_geometric_mean
    _ngm(
        "ngm_plain_product",
        "    g = np.prod(probs, axis=0) ** (1 / len(probs))\n"
        "    return g / g.sum(axis=-1, keepdims=True)\n",
        "underflows",
    ),
    _ngm("ngm_arithmetic_mean", "    return probs.mean(axis=0)\n", "arithmetic mean"),
    _ngm(
        "ngm_not_renormalised",
        "    with np.errstate(divide='ignore'):\n"
        "        return np.exp(np.log(probs).mean(axis=0))\n",
        "not renormalised",
    ),
    _ngm(
        "ngm_renormalised_over_batch",
        "    with np.errstate(divide='ignore'):\n"
        "        g = np.exp(np.log(probs).mean(axis=0))\n"
        "    return g / g.sum(axis=0, keepdims=True)\n",
        "wrong axis",
    ),
    _ngm(
        "ngm_mean_over_classes_axis",
        "    with np.errstate(divide='ignore'):\n"
        "        g = np.exp(np.log(probs).mean(axis=-1))\n"
        "    return g / g.sum(axis=-1, keepdims=True)\n",
        "FIRST axis",
    ),
    _ngm(
        "ngm_epsilon_in_log",
        "    g = np.exp(np.log(probs + 1e-12).mean(axis=0))\n"
        "    return g / g.sum(axis=-1, keepdims=True)\n",
        "epsilon or a clip",
    ),
    _ngm(
        "ngm_clipped_log",
        "    g = np.exp(np.log(np.clip(probs, 1e-300, 1.0)).mean(axis=0))\n"
        "    return g / g.sum(axis=-1, keepdims=True)\n",
        "must get exactly 0",
    ),
    _ngm(
        "ngm_float32",
        "    with np.errstate(divide='ignore'):\n"
        "        mean_log = np.log(probs.astype(np.float32)).mean(axis=0)\n"
        "    g = np.exp(mean_log - mean_log.max(axis=-1, keepdims=True))\n"
        "    return g / g.sum(axis=-1, keepdims=True)\n",
        "tiny probabilities",
    ),
    _ngm(
        "ngm_logs_in_place",
        "    with np.errstate(divide='ignore'):\n"
        "        np.log(probs, out=probs)\n"
        "    mean_log = probs.mean(axis=0)\n"
        "    g = np.exp(mean_log - mean_log.max(axis=-1, keepdims=True))\n"
        "    return g / g.sum(axis=-1, keepdims=True)\n",
        "modified its input",
    ),
    # ------------------------------------------------------------------------- ngm_logits
    _logits("logits_bias_scaled", "    return (1 - p) * (x @ W + b)\n", "bias is scaled too"),
    _logits("logits_scaled_by_p", "    return p * (x @ W) + b\n", "scales by p"),
    _logits("logits_not_scaled", "    return x @ W + b\n", "without scaling"),
    _logits("logits_inverted", "    return x @ W / (1 - p) + b\n", "divides by 1 - p"),
]

CORRECT = [
    _ON_A_COPY,
    _mc(
        "mc_one_batch_of_all_samples",
        "        with torch.no_grad():\n" + _PASSES + "    finally:\n",
        "        with torch.inference_mode():\n"
        "            many = x.repeat(samples, *[1] * (x.dim() - 1))\n"
        "            probs = F.softmax(model(many), dim=-1).reshape(samples, len(x), -1).clone()\n"
        "    finally:\n",
    ),
    Implementation(
        "mc_apply_and_running_sums",
        A06,
        "mc_predict",
        "def mc_predict(model, x, samples):\n"
        "    if samples < 1:\n"
        "        raise ValueError('need at least one sample')\n"
        "    saved = {name: m.training for name, m in model.named_modules()}\n"
        "    model.eval()\n"
        "    model.apply(lambda m: m.train() if 'Dropout' in type(m).__name__ else None)\n"
        "    total = total_sq = 0\n"
        "    with torch.no_grad():\n"
        "        for _ in range(samples):\n"
        "            prob = torch.softmax(model(x), dim=-1).double()\n"
        "            total = total + prob\n"
        "            total_sq = total_sq + prob**2\n"
        "    for name, m in model.named_modules():\n"
        "        m.training = saved[name]\n"
        "    mean = total / samples\n"
        "    var = (total_sq / samples - mean**2).clamp(min=0)\n"
        "    return mean.float(), var.sqrt().float()\n",
    ),
    _switch(
        "mc_isinstance_dropout_base",
        "        for module, _ in modes:\n"
        "            module.train(isinstance(module, nn.modules.dropout._DropoutNd)\n"
        "                         or type(module).__name__.endswith('Dropout'))\n",
    ),
    _ngm(
        "ngm_logsumexp",
        "    from scipy.special import logsumexp\n"
        "    with np.errstate(divide='ignore'):\n"
        "        mean_log = np.log(probs).mean(axis=0)\n"
        "    return np.exp(mean_log - logsumexp(mean_log, axis=-1, keepdims=True))\n",
    ),
    _ngm(
        "ngm_roots_then_product",  # every factor p ** (1 / k) stays far from underflow
        "    g = np.prod(probs ** (1.0 / probs.shape[0]), axis=0)\n"
        "    return g / g.sum(axis=-1, keepdims=True)\n",
    ),
    _ngm(
        "ngm_torch_softmax",
        "    logs = torch.log(torch.as_tensor(probs, dtype=torch.float64))\n"
        "    return torch.softmax(logs.mean(dim=0), dim=-1).numpy()\n",
    ),
    _logits(
        "logits_weights_scaled_row_shifted",
        "    z = x @ (W * (1 - p)) + b\n    return z - z.max(axis=1, keepdims=True)\n",
    ),
]
