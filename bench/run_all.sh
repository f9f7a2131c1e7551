#!/usr/bin/env bash
# Every benchmark behind bench/README.md, one after the other, on an otherwise idle machine.
#
#     bash bench/run_all.sh [NAME ...]     (about 45 minutes on 2 cores for all of them)
#
# NAME: base_build base demo sft reward ppo dpo grpo grpo_trl course grading scaling_fit eda rouge_filter (default: all).
# Results go to $BENCH_OUT (default bench-results/), one NAME.txt each, as well as the terminal.
# Needs the bench extra
# (`.venv/bin/pip install -e '.[bench]'`: TRL, nlpaug) and WordNet (`bash tools/install_wordnet.sh`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=${BENCH_OUT:-bench-results}
WANT=" ${*:-base_build base demo sft reward ppo dpo grpo grpo_trl course grading scaling_fit eda rouge_filter} "
mkdir -p "$OUT"

run() {  # run NAME CMD...: time CMD, keep its output
    local name=$1; shift
    [[ $WANT == *" $name "* ]] || return 0
    echo "== $name: $*" | tee "$OUT/$name.txt"
    local t0=$SECONDS
    "$@" 2>&1 | tee -a "$OUT/$name.txt"
    echo "== $name: $((SECONDS - t0)) s wall" | tee -a "$OUT/$name.txt"
}

{
    echo "date: $(date -u +%FT%TZ)"
    echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    $PY -c "import platform, torch, transformers; print('python', platform.python_version(), '| torch', torch.__version__, '| transformers', transformers.__version__)"
} | tee "$OUT/machine.txt"

# the embedded base model from scratch, in a throw-away cache (the real cache is left alone)
tmp_cache=$(mktemp -d)
trap 'rm -rf "$tmp_cache"' EXIT
run base_build env LLMCOURSE_CACHE="$tmp_cache" .venv/bin/llmcourse build-base

run base $PY bench/bench_base.py
run demo .venv/bin/llmcourse demo --output "$OUT/demo-report" --force  # --force replaces only an earlier report
run sft $PY bench/bench_sft.py --throughput --padding --quality --repeats 3
run reward $PY bench/bench_reward.py --throughput --quality --repeats 3
run ppo $PY bench/bench_ppo.py --repeats 3
run dpo env OMP_NUM_THREADS=1 $PY bench/bench_dpo.py --quality --trl --repeats 3
run grpo $PY bench/bench_grpo.py  # two threads: the goal is 120 s on 2 cores
run grpo_trl env OMP_NUM_THREADS=1 $PY bench/bench_grpo_trl.py
run course $PY bench/bench_course.py
run grading $PY bench/bench_grading.py 00_welcome --n 7 --repeats 2
run scaling_fit $PY bench/bench_scaling_fit.py
run eda $PY bench/bench_eda.py
run rouge_filter $PY bench/bench_rouge_filter.py
