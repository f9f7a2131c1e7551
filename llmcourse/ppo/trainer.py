r"""PPO for RLHF, the trainer: :func:`train_ppo` reads top to bottom like one iteration of the algorithm.

Every iteration (a "step"):

1. **rollout** — sample ``batch_size`` prompts, let the policy answer them (temperature sampling,
   cut after EOS), and score every response token with the policy, the frozen reference (the SFT
   model), the value model, and the whole response with the reward model
   (:func:`llmcourse.ppo.rollout.collect_rollout`);
2. **rewards** — $r_t = -\beta\,\log\frac{\pi_\theta}{\pi_{\mathrm{ref}}}$ on every token plus the score
   at the last one (:func:`~llmcourse.ppo.functional.kl_penalized_rewards`);
3. **advantages** — GAE($\gamma$, $\lambda$), then whitened over the batch's real tokens;
4. **update** — ``num_ppo_epochs`` passes over the batch in ``num_mini_batches`` shuffled minibatches,
   each minimising $\mathcal{L}^{\text{CLIP}} + c_v\,\mathcal{L}^{V}$, gradients clipped;
5. **controller** — $\beta$ moves toward the KL target (adaptive) or stays (fixed).

The four exercise functions of notebook 03 can be swapped in (``rewards_fn``, ``advantages_fn``,
``policy_loss_fn``, ``kl_update_fn``): a student's implementation then trains the real model.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Sequence

import torch

from llmcourse import tasks, templates, training
from llmcourse.config import check_numbers
from llmcourse.ppo import functional as F
from llmcourse.ppo import rollout as R

__all__ = ["PPOConfig", "train_ppo", "ppo_update", "evaluate", "prompts_from_records"]

PolicyAndValue = R.PolicyAndValue


@dataclass
class PPOConfig:
    """Settings of :func:`train_ppo`. Names follow TRL's ``PPOConfig`` where TRL has the concept."""

    learning_rate: float = 3e-5
    """AdamW learning rate shared by policy and value model (constant). The embedded tiny model
    learns well at ~1e-4; TRL's default for real models is 3e-6."""
    max_steps: int = 20
    """PPO iterations (one rollout batch + its update each)."""
    batch_size: int = 32
    """Prompts per iteration per process (TRL derives it as per_device_train_batch_size ×
    gradient_accumulation_steps × num_mini_batches)."""
    num_mini_batches: int = 2
    """Minibatches the rollout batch is split into for each PPO epoch."""
    num_ppo_epochs: int = 4
    """Passes over each rollout batch (TRL's default 4)."""
    max_grad_norm: float = 1.0
    """Gradient clipping (global L2 norm over policy and value parameters)."""
    response_length: int = 16
    """Maximum new tokens per response; a response that reaches it without EOS counts as "no EOS"."""
    temperature: float = 1.0
    """Sampling temperature; log-probs everywhere (rollout, reference, update) use logits / temperature."""
    kl_coef: float = 0.05
    """β, the KL penalty coefficient (the starting value when ``adaptive_kl`` is on). TRL: 0.05."""
    adaptive_kl: bool = False
    """Move β with the adaptive controller of Ziegler et al. toward ``target_kl``."""
    target_kl: float = 6.0
    """Adaptive controller's target for the mean per-sequence KL (nats). Note: in old TRL versions a
    field of this name meant early stopping; here it is the controller's target (TRL-classic's ``target``)."""
    horizon: float = 10_000.0
    """Adaptive controller's horizon H: β changes by a factor 1 + e·n/H per batch of n sequences."""
    cliprange: float = 0.2
    """ε of the clipped policy objective."""
    cliprange_value: float = 0.2
    """ε_v of the clipped value loss."""
    vf_coef: float = 0.1
    """Weight c_v of the value loss in the total loss."""
    gamma: float = 1.0
    """Discount γ (1: the score at the end counts fully for every token)."""
    lam: float = 0.95
    """GAE λ."""
    value_head: bool = False
    """Estimate values with a scalar head on the policy's own trunk instead of a separate value model
    (one forward/backward per minibatch instead of two; see :class:`~llmcourse.ppo.rollout.PolicyAndValue`).
    TRL's PPO uses a separate value model initialised from the reward model (the default here too)."""
    whiten_rewards: bool = False
    """Scale (not shift) the per-token rewards to unit variance before GAE."""
    missing_eos_penalty: float | None = None
    """Subtracted from the score of every response that hit ``response_length`` without EOS (None: off)."""
    eval_steps: int = 5
    """Evaluate (greedy decoding on ``eval_data``: exact match, RM score) every this many steps, and
    always before the first and after the last step; 0 = only before and after."""
    logging_steps: int = 1
    """Append a history entry every this many steps."""
    seed: int = 0
    """Seeds prompt sampling, generation and minibatch shuffling (no global RNG is touched)."""
    mixed_precision: str = "auto"
    """Passed to :func:`llmcourse.training.make_accelerator` (bf16 on CUDA, fp32 on CPU)."""
    progress: bool = True
    """Show a tqdm bar (main process only)."""

    def __post_init__(self):
        # every numeric key: its type, finite, in its range (config.RANGES), named in the message; below,
        # only what that table cannot say (a stricter bound for one config, keys that depend on each other)
        check_numbers(self)
        for name in ("max_steps", "max_grad_norm"):  # no epochs to fall back on (-1); no "no clipping" (0)
            if not getattr(self, name) > 0:
                raise ValueError(f"PPOConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if self.batch_size % self.num_mini_batches:
            raise ValueError(f"PPOConfig.batch_size={self.batch_size} is not divisible by num_mini_batches="
                             f"{self.num_mini_batches}; choose a batch size that is a multiple of it")
        if self.adaptive_kl and self.kl_coef == 0:
            raise ValueError("PPOConfig.adaptive_kl with kl_coef=0 can never move β (it is multiplicative); "
                             "start from a positive kl_coef")


# --------------------------------------------------------------------------- data


def prompts_from_records(records: Sequence[Mapping[str, str]], template: Callable[[str, str], str] = templates.alpaca_prompt):
    """Task-world / Alpaca records → ``[{"prompt": template(instruction, input), "answer": output}]``,
    the form :func:`train_ppo` takes for ``eval_data`` (and whose prompts it can train on)."""
    out = []
    for i, rec in enumerate(records):
        for key in ("instruction", "output"):
            if not isinstance(rec.get(key), str):
                raise ValueError(f"records[{i}]: missing or non-string field {key!r} (found {sorted(rec)}); "
                                 "each record needs 'instruction', 'input' (may be empty) and 'output'")
        out.append({"prompt": template(rec["instruction"], rec.get("input", "") or ""), "answer": rec["output"]})
    return out


def _check_prompts(prompts) -> list[str]:
    if isinstance(prompts, str) or not isinstance(prompts, Sequence):
        raise TypeError("prompts must be a list of prompt strings (or of {'prompt': ...} dicts)")
    out = []
    for i, p in enumerate(prompts):
        if isinstance(p, Mapping):
            p = p.get("prompt")
        if not isinstance(p, str) or not p.strip():
            raise ValueError(f"prompts[{i}] is {p!r}; every PPO prompt must be a non-empty string")
        out.append(p)
    if not out:
        raise ValueError("prompts is empty; PPO needs prompts to sample responses for")
    return out


def _check_eval_data(eval_data):
    if eval_data is None:
        return None
    out = []
    for i, rec in enumerate(eval_data):
        if not isinstance(rec, Mapping) or not isinstance(rec.get("prompt"), str) or not isinstance(rec.get("answer"), str):
            raise ValueError(f"eval_data[{i}] must be a dict with string 'prompt' and 'answer' (got {rec!r}); "
                             "build it with llmcourse.ppo.prompts_from_records(records)")
        out.append(rec)
    if not out:
        raise ValueError("eval_data is empty; pass None to skip evaluation")
    return out


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(policy, tokenizer, reward_model, eval_data, *, response_length: int, reward_tokenizer=None,
             temperature: float | None = None, seed: int = 0, batch_size: int = 64, accelerator=None) -> dict[str, float]:
    """Answers to the held-out ``eval_data`` prompts, scored: exact match against ``answer``, mean
    reward-model score, mean response length (tokens, EOS included) and EOS rate.

    Greedy decoding gives ``exact_match``, ``eval_score``, ``eval_length``, ``eval_eos_rate``; with a
    ``temperature``, the same prompts are also answered by **sampling** as in training (seeded, so
    every evaluation draws from the same random stream) → ``exact_match_sampled``,
    ``eval_score_sampled``: the behaviour PPO actually optimises. ``reward_model=None``: exact match,
    length and EOS rate only (no ``eval_score*``). Under several processes each scores its share and
    the results are gathered."""
    from accelerate.utils import gather_object

    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    mine = list(eval_data)[rank::world]
    device = next(policy.parameters()).device
    retokenize = reward_model is not None and R.check_reward_tokenizer(reward_model, tokenizer, reward_tokenizer)
    modes = [("", dict(do_sample=False))]
    if temperature is not None:
        modes.append(("_sampled", dict(do_sample=True, temperature=temperature)))
    out: dict[str, float] = {}
    for suffix, sampling in modes:
        rows: list[tuple[float, float, float, float]] = []
        for s in range(0, len(mine), batch_size):
            chunk = mine[s:s + batch_size]
            prompts = [r["prompt"] for r in chunk]
            q, qm = R.left_pad(R.encode_prompts(tokenizer, prompts), tokenizer.pad_token_id, device)
            ids, mask, has_eos = R.sample_responses(policy, tokenizer, q, qm, response_length=response_length,
                                                    seed=seed + 7919 * rank + s, **sampling)
            texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
            if reward_model is None:
                scores = torch.full((len(texts),), math.nan)
            elif retokenize:
                scores = R.score_responses(reward_model, reward_tokenizer, prompts, texts, has_eos, device)
            else:
                joined, joined_mask, _ = R.join(q, qm, ids, mask)
                scores = R.sequence_scores(reward_model, joined, joined_mask)
            for rec, text, sc, n, eos in zip(chunk, texts, scores.tolist(), mask.sum(-1).tolist(), has_eos.tolist()):
                rows.append((float(tasks.normalize(text) == tasks.normalize(rec["answer"])), sc, float(n), float(eos)))
        if world > 1:
            rows = gather_object(rows)
        n = max(1, len(rows))
        em, sc, ln, eos = (sum(col) / n for col in zip(*rows)) if rows else (math.nan,) * 4
        out[f"exact_match{suffix}"] = em
        if reward_model is not None:
            out[f"eval_score{suffix}"] = sc
        if not suffix:
            out.update(eval_length=ln, eval_eos_rate=eos)
    return out


# --------------------------------------------------------------------------- the trainer


def ppo_update(model, optimizer, accelerator, batch: R.Rollout, advantages: torch.Tensor, returns: torch.Tensor,
               config: PPOConfig, generator: torch.Generator, policy_loss_fn: Callable | None = None,
               where: str = "") -> dict[str, torch.Tensor]:
    r"""``num_ppo_epochs`` passes over one rollout batch in ``num_mini_batches`` shuffled minibatches,
    each an optimizer step on $\mathcal{L}^{\text{CLIP}} + c_v\,\mathcal{L}^{V}$ with clipped gradients.

    ``batch.logprobs`` / ``batch.values`` are the rollout's (π_old, V_old); the new ones are
    recomputed by the same :class:`~llmcourse.ppo.rollout.PolicyAndValue` forward, so on the first
    minibatch of the first epoch the ratio is exactly 1. Returns the per-minibatch diagnostics stacked
    (``policy_loss``, ``value_loss``, ``clipfrac``, ``approx_kl``, ``value_clipfrac``) and
    ``first_ratio_dev`` = max |ρ − 1| over the first minibatch's real tokens.
    """
    policy_loss_fn = policy_loss_fn or F.clipped_policy_loss
    B = len(batch)
    mb = B // config.num_mini_batches
    device = batch.logprobs.device
    stats: dict[str, list[torch.Tensor]] = {k: [] for k in ("policy_loss", "value_loss", "clipfrac", "approx_kl", "value_clipfrac")}
    first_ratio_dev = None
    model.train()
    for epoch in range(config.num_ppo_epochs):
        perm = torch.randperm(B, generator=generator).to(device, non_blocking=True)  # a blocking copy would sync
        for k in range(config.num_mini_batches):
            idx = perm[k * mb:(k + 1) * mb]
            m = batch.response_mask[idx]
            with accelerator.autocast():
                logits, vpred = model(batch.query_ids[idx], batch.query_mask[idx], batch.response_ids[idx], m)
            new_logp = F.logprobs_from_logits(logits, batch.response_ids[idx], config.temperature) * m
            vpred = vpred.float() * m
            old_logp, adv = batch.logprobs[idx], advantages[idx]
            pg_loss = policy_loss_fn(new_logp, old_logp, adv, m, config.cliprange)
            vf_loss = F.clipped_value_loss(vpred, batch.values[idx], returns[idx], m, config.cliprange_value)
            loss = pg_loss + config.vf_coef * vf_loss
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"PPO loss is {loss.item()} {where}at epoch {epoch}, minibatch {k} (policy loss {pg_loss.item()}, "
                    f"value loss {vf_loss.item()}); a loss function produced NaN/inf — e.g. a ratio of probabilities "
                    "instead of exp(log-prob difference), or unmasked padding")
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                if first_ratio_dev is None:
                    first_ratio_dev = ((torch.exp(new_logp - old_logp) - 1).abs() * m).max()
                stats["policy_loss"].append(pg_loss.detach())
                stats["value_loss"].append(vf_loss.detach())
                stats["clipfrac"].append(F.clip_fraction(new_logp, old_logp, adv, m, config.cliprange))
                stats["approx_kl"].append(F.approx_kl(new_logp, old_logp, m))
                v_clipped = (vpred - batch.values[idx]).abs() > config.cliprange_value
                stats["value_clipfrac"].append(F.masked_mean(v_clipped.float(), m))
    out = {k: torch.stack(v) for k, v in stats.items()}
    out["first_ratio_dev"] = first_ratio_dev
    return out


def train_ppo(policy, tokenizer, reward_model, prompts, config: PPOConfig | None = None, *, ref_model=None,
              value_model=None, reward_tokenizer=None, eval_data=None,
              rewards_fn: Callable | None = None, advantages_fn: Callable | None = None,
              policy_loss_fn: Callable | None = None, kl_update_fn: Callable | None = None,
              eval_fn: Callable | None = None) -> list[dict]:
    r"""Fine-tune ``policy`` (in place) with PPO against ``reward_model``; return the history.

    * ``policy`` — a causal LM (the SFT model); ``tokenizer`` its tokenizer (PAD and EOS required);
    * ``reward_model`` — a scalar-head model (``AutoModelForSequenceClassification``, ``num_labels=1``),
      not trained; scored at the last real token. With a different tokenizer pass ``reward_tokenizer`` and
      responses are re-tokenised as text;
    * ``prompts`` — formatted prompt strings (or ``{"prompt": ...}`` dicts) to sample from;
    * ``ref_model`` — the frozen reference $\pi_{\mathrm{ref}}$ (default: a copy of ``policy`` as given);
    * ``value_model`` — trained alongside (default: a copy of ``reward_model``, TRL's choice: it
      already reads responses the way the reward does; ``config.value_head=True``: a head on the policy);
    * ``eval_data`` — ``[{"prompt", "answer"}]`` for held-out exact match (see :func:`prompts_from_records`);
    * ``rewards_fn`` / ``advantages_fn`` / ``policy_loss_fn`` / ``kl_update_fn`` — replacements for
      :func:`~llmcourse.ppo.functional.kl_penalized_rewards`, :func:`~llmcourse.ppo.functional.gae_advantages`,
      :func:`~llmcourse.ppo.functional.clipped_policy_loss`, :func:`~llmcourse.ppo.functional.adaptive_kl_update`
      with the same signatures (a student's implementation trains the real model);
    * ``eval_fn`` — ``eval_fn(policy) -> dict`` of numbers, called at every evaluation (as ``eval_data``'s,
      also without it) with the policy in eval mode; its keys join the history entry (a caller's own
      measures over the run, e.g. the KL to a fixed model: TRL's ``on_evaluate`` callback).

    ``policy`` needs trainable parameters (a ``ValueError`` says so otherwise). ``ref_model`` and
    ``reward_model`` are only read (:func:`llmcourse.training.frozen`): moved to the training device
    and put in eval mode, their ``requires_grad`` flags, dropout settings and weights left as given.

    History: one dict per logged step with ``score`` (mean RM score of the sampled responses),
    ``kl`` (mean per-sequence $\sum_t k_1$), ``kl_k3``, ``non_score_reward`` ($-\beta$·KL per
    sequence), ``total_reward``, ``kl_coef`` (the β this batch was penalised with), ``entropy``,
    ``clipfrac``, ``approx_kl``, ``policy_loss``, ``value_loss``, ``value_clipfrac``,
    ``response_length``, ``eos_rate``, ``first_ratio_dev`` (max $|\rho-1|$ on the first minibatch of
    the first epoch: 0 unless rollout and update disagree), ``time_generate`` / ``time_score`` /
    ``time_update`` (seconds), and on evaluation steps (see :func:`evaluate`) ``exact_match`` /
    ``eval_score`` (greedy), ``exact_match_sampled`` / ``eval_score_sampled`` (sampled at the
    training temperature), ``eval_length``, ``eval_eos_rate``. Step 0 is the starting policy
    (evaluation only).
    """
    config = config or PPOConfig()
    if not isinstance(config, PPOConfig):
        raise TypeError(f"config must be a PPOConfig, got {type(config).__name__}")
    from llmcourse import models

    models.check_tokenizer(tokenizer)
    prompt_texts = _check_prompts(prompts)
    eval_data = _check_eval_data(eval_data)
    if config.value_head and value_model is not None:
        raise ValueError("config.value_head=True puts the value head on the policy; don't also pass value_model")
    rewards_fn = rewards_fn or F.kl_penalized_rewards
    advantages_fn = advantages_fn or F.gae_advantages

    accelerator = training.make_accelerator(mixed_precision=config.mixed_precision)
    device, rank, world = accelerator.device, accelerator.process_index, accelerator.num_processes

    # --- models: dropout off in what is trained; reference and reward model read under no_grad, in eval mode
    training.require_trainable(policy, "policy")
    R.check_reward_tokenizer(reward_model, tokenizer, reward_tokenizer)
    ref_model = training.frozen(ref_model if ref_model is not None else copy.deepcopy(policy), device)
    reward_model = training.frozen(reward_model, device)
    if not config.value_head:
        value_model = value_model if value_model is not None else copy.deepcopy(reward_model)
        training.disable_dropout(value_model).requires_grad_(True)
    model = R.PolicyAndValue(training.disable_dropout(policy), value_model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate,
                                  weight_decay=0.0)
    model, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(model)

    if config.adaptive_kl:
        kl_ctl = F.AdaptiveKLController(config.kl_coef, config.target_kl, config.horizon, update_fn=kl_update_fn)
    else:
        kl_ctl = F.FixedKLController(config.kl_coef)

    prompt_gen = torch.Generator().manual_seed(config.seed)
    shuffle_gen = torch.Generator().manual_seed(config.seed + 1)
    B = config.batch_size

    def run_eval() -> dict:
        if eval_data is None and eval_fn is None:
            return {}
        unwrapped.eval()
        out = {} if eval_data is None else evaluate(
            unwrapped.policy, tokenizer, reward_model, eval_data, response_length=config.response_length,
            reward_tokenizer=reward_tokenizer, temperature=config.temperature, seed=config.seed, accelerator=accelerator)
        return {**out, **(eval_fn(unwrapped.policy) if eval_fn is not None else {})}

    history: list[dict] = [{"step": 0, "episodes": 0, "kl_coef": kl_ctl.value, **run_eval()}]
    bar = training.progress(range(1, config.max_steps + 1), desc="PPO", accelerator=accelerator,
                            enabled=config.progress)
    for step in bar:
        # 1. rollout: sample prompts (disjoint across processes), generate, score
        t0 = time.perf_counter()
        order = torch.randperm(len(prompt_texts), generator=prompt_gen)
        need = B * world
        order = order.repeat(math.ceil(need / len(order)))[:need]  # fewer prompts than a batch: reuse them
        batch_prompts = [prompt_texts[i] for i in order[rank * B:(rank + 1) * B].tolist()]
        unwrapped.eval()
        ro = R.collect_rollout(unwrapped, ref_model, reward_model, tokenizer, batch_prompts,
                               response_length=config.response_length, temperature=config.temperature,
                               seed=(config.seed * 1_000_003 + step) * world + rank,
                               reward_tokenizer=reward_tokenizer, forward_batch_size=B // config.num_mini_batches)
        t_rollout = time.perf_counter()

        # 2. rewards: -β·KL per token, the score (minus the missing-EOS penalty) at the last token
        mask = ro.response_mask
        beta = kl_ctl.value
        scores = F.penalize_missing_eos(ro.scores, ro.has_eos, config.missing_eos_penalty)
        rewards = rewards_fn(scores, ro.logprobs, ro.ref_logprobs, mask, beta)
        if config.whiten_rewards:
            rewards = F.masked_whiten(rewards, mask, shift_mean=False)
        # 3. advantages: GAE, then whitened over the real tokens of the batch
        advantages, returns = advantages_fn(rewards, ro.values, mask, config.gamma, config.lam)
        advantages = F.masked_whiten(advantages, mask)
        t_score = time.perf_counter()

        # 4. update: PPO epochs over shuffled minibatches
        stats = ppo_update(model, optimizer, accelerator, ro, advantages, returns, config, shuffle_gen,
                           policy_loss_fn, where=f"at step {step} ")
        t_update = time.perf_counter()

        # 5. the KL coefficient for the next batch, from this batch's mean per-sequence KL
        seq_kl = F.sequence_kl(ro.logprobs, ro.ref_logprobs, mask)
        logging = step % config.logging_steps == 0 or step == config.max_steps
        means, maxima = {"kl": seq_kl}, {}
        if logging:
            non_score = -beta * seq_kl
            means.update({
                "score": ro.scores,
                "kl_k3": F.sequence_kl(ro.logprobs, ro.ref_logprobs, mask, "k3"),
                "non_score_reward": non_score,
                "total_reward": scores + non_score,
                "entropy": F.masked_mean(ro.entropy, mask, dim=-1),
                "response_length": mask.sum(-1),
                "eos_rate": ro.has_eos,
                **{k: v for k, v in stats.items() if k != "first_ratio_dev"},
            })
            maxima["first_ratio_dev"] = stats["first_ratio_dev"]
        metrics = training.read_metrics(accelerator, means, maxima)  # one read per step
        kl_ctl.update(metrics["kl"], B * world)

        if logging:
            entry = {
                "step": step,
                "episodes": step * B * world,
                **{k: metrics.pop(k) for k in ("score", "kl", "kl_k3", "non_score_reward", "total_reward")},
                "kl_coef": beta,
                **metrics,
                "time_generate": ro.timings["generate"],
                "time_score": (t_rollout - t0 - ro.timings["generate"]) + (t_score - t_rollout),
                "time_update": t_update - t_score,
            }
            if step == config.max_steps or (config.eval_steps and step % config.eval_steps == 0):
                entry.update(run_eval())
            history.append(entry)
            bar.set_postfix(score=f"{entry['score']:.2f}", kl=f"{entry['kl']:.2f}", beta=f"{beta:.3f}")
    unwrapped.eval()
    return history


def config_dict(config: PPOConfig) -> dict:
    """The config as a plain dict (for reports)."""
    return asdict(config)
