"""Wrong answers for ``05_scaling_laws`` (see ``tests/wrong_answers/__init__.py``).

Four entries on four different cells, so they share one submission (the notebook's sweep makes each
extra autograde run cost about a minute)."""

from . import WrongAnswer

WRONG_ANSWERS = [
    WrongAnswer("05_scaling_laws", "chinchilla_loss", "test_chinchilla_loss", "N and D swapped", '''
def chinchilla_loss(N, D, params=HOFFMANN_2022):
    N = np.asarray(N, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    return params.E + params.A / D**params.alpha + params.B / N**params.beta
'''),
    WrongAnswer("05_scaling_laws", "compute_optimal_allocation", "test_compute_optimal_allocation",
                "exponents swapped", '''
def compute_optimal_allocation(C, params=HOFFMANN_2022):
    C = np.asarray(C, dtype=np.float64)
    alpha, beta = params.alpha, params.beta
    G = (alpha * params.A / (beta * params.B)) ** (1.0 / (alpha + beta))
    return G * (C / 6.0) ** (alpha / (alpha + beta)), (C / 6.0) ** (beta / (alpha + beta)) / G
''', also_loses=("test_tokens_per_parameter",)),
    WrongAnswer("05_scaling_laws", "plot_loss_vs_params", "test_plot_loss_vs_params", "linear instead of log axes", '''
def plot_loss_vs_params(n_values, data_sizes, params=HOFFMANN_2022):
    n = np.asarray(n_values, dtype=np.float64)
    fig, ax = plt.subplots()
    for d in data_sizes:
        ax.plot(n, params.E + params.A / n**params.alpha + params.B / d**params.beta, label=f"D = {d:.2g}")
    ax.set_xlabel("N")
    ax.set_ylabel("loss")
    ax.legend()
    return fig
'''),
    WrongAnswer("05_scaling_laws", "huber_log_objective", "test_huber_log_objective",
                "natural and base-10 logs mixed", '''
from scipy.special import logsumexp


def huber_log_objective(theta, N, D, loss, delta=1e-3):
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * np.log(N), b - beta * np.log(D), np.full(np.shape(N), e)])
    r = logsumexp(terms, axis=0) - np.log10(loss)
    return float(np.where(np.abs(r) <= delta, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta)).sum())
'''),
]
