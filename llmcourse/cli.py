"""The ``llmcourse`` command: ``demo``, ``doctor``, ``build-base``, and ``course build|check|run|grade``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _cmd_demo(args: argparse.Namespace) -> int:
    from llmcourse.demo import demo_settings, run_demo

    given = {k: v for k, v in dict(model=args.model, data=args.data, output=args.output, seed=args.seed, seeds=args.seeds,
                                   stages=args.stages, quick=args.quick or None, force=args.force or None).items() if v is not None}
    run_demo(*demo_settings(given, args.config))
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    import platform

    import torch

    from llmcourse import models, training

    rows = [("python", platform.python_version()), ("torch", torch.__version__)]
    for mod in ("transformers", "tokenizers", "accelerate", "numpy", "scipy", "matplotlib", "nbgrader", "nltk", "trl"):
        try:
            m = __import__(mod)
            rows.append((mod, getattr(m, "__version__", "?")))
        except ImportError:
            rows.append((mod, "not installed"))
    rows.append(("device", str(training.default_device())))
    rows.append(("mixed precision (auto)", training.resolve_mixed_precision("auto")))
    rows.append(("cpu threads", str(torch.get_num_threads())))
    rows.append(("cache", str(models.cache_dir())))
    built = sorted(models.cache_dir().glob("base-*/llmcourse_build.json"))
    rows.append(("base model", str(built[-1].parent) if built else "not built yet (built on first use, ~1 min)"))
    try:
        from llmcourse import augment

        rows.append(("WordNet (NLTK)", augment.wordnet_status()))
    except (ImportError, AttributeError):
        rows.append(("WordNet (NLTK)", "augment module not available"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


def _cmd_build_base(args: argparse.Namespace) -> int:
    from llmcourse import models

    if args.output:
        out = Path(args.output)
        if out.exists() and any(out.iterdir()):
            raise SystemExit(f"llmcourse: {out}: folder exists and is not empty; choose another --output")
        facts = models.pretrain_base_model(out)
        print(f"base model written to {out} in {facts['seconds']} s ({facts['parameters']:,} parameters)")
    else:
        print(models.base_model_path())
    return 0


def _cmd_course(args: argparse.Namespace) -> int:
    from llmcourse import course

    if args.action in ("feedback", "export"):
        return _cmd_course_workdir(args)
    root = course.find_course_root(args.course)
    if args.action == "build":
        from llmcourse.course import sources

        for p in sources.build(root, args.assignments or None):  # tools/notebooks/*.py -> solutions/
            print(f"generated {p.relative_to(root)}")
        for p in course.build(root, assignments=args.assignments or None):  # solutions/ -> notebooks/
            print(f"generated {p.relative_to(root)}")
    elif args.action == "check":
        from llmcourse.course import sources

        problems = sources.check(root) + course.release_diff(root)
        for line in problems:
            print(line)
        if problems:
            return 1
        print("solutions/ is in sync with tools/notebooks/ and notebooks/ with solutions/")
    elif args.action == "run":
        for nb_path in args.assignments:
            nb, timings = course.execute(nb_path)
            total = sum(t for _, t in timings)
            # cells counted from 1, in notebook order
            print(f"{nb_path}: {total:.1f} s; slowest cells: " + ", ".join(f"#{i + 1} {t:.1f}s" for i, t in timings[:3]))
            for i, text in course.stderr_outputs(nb):
                print(f"  stderr in cell #{i + 1}: {text!r}")
    elif args.action == "grade":
        if not args.assignments:
            raise SystemExit("llmcourse course grade: pass the submissions folder (<student>/<assignment>/<notebook>.ipynb)")
        import tempfile

        limits = course.GradingLimits(cell_timeout=args.timeout, submission_timeout=args.submission_timeout,
                                      memory_mb=args.memory_mb or None, isolation=args.isolation,
                                      network=args.network, read_paths=tuple(args.read_path or ()))
        with tempfile.TemporaryDirectory(prefix="llmcourse-grade-") as tmp:
            workdir = Path(args.workdir) if args.workdir else (Path(tmp) if args.nbgrader_csv else None)
            scores = course.grade(args.assignments[0], root=root, assignments=args.assignments[1:] or None,
                                  limits=limits, workdir=workdir, feedback_dir=args.feedback, jobs=args.jobs,
                                  progress=lambda line: print(line, flush=True))
            if args.nbgrader_csv:
                course.export_grades(workdir, args.nbgrader_csv)
                print(f"nbgrader's CSV export written to {args.nbgrader_csv}")
        print("report (per notebook):")
        for s in scores:
            manual = "  (+ manual grading pending)" if s.needs_manual_grade else ""
            print(f"{s.student:<20} {s.assignment:<22} {s.score:g}/{s.max_score:g}  {s.seconds:.1f} s{manual}")
            for line in s.flagged:
                print(f"    ! {line}")
        if args.csv:
            course.write_scores_csv(scores, Path(args.csv))
            print(f"scores written to {args.csv}")
        if args.feedback:
            print(f"feedback (no hidden tests) written to {args.feedback}/<student>/<assignment>/")
        if args.workdir:
            print(f"graded course kept in {args.workdir}: hand-grade with `cd {args.workdir} && jupyter lab` "
                  f"(Nbgrader > Formgrader), then `llmcourse course feedback {args.workdir}`")
    return 0


def _cmd_course_workdir(args: argparse.Namespace) -> int:
    """``course feedback WORKDIR`` and ``course export WORKDIR``: after manual grading in formgrader."""
    from llmcourse import course

    if len(args.assignments) != 1:
        raise SystemExit(f"llmcourse course {args.action}: pass the --workdir folder of `course grade`")
    work = args.assignments[0]
    if args.action == "feedback":
        written, problems = course.feedback(work, args.feedback)
        where = args.feedback or f"{work}/course/feedback"
        print(f"{len(written)} feedback file(s) (no hidden tests) written to {where}/<student>/<assignment>/")
        for line in problems:
            print(f"    ! {line}")
        return 1 if problems else 0
    if not args.nbgrader_csv:
        raise SystemExit("llmcourse course export: pass --nbgrader-csv FILE")
    course.export_grades(work, args.nbgrader_csv)
    print(f"nbgrader's CSV export written to {args.nbgrader_csv}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llmcourse", description="The data and objectives of LLM post-training, as a graded course.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="run the main job (base → SFT → PPO / DPO / GRPO) and write a report")
    d.add_argument("--model", help="Hugging Face model name or local folder (default: the embedded base model)")
    d.add_argument("--data", help="Alpaca / Dolly / chat / preference JSON or JSONL file (default: the task world)")
    d.add_argument("--output", help="report folder (default: ./demo-report)")
    d.add_argument("--seed", type=int, help="seed for data, sampling and training (default 0)")
    d.add_argument("--seeds", type=int, help="runs of each post-SFT method (PPO, DPO, GRPO) from the same SFT model "
                   "(seeds --seed, --seed+1, …); the table shows mean ± std (default 3)")
    d.add_argument("--stages", help="comma-separated subset of sft,reward,ppo,dpo,grpo (default: all); base and SFT "
                   "always run, ppo adds the reward model it needs; without reward the table has no RM score")
    d.add_argument("--config", help="TOML/YAML/JSON file with [demo], [sft], [reward], [ppo], [dpo], [grpo] sections "
                                    "(keys: the fields of DemoConfig, SFTConfig, RewardConfig, PPOConfig, DPOConfig, "
                                    "GRPOConfig)")
    d.add_argument("--quick", action="store_true", help="a fast setting (for tests and a first look)")
    d.add_argument("--force", action="store_true", help="replace an earlier llmcourse report at --output")
    d.set_defaults(func=_cmd_demo)

    doc = sub.add_parser("doctor", help="versions, device, caches, optional data")
    doc.set_defaults(func=_cmd_doctor)

    b = sub.add_parser("build-base", help="build (or locate) the embedded base model")
    b.add_argument("--output", help="write a fresh build here instead of the cache")
    b.set_defaults(func=_cmd_build_base)

    c = sub.add_parser("course", help="nbgrader course tooling")
    c.add_argument("action", choices=["build", "check", "run", "grade", "feedback", "export"],
                   help="build: regenerate solutions/ from tools/notebooks/ and notebooks/ from solutions/; "
                        "check: are they in sync; "
                        "run NOTEBOOK...: execute and time; grade SUBMISSIONS: autograde a folder; "
                        "feedback WORKDIR: regenerate feedback after manual grading (no hidden tests); "
                        "export WORKDIR: nbgrader's CSV export of the gradebook as it is now")
    c.add_argument("assignments", nargs="*", help="assignment ids (build), notebook paths (run), the submissions "
                                                    "folder then optionally assignment ids (grade), or the "
                                                    "graded --workdir (feedback, export)")
    c.add_argument("--course", help="course folder (default: this checkout)")
    g = c.add_argument_group("grade", "limits and outputs of `course grade` (see the README, Grading untrusted code)")
    g.add_argument("--timeout", type=int, default=300, help="per-cell timeout in seconds (default 300)")
    g.add_argument("--submission-timeout", type=int, default=1800,
                   help="wall-clock seconds for one student's assignment (default 1800)")
    g.add_argument("--memory-mb", type=int, default=4096, help="memory limit of each kernel, 0 for none (default 4096)")
    g.add_argument("--isolation", choices=["auto", "required", "none"], default="auto",
                   help="auto: Linux namespaces when available (default); required: refuse without; none: limits only")
    g.add_argument("--network", action="store_true", help="let student code use the network (default: none)")
    g.add_argument("--read-path", action="append", help="a host folder student code may read (repeatable)")
    g.add_argument("--jobs", type=int, default=1,
                   help="submissions graded at once (default 1; about one per core and per 4 GB of memory)")
    g.add_argument("--workdir", help="keep the graded nbgrader course here (empty folder) for formgrader, "
                                     "`course feedback` and `course export`")
    g.add_argument("--feedback", help="write feedback HTML without hidden tests to this folder (grade, feedback)")
    g.add_argument("--csv", help="write per-notebook scores and report lines to this CSV file")
    g.add_argument("--nbgrader-csv", help="write nbgrader's own CSV export (nbgrader export) to this file (grade, export)")
    c.set_defaults(func=_cmd_course)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("llmcourse: interrupted; no report was left behind", file=sys.stderr)
        return 130
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        print(f"llmcourse: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # training diverged (a NaN/inf loss): a setting, not a bug to trace
        print(f"llmcourse: {exc}; lower the learning rate or check the --config values", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
