"""Exercise 07 (choosing and placing dropout): the checks of each answer cell, wrong
implementations that students write (each with the words its failure message must contain),
and correct implementations in other styles."""

from autograder.content.hidden import rate_and_placement as hidden
from dropout_course.checks import rate_and_placement as checks

from .entries import Implementation, variant

ASSIGNMENT = A07 = "07-rate-and-placement"

#: For each answer cell, the check of its visible test cell and of its hidden test cell.
CHECKS = {
    "dropout_mlp": (checks.check_dropout_mlp, hidden.hidden_dropout_mlp),
    "keep_expected_width": (checks.check_keep_expected_width, hidden.hidden_keep_expected_width),
    "variance_shift": (checks.check_variance_shift, hidden.hidden_variance_shift),
}

_VALIDATE = (
    "    for name, p in (('p_input', p_input), ('p_hidden', p_hidden)):\n"
    "        if not 0 <= p < 1:\n"
    "            raise ValueError(f'{name} must lie in [0, 1), got {name}={p}')\n"
)
_INPUT = "    layers = [nn.Dropout(p_input)] if p_input > 0 else []\n"
_LINEAR = "        layers.append(nn.Linear(n_in, n_out))\n"
_HIDDEN = (
    "        if i < len(sizes) - 2:  # a hidden layer\n"
    "            layers.append(nn.ReLU())\n"
    "            if p_hidden > 0:\n"
    "                layers.append(nn.Dropout(p_hidden))\n"
)
_RETURN = "    return nn.Sequential(*layers)\n"

#: The instructor's answer, which the wrong entries below change in one place each.
_MLP = Implementation(
    "instructor",
    A07,
    "dropout_mlp",
    "def dropout_mlp(sizes, p_input, p_hidden):\n"
    + _VALIDATE
    + _INPUT
    + "    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):\n"
    + _LINEAR
    + _HIDDEN
    + _RETURN,
)


def _mlp(name, old, new, message=""):
    return variant(_MLP, name, old, new, message)


def _width(name, body, message=""):
    code = "def keep_expected_width(n, p):\n" + body
    return Implementation(name, A07, "keep_expected_width", code, message)


def _shift(name, body, message=""):
    code = "def variance_shift(p, mean, var):\n" + body
    return Implementation(name, A07, "variance_shift", code, message)


WRONG = [
    # ------------------------------------------------------------------------ dropout_mlp
    _mlp(
        "mlp_dropout_after_output",
        _HIDDEN,
        "        layers.append(nn.ReLU())\n"
        "        if p_hidden > 0:\n"
        "            layers.append(nn.Dropout(p_hidden))\n",
        "must end with the output Linear",
    ),
    _mlp(
        "mlp_relu_after_output",
        _HIDDEN,
        "        layers.append(nn.ReLU())\n"
        "        if p_hidden > 0 and i < len(sizes) - 2:\n"
        "            layers.append(nn.Dropout(p_hidden))\n",
        "must end with the output Linear",
    ),
    _mlp(
        "mlp_keep_probabilities",
        "                layers.append(nn.Dropout(p_hidden))\n",
        "                layers.append(nn.Dropout(1 - p_hidden))\n",
        "",
    ),
    _mlp(
        "mlp_keep_probabilities_everywhere",
        _INPUT
        + "    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):\n"
        + _LINEAR
        + _HIDDEN,
        "    layers = [nn.Dropout(1 - p_input)] if p_input > 0 else []\n"
        "    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):\n"
        + _LINEAR
        + _HIDDEN.replace("nn.Dropout(p_hidden)", "nn.Dropout(1 - p_hidden)"),
        "nn.Dropout(p) takes the DROP probability",
    ),  # fmt: skip
    _mlp(
        "mlp_rates_swapped",
        _INPUT
        + "    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):\n"
        + _LINEAR
        + _HIDDEN,
        "    layers = [nn.Dropout(p_hidden)] if p_hidden > 0 else []\n"
        "    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):\n"
        + _LINEAR
        + _HIDDEN.replace("p_hidden", "p_input"),
        "",
    ),  # fmt: skip
    _mlp(
        "mlp_keeps_dropout_of_rate_0",
        _INPUT,
        "    layers = [nn.Dropout(p_input)]\n",
        "leave Dropout(0) out",
    ),
    _mlp(
        "mlp_no_input_dropout",
        _INPUT,
        "    layers = []\n",
        "a dropout is missing",
    ),
    _mlp(
        "mlp_dropout_before_relu",
        _HIDDEN,
        "        if i < len(sizes) - 2:  # a hidden layer\n"
        "            if p_hidden > 0:\n"
        "                layers.append(nn.Dropout(p_hidden))\n"
        "            layers.append(nn.ReLU())\n",
        "comes after its ReLU, not before",
    ),
    _mlp(
        "mlp_dropout_only_after_the_first_hidden_layer",
        "            if p_hidden > 0:\n",
        "            if p_hidden > 0 and i == 0:\n",
        "a dropout is missing",
    ),
    _mlp(
        "mlp_sigmoid",
        "            layers.append(nn.ReLU())\n",
        "            layers.append(nn.Sigmoid())\n",
        "not Sigmoid",
    ),
    _mlp(
        "mlp_alpha_dropout",
        "                layers.append(nn.Dropout(p_hidden))\n",
        "                layers.append(nn.AlphaDropout(p_hidden))\n",
        "not AlphaDropout",
    ),
    _mlp(
        "mlp_square_linear_layers",
        _LINEAR,
        "        layers.append(nn.Linear(n_in, n_in if i < len(sizes) - 2 else n_out))\n",
        "consecutive pairs of sizes",
    ),
    _mlp("mlp_no_value_error", _VALIDATE, "", "must raise ValueError"),
    _mlp(
        "mlp_accepts_rate_1",
        "        if not 0 <= p < 1:\n",
        "        if not 0 <= p <= 1:\n",
        "must raise ValueError",
    ),
    _mlp("mlp_returns_a_list", _RETURN, "    return layers\n", "must return an nn.Sequential"),
    # --------------------------------------------------------------- keep_expected_width
    _width("width_rounds", "    return round(n / (1 - p))\n", "rounds n / (1 - p) to the nearest"),
    _width("width_floors", "    return int(n / (1 - p))\n", "rounds n / (1 - p) down"),
    _width("width_kept_units", "    return math.ceil(n * (1 - p))\n", "the units KEPT of n"),
    # int(n / (1 - p)) + 1 is not here: it differs from the rule only where n / (1 - p) is whole,
    # where the exercise accepts the next width too (floating point cannot tell them apart).
    _width("width_divides_by_p", "    return math.ceil(n / p)\n", "divide by the keep probability"),
    _width("width_not_rounded", "    return n / (1 - p)\n", "round it UP"),
    # -------------------------------------------------------------------- variance_shift
    _shift("shift_without_the_mean", "    return 1 / (1 - p)\n", "leaves out the mean"),
    _shift(
        "shift_second_moment_only",
        "    return (mean**2 + var) / (1 - p) / var\n",
        "the mean's square must be subtracted",
    ),
    _shift(
        "shift_upside_down",
        "    return var / (var + p / (1 - p) * (mean**2 + var))\n",
        "upside down",
    ),
    _shift(
        "shift_rate_inverted",
        "    return 1 + (1 - p) / p * (mean**2 + var) / var\n",
        "the wrong way round",
    ),
    _shift(
        "shift_standard_dropout",
        "    q = 1 - p\n    return (q * (mean**2 + var) - (q * mean) ** 2) / var\n",
        "standard dropout",
    ),
]

CORRECT = [
    Implementation(
        "mlp_reuses_one_relu_and_one_dropout",  # stateless modules may appear twice
        A07,
        "dropout_mlp",
        "def dropout_mlp(sizes, p_input, p_hidden):\n"
        "    for q in (p_input, p_hidden):\n"
        "        if not 0 <= q < 1:\n"
        "            raise ValueError('rate')\n"
        "    relu, drop = nn.ReLU(), nn.Dropout(p_hidden)\n"
        "    layers = [nn.Dropout(p_input)] if p_input > 0 else []\n"
        "    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):\n"
        "        layers.append(nn.Linear(a, b))\n"
        "        if i + 2 < len(sizes):\n"
        "            layers.append(relu)\n"
        "            if p_hidden > 0:\n"
        "                layers.append(drop)\n"
        "    return nn.Sequential(*layers)\n",
    ),
    _mlp(
        "mlp_rates_up_to_rounding_in_place_input",
        _INPUT,
        "    layers = [nn.Dropout(1 - (1 - p_input), inplace=True)] if p_input > 0 else []\n",
    ),
    Implementation(
        "mlp_named_layers",
        A07,
        "dropout_mlp",
        "from collections import OrderedDict\n"
        "\n"
        "def dropout_mlp(sizes, p_input, p_hidden):\n"
        "    if not (0 <= p_input < 1) or not (0 <= p_hidden < 1):\n"
        "        raise ValueError('rates must be in [0, 1)')\n"
        "    named = OrderedDict()\n"
        "    if p_input:\n"
        "        named['drop_in'] = nn.Dropout(p=p_input)\n"
        "    pairs = list(zip(sizes, sizes[1:]))\n"
        "    for k, (a, b) in enumerate(pairs[:-1]):\n"
        "        named[f'fc{k}'] = nn.Linear(a, b)\n"
        "        named[f'act{k}'] = nn.ReLU(inplace=True)\n"
        "        if p_hidden:\n"
        "            named[f'drop{k}'] = nn.Dropout(p_hidden)\n"
        "    named['out'] = nn.Linear(*pairs[-1])\n"
        "    return nn.Sequential(named)\n",
    ),
    Implementation(
        "mlp_add_modules_to_a_subclass",
        A07,
        "dropout_mlp",
        "class Net(nn.Sequential):\n"
        "    pass\n"
        "\n"
        "def dropout_mlp(sizes, p_input, p_hidden):\n"
        "    for p in (p_input, p_hidden):\n"
        "        if p < 0 or p >= 1:\n"
        "            raise ValueError(f'bad rate {p}')\n"
        "    net = Net()\n"
        "    if p_input > 0:\n"
        "        net.append(nn.Dropout(p_input))\n"
        "    *hidden, last = list(zip(sizes[:-1], sizes[1:]))\n"
        "    for n_in, n_out in hidden:\n"
        "        net.append(nn.Linear(n_in, n_out)).append(nn.ReLU())\n"
        "        if p_hidden > 0:\n"
        "            net.append(nn.Dropout(p_hidden))\n"
        "    net.append(nn.Linear(*last))\n"
        "    return net\n",
    ),
    _width(
        "width_counts_up",
        "    m = n\n    while m * (1 - p) < n:\n        m += 1\n    return m\n",
    ),
    _width("width_numpy_ceil", "    return np.ceil(n / (1 - p))\n"),
    _width(
        "width_exact_fraction",
        "    from fractions import Fraction\n"
        "    return math.ceil(Fraction(n) / (1 - Fraction(str(p))))\n",
    ),  # fmt: skip
    _shift("shift_li_et_al", "    q = 1 - p\n    return ((mean**2 + var) / q - mean**2) / var\n"),
    _width(
        "width_float32_torch",
        "    return int(torch.ceil(torch.tensor(n) / (1 - torch.tensor(p))))\n",
    ),
    _shift(
        "shift_float32_tensor",
        "    return torch.tensor(1 + p / (1 - p) * (mean**2 + var) / var)\n",
    ),
]
