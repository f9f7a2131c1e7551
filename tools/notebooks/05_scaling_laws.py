# %% [markdown]
# # 05 · Scaling laws: how big a model, how much data?
#
# **Where we are.** Notebooks 01–04 were about *post-training*: the data and objectives that turn a
# pre-trained model into an assistant. Every one of them started from a base model somebody had to
# pre-train first, and pre-training is where nearly all the compute goes. Before spending it, a lab has to
# answer one question: **for a fixed compute budget, how many parameters, trained on how many tokens?**
# Scaling laws answer it, and the answer changed in 2022.
#
# In this notebook you will
# 1. contrast Kaplan et al. (2020) with Hoffmann et al. (2022, "Chinchilla") and see why Gopher was
#    under-trained;
# 2. write the Chinchilla loss $L(N, D)$ and the training cost $C \approx 6ND$;
# 3. derive the compute-optimal split of a budget with a Lagrangian, then compute it;
# 4. compute tokens per parameter and see where the "≈ 20 tokens per parameter" rule comes from — and where
#    it stops applying;
# 5. draw the seed guide's scaling-law plot with the *published* law (the guide plotted a made-up one);
# 6. fit a law to runs the way the paper did (a Huber loss in log space), and
# 7. **measure your own**: train 20 tiny language models on this course's task world and fit their law.
#
# Everything runs offline on a CPU in under two minutes. Graded exercises: 5 × 2 points (autograded) and
# one written answer (4 points, graded by hand).

# %% readonly="setup"
import math
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from llmcourse import scaling
from llmcourse.scaling import BESIROGLU_2024, CHINCHILLA, GOPHER, HOFFMANN_2022, KAPLAN_2020, ChinchillaParams
from llmcourse.scaling import plots as scaling_plots
from llmcourse.scaling import sweep

rng = np.random.default_rng(0)  # the only seed here; everything below draws from it or takes its own
_blas = threadpool_limits(limits=1, user_api="blas")  # the fits below are tiny: one BLAS thread is fastest

# %% [markdown]
# ## 1. Two scaling laws, two answers
#
# A **scaling law** is an empirical formula for how the held-out loss of a language model falls as you grow
# the parameters $N$, the training tokens $D$, or the compute $C$. Such laws are smooth over many orders of
# magnitude, which is what makes them useful: fit them on small runs, extrapolate to the big one.
#
# **Kaplan et al. (2020), "Scaling Laws for Neural Language Models" (OpenAI).** Loss is a power law in each
# resource when the others do not bottleneck it:
# $$L(N) = \left(\frac{N_c}{N}\right)^{0.076},\ N_c = 8.8\cdot10^{13};\qquad
#   L(D) = \left(\frac{D_c}{D}\right)^{0.095},\ D_c = 5.4\cdot10^{13}.$$
# For a compute budget their fits say: grow the model fast, the data slowly,
# $N_{opt} \propto C^{0.73}$, $D_{opt} \propto C^{0.27}$ — ten times the compute buys a 5.4× bigger model but
# only 1.9× the data. Bigger models are more sample-efficient, so "train very large models and stop
# well before convergence". GPT-3 (175B parameters, 300B tokens) and Gopher (280B, 300B) were built in
# this spirit.
#
# **Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models" (DeepMind).** Over 400 models
# from 70M to 16B parameters on 5B to 500B tokens, with the learning-rate schedule matched to each run's
# length, and three independent methods. All three say: scale $N$ and $D$ **equally**,
# $N_{opt} \propto C^{\approx 0.5}$, $D_{opt} \propto C^{\approx 0.5}$ — double the model, double the data.
# They tested it: **Chinchilla**, 70B parameters on 1.4T tokens, the same compute as Gopher (280B on 300B),
# beat Gopher on nearly every benchmark (67.5 % on MMLU, over 7 points more).
#
# Why did Kaplan et al. get a different answer? Hoffmann et al. point to the learning-rate schedule: Kaplan
# et al. used one schedule length for all runs, so the shorter runs were read off mid-schedule and their loss
# overestimated — penalising "small model, many tokens". Pearce & Song (2024, "Reconciling Kaplan and
# Chinchilla scaling laws") add that Kaplan et al. counted only **non-embedding** parameters and worked at
# smaller scale, which alone bends the exponent towards 0.73. Here is how far apart the two prescriptions are
# at Chinchilla's budget:

# %%
C = 5.76e23  # FLOPs: the budget Gopher and Chinchilla shared (Hoffmann et al.)
n_k, d_k = scaling.kaplan_optimal_params(C)
print(f"Kaplan et al. 2020:     N = {n_k:.2e} params, D = {d_k:.2e} tokens, {d_k / n_k:6.1f} tokens/param")
for name, p in scaling.PUBLISHED_PARAMS.items():
    n, d = scaling.compute_optimal_allocation(C, p)
    print(f"{name}: N = {n:.2e} params, D = {d:.2e} tokens, {d / n:6.1f} tokens/param")
for m in (GOPHER, CHINCHILLA):
    print(f"{m.name:>22s}: N = {m.N:.2e} params, D = {m.D:.2e} tokens, {m.D / m.N:6.1f} tokens/param "
          f"(6ND = {m.compute:.2e} FLOPs)")

# %% [markdown]
# Kaplan's rule wants a model about three times *bigger* than Gopher for this budget; both Chinchilla fits
# want one four to nine times *smaller*. (The two Chinchilla rows disagree with each other too — section 4 explains.)
#
# ## 2. The Chinchilla loss
#
# Hoffmann et al.'s Approach 3 models the final loss of a run with $N$ parameters trained on $D$ tokens as
# $$L(N, D) = E + \frac{A}{N^{\alpha}} + \frac{B}{D^{\beta}}.$$
# Three terms, three stories:
# * $E$ — the **irreducible loss**, the entropy of natural text: no model of any size removes it;
# * $A/N^{\alpha}$ — the penalty for a **finite model**: even with infinite data, $N$ parameters cannot
#   represent the text distribution perfectly;
# * $B/D^{\beta}$ — the penalty for **finite data**: the optimiser saw only $D$ tokens.
#
# The parameters are *facts with citations*, kept in the package as frozen constants:
#
# | parameter set | $E$ | $A$ | $B$ | $\alpha$ | $\beta$ |
# |---|---|---|---|---|---|
# | Hoffmann et al. 2022 (as rounded in the paper) | 1.69 | 406.4 | 410.7 | 0.34 | 0.28 |
# | Besiroglu et al. 2024 (refit, arXiv:2404.10102) | 1.8172 | 482.01 | 2085.43 | 0.3478 | 0.3658 |
#
# Besiroglu et al. reconstructed the paper's data from its Figure 4 and refitted it: the published fit
# fits those points poorly, its optimiser had stopped early (a loss-scale problem you will meet in section 6),
# and the rounding in the text biases predictions.

# %%
for name, p in scaling.PUBLISHED_PARAMS.items():
    print(f"{name}: {p}")


# %% [markdown]
# ### Exercise 1 — the loss (2 points)
#
# Write `chinchilla_loss(N, D, params=HOFFMANN_2022)`: $E + A/N^{\alpha} + B/D^{\beta}$ with the numbers read
# from `params` (fields `params.E`, `params.A`, `params.B`, `params.alpha`, `params.beta`). `N` and `D` may be
# numbers or NumPy arrays (broadcast like NumPy). The reference is `scaling.chinchilla_loss` — read it if
# stuck, but write your own.

# %% solution="chinchilla_loss"
def chinchilla_loss(N, D, params=HOFFMANN_2022):
    """L(N, D) = E + A / N**alpha + B / D**beta, elementwise."""
    ### BEGIN SOLUTION
    N = np.asarray(N, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    return params.E + params.A / N**params.alpha + params.B / D**params.beta
    ### END SOLUTION


# %% tests="test_chinchilla_loss" points=2
from llmcourse.checks import scaling as checks

checks.check_chinchilla_loss(chinchilla_loss)
### BEGIN HIDDEN TESTS
checks.check_chinchilla_loss(chinchilla_loss, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# **Why Gopher was under-trained.** Put Gopher and Chinchilla into your loss and split each into its terms:

# %%
for name, p in scaling.PUBLISHED_PARAMS.items():
    print(name)
    for m in (GOPHER, CHINCHILLA):
        model_term, data_term = p.A / m.N**p.alpha, p.B / m.D**p.beta
        print(f"  {m.name:>10s}: L = {float(chinchilla_loss(m.N, m.D, p)):.4f} = E {p.E:.4f}"
              f" + model term {model_term:.4f} + data term {data_term:.4f}")


# %% [markdown]
# Under either fit Gopher's **data term is 2.5–5 times its model term**: 280B parameters were
# bottlenecked by 300B tokens. Moving compute from parameters to tokens (4× fewer parameters, 4.7× more
# tokens) shrinks the data term by more than it grows the model term. That trade is what "under-trained"
# means: not a bad run, but a budget split in the wrong proportion.
#
# ## 3. Compute, and the optimal split
#
# **Training compute.** A forward pass through a dense transformer costs about $2N$ FLOPs per token (one
# multiply and one add per parameter); the backward pass about twice that (gradients with respect to
# activations *and* weights). So training on $D$ tokens costs
# $$C \approx 6ND \ \text{FLOPs}$$
# (Kaplan et al. 2020, §2.1; attention adds a term that is small for large models).
#
# **The Lagrangian.** Minimise the loss subject to a fixed budget $6ND = C$:
# $$\mathcal{L}(N, D, \lambda) = E + A N^{-\alpha} + B D^{-\beta} + \lambda\,(6ND - C).$$
# Setting the partial derivatives to zero,
# $$\frac{\partial\mathcal L}{\partial N} = -\alpha A N^{-\alpha-1} + 6\lambda D = 0,\qquad
#   \frac{\partial\mathcal L}{\partial D} = -\beta B D^{-\beta-1} + 6\lambda N = 0 .$$
# Multiply the first by $N$, the second by $D$: both equal $6\lambda ND$, so
# $$\alpha A N^{-\alpha} = \beta B D^{-\beta}$$
# — at the optimum the model term and the data term stand in the ratio $\beta : \alpha$. Substitute
# $D = C/(6N)$: $\ \alpha A N^{-\alpha} = \beta B\,(C/6)^{-\beta} N^{\beta}$, so
# $N^{\alpha+\beta} = \frac{\alpha A}{\beta B}\,(C/6)^{\beta}$ and
# $$N_{opt}(C) = G\left(\frac{C}{6}\right)^{\frac{\beta}{\alpha+\beta}},\qquad
#   D_{opt}(C) = G^{-1}\left(\frac{C}{6}\right)^{\frac{\alpha}{\alpha+\beta}},\qquad
#   G = \left(\frac{\alpha A}{\beta B}\right)^{\frac{1}{\alpha+\beta}}.$$
# Note which exponent goes where: $N_{opt}$ grows as $C^{a}$ with $a = \beta/(\alpha+\beta)$ — the **data**
# exponent on top. If data is the slower-improving resource (small $\beta$), you grow the model slowly and
# spend the compute on tokens. And $E$ plays no role in the split.
#
# ### Exercise 2 — the compute-optimal split (2 points)
#
# Write `compute_optimal_allocation(C, params=HOFFMANN_2022)` returning the tuple `(N_opt, D_opt)` for a budget
# `C` in FLOPs (a number or an array). Use only `E, A, B, alpha, beta` from `params`; check that
# `6 * N_opt * D_opt` gives back `C`.

# %% solution="compute_optimal_allocation"
def compute_optimal_allocation(C, params=HOFFMANN_2022):
    """(N_opt, D_opt) minimising L(N, D) subject to 6 N D = C."""
    ### BEGIN SOLUTION
    C = np.asarray(C, dtype=np.float64)
    alpha, beta = params.alpha, params.beta
    G = (alpha * params.A / (beta * params.B)) ** (1.0 / (alpha + beta))
    N_opt = G * (C / 6.0) ** (beta / (alpha + beta))
    D_opt = (C / 6.0) ** (alpha / (alpha + beta)) / G
    return N_opt, D_opt
    ### END SOLUTION


# %% tests="test_compute_optimal_allocation" points=2
from llmcourse.checks import scaling as checks

checks.check_compute_optimal_allocation(compute_optimal_allocation)
### BEGIN HIDDEN TESTS
checks.check_compute_optimal_allocation(compute_optimal_allocation, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# A check that the closed form really is the minimum: walk along the **IsoFLOP line** $D = C/(6N)$ for
# Gopher's budget and find the lowest loss numerically.

# %%
C = 5.76e23
n_grid = np.geomspace(1e9, 1e12, 2001)
for name, p in scaling.PUBLISHED_PARAMS.items():
    losses = chinchilla_loss(n_grid, C / (6 * n_grid), p)
    n_star, d_star = compute_optimal_allocation(C, p)
    print(f"{name}: grid minimum at N = {n_grid[np.argmin(losses)]:.3e}, closed form N_opt = {float(n_star):.3e}, "
          f"6·N·D / C = {float(6 * n_star * d_star / C):.6f}")


# %% [markdown]
# ## 4. Tokens per parameter, and the 20-tokens rule
#
# At the optimum,
# $$\frac{D_{opt}}{N_{opt}} = G^{-2}\left(\frac{C}{6}\right)^{\frac{\alpha-\beta}{\alpha+\beta}},$$
# which is a constant only if $\alpha = \beta$. The popular rule "**train on ≈ 20 tokens per parameter**" is
# Chinchilla itself (1.4T / 70B = 20), sized with the paper's Approaches 1 and 2, which gave
# $a \approx b \approx 0.5$.
#
# ### Exercise 3 — tokens per parameter (2 points)
#
# Write `tokens_per_parameter(C, params=HOFFMANN_2022)`: $D_{opt}/N_{opt}$ at budget `C`. (You may call your
# `compute_optimal_allocation`.)

# %% solution="tokens_per_parameter"
def tokens_per_parameter(C, params=HOFFMANN_2022):
    """D_opt / N_opt at the compute-optimal point for budget C."""
    ### BEGIN SOLUTION
    N_opt, D_opt = compute_optimal_allocation(C, params)
    return D_opt / N_opt
    ### END SOLUTION


# %% tests="test_tokens_per_parameter" points=2
from llmcourse.checks import scaling as checks

checks.check_tokens_per_parameter(tokens_per_parameter)
### BEGIN HIDDEN TESTS
checks.check_tokens_per_parameter(tokens_per_parameter, hidden=True)
### END HIDDEN TESTS

# %%
budgets = np.array([1e20, 1e21, 1e22, 5.76e23, 1e25, 1e26])
print(f"{'C (FLOPs)':22s} " + "".join(f"{c:>10.2g}" for c in budgets))
for name, p in scaling.PUBLISHED_PARAMS.items():
    print(f"{name:22s} " + "".join(f"{float(t):>10.1f}" for t in np.atleast_1d(tokens_per_parameter(budgets, p))))


# %% [markdown]
# Read the table before quoting the rule:
# * **It depends on the fit.** With the paper's rounded Approach-3 numbers ($\alpha = 0.34 > \beta = 0.28$)
#   the optimum is ≈ 90 tokens per parameter at Chinchilla's budget and grows with compute. Besiroglu et al.'s
#   refit has $\alpha \approx \beta$ and gives ≈ 20, nearly flat — consistent with the paper's other two
#   approaches and with Chinchilla itself. Small changes in the exponents move the rule by a factor of four.
# * **It minimises training compute only.** A model is trained once and then served for billions of
#   tokens; inference costs about $2N$ FLOPs per token. If you will serve a lot, a *smaller* model trained
#   far past 20 tokens/parameter costs more to train but less in total — which is why recent open models
#   are "over-trained" on purpose (Llama 3's 8B model saw about 15T tokens, nearly 2,000 per parameter; see
#   Sardana et al. 2024, "Beyond Chinchilla-Optimal: Accounting for Inference in Language Model Scaling Laws").
# * **It assumes fresh data.** $D$ counts unique tokens seen once. For the largest budgets the rule asks for
#   more high-quality text than exists; repeating data helps less than new data (Muennighoff et al. 2023,
#   "Scaling Data-Constrained Language Models", find up to about 4 epochs nearly as good as new data, and
#   rapidly diminishing returns after).
# * **It is a pre-training rule.** It says nothing about fine-tuning set sizes (notebooks 01–04).
#
# ## 5. The picture: the seed guide's Question 4, with the published law
#
# The seed guide's coding Question 4 plots a *hypothetical* loss (made-up constants, rescaled $N$ and $D$).
# We draw the real fit instead.
#
# ### Exercise 4 — the plot (2 points)
#
# Write `plot_loss_vs_params(n_values, data_sizes, params=HOFFMANN_2022)` that returns a matplotlib `Figure`
# with **one line per data size** $D$ in `data_sizes`: the loss $L(N, D)$ over the parameter grid `n_values`.
# Both axes logarithmic, both labelled, a legend with one entry per $D$, no other lines. The grader reads your
# figure's data back: axis scales, the number of lines, each line's $x$ and $y$ values.

# %% solution="plot_loss_vs_params"
def plot_loss_vs_params(n_values, data_sizes, params=HOFFMANN_2022):
    """L(N, D) against N (log-log), one line per D; returns the Figure."""
    ### BEGIN SOLUTION
    n = np.asarray(n_values, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for d in data_sizes:
        ax.plot(n, params.E + params.A / n**params.alpha + params.B / float(d) ** params.beta,
                label=f"D = {float(d):.2g} tokens")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("loss L(N, D) (nats/token)")
    ax.set_title("Chinchilla law: loss vs model size at fixed data")
    ax.legend()
    return fig
    ### END SOLUTION


# %% tests="test_plot_loss_vs_params" points=2
from llmcourse.checks import scaling as checks

checks.check_loss_plot(plot_loss_vs_params)
### BEGIN HIDDEN TESTS
checks.check_loss_plot(plot_loss_vs_params, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# Your function, with Gopher and Chinchilla marked on top. At fixed $D$ each curve flattens out at
# $E + B/D^{\beta}$: past a point, more parameters buy nothing without more data.

# %%
fig = plot_loss_vs_params(np.geomspace(1e8, 1e12, 60), [300e9, 1.4e12, 10e12])
ax = fig.axes[0]
for m in (GOPHER, CHINCHILLA):
    loss = float(chinchilla_loss(m.N, m.D))
    ax.scatter([m.N], [loss], zorder=3, color="k")
    ax.annotate(f"{m.name}: L = {loss:.3f}", (m.N, loss), textcoords="offset points", xytext=(6, 6))
plt.show()

# %% [markdown]
# The **efficient frontier** — $N_{opt}(C)$ and $D_{opt}(C)$ — from the package, for both fits and Kaplan's
# rule. Gopher sits far above the Chinchilla lines in parameters and far below in tokens; Chinchilla sits on
# the refit's frontier.

# %%
display(scaling_plots.plot_efficient_frontier())

# %% [markdown]
# ## 6. Fitting a law to runs
#
# Where do $E, A, B, \alpha, \beta$ come from? From runs: train many $(N, D)$ pairs, record each final loss,
# fit. Hoffmann et al.'s Approach 3 fits in **log space**. Write $A = e^{a}$, $B = e^{b}$, $E = e^{e}$, so all
# five unknowns $\theta = (a, b, e, \alpha, \beta)$ are unconstrained, and
# $$\log \hat L(N, D) = \log\!\left(e^{a - \alpha\log N} + e^{b - \beta\log D} + e^{e}\right)
#   = \mathrm{LSE}\left(a - \alpha\log N,\ b - \beta\log D,\ e\right),$$
# with LSE the numerically stable log-sum-exp (`scipy.special.logsumexp`, or `np.logaddexp.reduce`). The
# objective sums a **Huber loss** of the log-space residuals over runs $i$:
# $$J(\theta) = \sum_i \mathrm{Huber}_\delta\!\left(\mathrm{LSE}(a - \alpha\log N_i,\ b - \beta\log D_i,\ e) - \log L_i\right),
# \qquad \mathrm{Huber}_\delta(r) = \begin{cases}\tfrac12 r^2 & |r| \le \delta\\ \delta\,(|r| - \tfrac12\delta) & |r| > \delta\end{cases}$$
# with $\delta = 10^{-3}$. Log space makes every run count on the same *relative* scale; Huber makes the
# fit robust to a few bad runs (quadratic for small residuals, only linear for large ones). All logs are
# **natural** logs: $A/N^\alpha = e^{a - \alpha \ln N}$ holds for $\ln$, not for $\log_{10}$.
#
# ### Exercise 5 — the objective (2 points)
#
# Write `huber_log_objective(theta, N, D, loss, delta=1e-3)` returning $J(\theta)$ as a float, with
# `theta = (a, b, e, alpha, beta)` and `N, D, loss` arrays with one entry per run.

# %% solution="huber_log_objective"
from scipy.special import logsumexp


def huber_log_objective(theta, N, D, loss, delta=1e-3):
    """Sum over runs of Huber_delta(LSE(a - alpha log N, b - beta log D, e) - log L)."""
    ### BEGIN SOLUTION
    a, b, e, alpha, beta = np.asarray(theta, dtype=np.float64)
    N, D, loss = (np.asarray(x, dtype=np.float64) for x in (N, D, loss))
    terms = np.stack([a - alpha * np.log(N), b - beta * np.log(D), np.full(N.shape, e)])
    r = logsumexp(terms, axis=0) - np.log(loss)
    huber = np.where(np.abs(r) <= delta, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))
    return float(huber.sum())
    ### END SOLUTION


# %% tests="test_huber_log_objective" points=2
from llmcourse.checks import scaling as checks

checks.check_huber_log_objective(huber_log_objective)
### BEGIN HIDDEN TESTS
checks.check_huber_log_objective(huber_log_objective, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# **Your objective, used for real.** 250 synthetic runs drawn from Besiroglu et al.'s law with 1 % noise, over
# the range of Hoffmann et al.'s runs. First, L-BFGS on your objective with SciPy's default settings, from
# a start near the answer:

# %%
N = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), 250))
D = np.exp(rng.uniform(np.log(5e9), np.log(5e11), 250))
L = scaling.synthetic_losses(N, D, BESIROGLU_2024, noise=0.01, rng=rng)

theta0 = np.array([6.0, 7.0, 0.5, 0.4, 0.4])
naive = minimize(huber_log_objective, theta0, args=(N, D, L), method="L-BFGS-B")
scaled = minimize(lambda t: huber_log_objective(t, N, D, L) / 1e-3, theta0, method="L-BFGS-B",
                  options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 2000})
for name, res in (("default tolerances", naive), ("objective / δ, tight tolerances", scaled)):
    p = scaling.theta_to_params(res.x)
    print(f"{name:32s}: {res.nit:4d} iterations, J = {huber_log_objective(res.x, N, D, L):.6f}, "
          f"alpha = {p.alpha:.3f}, beta = {p.beta:.3f}, a = {p.a:.3f}")
print(f"{'truth':32s}:                  J = {huber_log_objective(scaling.params_to_theta(BESIROGLU_2024), N, D, L):.6f}, "
      f"alpha = {BESIROGLU_2024.alpha:.3f}, beta = {BESIROGLU_2024.beta:.3f}, a = {BESIROGLU_2024.a:.3f}")

# %% [markdown]
# With $\delta = 10^{-3}$ the objective is tiny (≈ $\delta\cdot|r|$ per run), and L-BFGS's default stopping
# rules are *absolute* below 1: it stops as soon as one step improves the objective by less than about
# $2\cdot10^{-9}$ — long before the optimum. This is the loss-scale problem Besiroglu et al. found in the
# original fit. Rescaling the objective (divide by $\delta$) and tightening the tolerances fixes it.
#
# The objective also has **local minima** (e.g. a term switched off with $A \to 0$), which is why the paper
# starts L-BFGS from a grid of initialisations. `scaling.fit_chinchilla` does all of this: it evaluates
# Hoffmann et al.'s 4,500-point grid in one vectorised pass, runs L-BFGS (analytic gradient, rescaled
# objective) from the 8 best points, keeps the best converged fit, raises an error if none converges, and
# optionally bootstraps the runs for confidence intervals:

# %%
t0 = time.perf_counter()
fit = scaling.fit_chinchilla(N, D, L, n_bootstrap=20, rng=np.random.default_rng(1))
print(f"fitted in {time.perf_counter() - t0:.1f} s")
print(fit.summary())
print(f"truth: {BESIROGLU_2024.as_array().round(4).tolist()}  (a = {BESIROGLU_2024.a:.4f})")

# %% [markdown]
# $A$ and $B$ are poorly pinned down — they trade off against the exponents — but the quantity that matters
# for allocation, $a = \beta/(\alpha+\beta)$, is tight. (Hoffmann et al. reported intervals for their fit so
# narrow that Besiroglu et al. estimate they would need more than 600,000 runs.)
#
# **Approach 2, IsoFLOP profiles**, for contrast: at each of a few budgets, train several sizes with
# $D = C/(6N)$, fit a parabola to loss against $\log N$, take its minimum, then fit $N_{opt} \propto C^{a}$
# through the minima.

# %%
iso_budgets = np.geomspace(1e18, 1e21, 4)
N_iso, D_iso, C_iso = scaling.isoflop_runs(iso_budgets, np.geomspace(2e7, 2e10, 9))
L_iso = scaling.synthetic_losses(N_iso, D_iso, BESIROGLU_2024, noise=0.003, rng=rng)
iso = scaling.isoflop_fit(N_iso, L_iso, C_iso)
print(f"Approach 2: N_opt ∝ C^{iso.a:.3f}   (the law's a = β/(α+β) = {BESIROGLU_2024.a:.3f});  minima inside the "
      f"sampled sizes: {iso.inside.tolist()}")
display(scaling_plots.plot_isoflop(iso, N_iso, L_iso, C_iso))

# %% [markdown]
# ## 7. Measure your own scaling law
#
# Now real runs. `sweep.run_scaling_sweep` trains **4 model sizes × 5 token budgets** of the course's tiny
# Llama-style decoder (`llmcourse.models.tiny_config`, 1 layer, widths 8–48) on the task world's plain
# pre-training sentences (`llmcourse.tasks.pretraining_text`), and records each run's loss on held-out text.
# Each size gets one run with a constant learning rate; at 80 % of each budget a copy branches off and
# decays its learning rate to zero over the last 20 %, so every row comes from a run that saw exactly $D$
# tokens and ended annealed (a warm-up–stable–decay schedule, Hägele et al. 2024) — the schedule-matching
# that Kaplan et al.'s runs lacked. About a minute on two CPU cores.

# %%
t0 = time.perf_counter()
rows = sweep.run_scaling_sweep(sweep.NOTEBOOK_SWEEP, progress=False)
print(f"{len(rows)} runs in {time.perf_counter() - t0:.0f} s")
print(f"{'width':>5} {'N (params)':>11} " + "".join(f"{'D=' + str(d // 1024) + 'K':>9}" for d in sweep.NOTEBOOK_SWEEP.token_budgets))
for width in sorted({r['hidden_size'] for r in rows}):
    own = [r for r in rows if r["hidden_size"] == width]
    print(f"{width:>5} {own[0]['N']:>11,} " + "".join(f"{r['loss']:>9.3f}" for r in own))

# %%
N_own, D_own, L_own = sweep.sweep_arrays(rows)
own_fit = scaling.fit_chinchilla(N_own, D_own, L_own, n_bootstrap=30, rng=np.random.default_rng(2))
print(own_fit.summary())
display(scaling_plots.plot_fit(own_fit, N_own, D_own, L_own))

# %%
p = own_fit.params
C_world = 6 * N_own.max() * D_own.max()  # the compute of our biggest run
n_opt, d_opt = scaling.compute_optimal_allocation(C_world, p)
print(f"our biggest run: N = {N_own.max():,.0f}, D = {D_own.max():,.0f}, C = {C_world:.2e} FLOPs")
print(f"our law's optimum for that budget: N = {float(n_opt):,.0f} params on D = {float(d_opt):,.0f} tokens "
      f"({float(d_opt / n_opt):.0f} tokens/param)")
print(f"exponents: ours alpha = {p.alpha:.2f}, beta = {p.beta:.2f}, a = {p.a:.2f}  |  "
      f"Besiroglu et al. alpha = {BESIROGLU_2024.alpha:.2f}, beta = {BESIROGLU_2024.beta:.2f}, a = {BESIROGLU_2024.a:.2f}")

# %% [markdown]
# **Reading your law honestly.**
# * The functional form fits tiny models too (look at the residuals), but the numbers are **this world's**:
#   a 500-token vocabulary, sentences about digit lists, and models of thousands — not billions — of
#   parameters. $E$ is the entropy of the random digits, far below natural text's, and the exponents come out
#   larger than Chinchilla's: this small world is learned quickly, in both $N$ and $D$.
# * 20 runs, one seed each: the bootstrap intervals are wide, and $A, B$ trade off against the exponents.
#   A lab would tune the learning rate per size, use several seeds, and cover many more orders of magnitude
#   before extrapolating.
# * The split is what transfers, not the constants: fit the law **on your own data, tokenizer and
#   architecture**, then read off $N_{opt}(C)$ for the budget you actually have.

# %% [markdown]
# ## 8. Written answer

# %% [markdown] readonly="q_implication"
# **Question (4 points).** You are given a fixed compute budget to pre-train a new foundation model. What do
# scaling laws — Kaplan et al. and Chinchilla — imply for how you spend it? Cover: how you would choose the
# model size and the number of training tokens, what that means for the data you must collect, when you
# would deliberately depart from the compute-optimal point, and how much you would trust published
# constants for your own setup.

# %% [markdown] manual="implication" points=4
# ### BEGIN SOLUTION
# **Model answer.** Fix the budget $C$ first and split it between parameters and tokens with a scaling
# law instead of building the largest model that fits: under the Chinchilla analysis both grow roughly as
# $\sqrt C$ ($a \approx b \approx 0.5$; $N_{opt} = G(C/6)^{\beta/(\alpha+\beta)}$ from minimising
# $E + A/N^\alpha + B/D^\beta$ subject to $C = 6ND$), which near today's budgets is on the order of 20 training
# tokens per parameter — e.g. a 70B model wants ≈ 1.4T tokens. Kaplan et al.'s $N \propto C^{0.73}$ would
# have put far more into parameters and under-trained the model, as happened with GPT-3 and Gopher.
#
# The practical consequence is that **data becomes the bottleneck**: the budget must include collecting,
# deduplicating and filtering trillions of high-quality tokens (and mixing domains), since the law assumes
# unique, fresh tokens; where data runs out, a few epochs of repetition help but with diminishing returns.
#
# I would depart from the compute-optimal point on purpose when **inference** dominates: the law minimises
# training loss per training FLOP, but serving costs ≈ $2N$ FLOPs per generated token, so a model that will
# serve many tokens should be smaller and trained on many more tokens than 20 per parameter (Llama-style
# over-training). Hardware memory, latency targets and data availability can move the choice too.
#
# Finally, I would not trust the published constants blindly: the two published fits of the same paper's
# data differ (≈ 90 vs ≈ 20 tokens per parameter at Chinchilla's budget), and the constants depend on
# tokenizer, data mix and architecture. I would run my own small sweep (IsoFLOP profiles or a parametric
# Approach-3 fit with a robust loss, with bootstrap intervals), check its extrapolation against a few larger
# runs, and only then size the big run.
#
# **Rubric (4 points).**
# - 1 pt: allocation — fix $C$, split between $N$ and $D$ by the law; both scale ≈ equally (≈ 20 tokens/param
#   near Chinchilla scale), contrasted with Kaplan's "bigger model" prescription (GPT-3 / Gopher under-trained).
# - 1 pt: data consequence — need ≈ 20·N high-quality tokens; invest in sourcing, deduplication, filtering;
#   data limits / repetition mentioned.
# - 1 pt: inference-aware departure — smaller model on more tokens when serving cost matters (or another
#   concrete reason such as memory/latency), with the reason that the law optimises training compute only.
# - 1 pt: trust — constants are setup-specific and published fits disagree (rounding / refit); fit your own
#   law at small scale and validate before extrapolating.
# Half a point per item for the idea without the reason.
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# * $L(N, D) = E + A/N^\alpha + B/D^\beta$: irreducible entropy + finite-model + finite-data terms.
# * $C \approx 6ND$; minimising $L$ on that constraint gives $N_{opt} \propto C^{\beta/(\alpha+\beta)}$,
#   $D_{opt} \propto C^{\alpha/(\alpha+\beta)}$ — roughly equal scaling, unlike Kaplan et al.'s $C^{0.73}$.
# * "20 tokens per parameter" is Chinchilla's own ratio; the law's ratio depends on $C$, on the fit, on
#   inference plans and on how much data exists.
# * Fits are delicate: Huber loss in log space, a grid of starts, a sensible loss scale, bootstrap intervals.
# * A law measured on your own data and models is worth more than a borrowed one.
#
# **References.** Kaplan et al. 2020, arXiv:2001.08361 · Hoffmann et al. 2022, arXiv:2203.15556 · Besiroglu,
# Erdil, Barnett & You 2024, arXiv:2404.10102 · Pearce & Song 2024, arXiv:2406.12907 · Muennighoff et al. 2023,
# arXiv:2305.16264 · Sardana et al. 2024, arXiv:2401.00448 · Hägele et al. 2024, arXiv:2405.18392.
