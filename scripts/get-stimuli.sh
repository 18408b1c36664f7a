#!/usr/bin/env bash
# Fetches the data the shape-bias, evaluation and comparison examples of README.md use, into the
# layout the tools expect:
#
#   DIR/stimuli/cue-conflict/<shape>/<shape><i>-<texture><j>.png   1280 (80 per category)
#   DIR/stimuli/edges/<category>/*.png                               160 (10 per category)
#   DIR/stimuli/filled-silhouettes/<category>/*.png                  160 (10 per category)
#   DIR/stimuli/LICENSE-CC-BY-4.0.txt                                the stimuli's licence
#   DIR/human-raw-data/<dataset>/<dataset>_subject-NN_session_1.csv  human observers
#   DIR/model-raw-data/<dataset>/<dataset>_<model>_session-1.csv     models model-vs-human ran
#
# Sources: github.com/rgeirhos/texture-vs-shape (folder stimuli/, CC BY 4.0; the cue-conflict
# images are its stimuli/style-transfer-preprocessed-512) and github.com/bethgelab/model-vs-human
# (folder raw-data/). Only those folders are downloaded: a shallow (--depth 1), blobless
# (--filter=blob:none), sparse clone fetches the files it checks out and nothing else.
set -euo pipefail
# Empty globs expand to nothing, so a folder without files counts 0, not 1; bytes, not
# characters, in the PNG-signature check (its first byte is no UTF-8).
shopt -s nullglob
export LC_ALL=C

PROG=$(basename "$0")
# Variables so that a mirror, a fork or a local bare repository (the offline test) can stand in.
TEXTURE_VS_SHAPE_URL=${TEXTURE_VS_SHAPE_URL:-https://github.com/rgeirhos/texture-vs-shape.git}
MODEL_VS_HUMAN_URL=${MODEL_VS_HUMAN_URL:-https://github.com/bethgelab/model-vs-human.git}

usage() {
  cat <<EOF
Usage: $PROG DIR
Fetch the cue-conflict, edge and silhouette stimuli of Geirhos et al. (ICLR 2019) and the
model-vs-human raw data (human observers and models) into DIR, checking every file count.

  DIR/stimuli/cue-conflict/          1280 cue-conflict images (16 shape categories x 80)
  DIR/stimuli/edges/                  160 edge images (16 x 10)
  DIR/stimuli/filled-silhouettes/     160 filled silhouettes (16 x 10)
  DIR/stimuli/LICENSE-CC-BY-4.0.txt   their licence (CC BY 4.0)
  DIR/human-raw-data/<dataset>/       human observers' trials: cue-conflict, edge and
                                      silhouette 10 CSVs each, sketch 7, stylized 5
  DIR/model-raw-data/<dataset>/       the models model-vs-human evaluated, same CSV format

Sources (shallow, sparse git clones of these folders only; needs git):
  \$TEXTURE_VS_SHAPE_URL  default $TEXTURE_VS_SHAPE_URL
                         (folder stimuli/, CC BY 4.0)
  \$MODEL_VS_HUMAN_URL    default $MODEL_VS_HUMAN_URL
                         (folder raw-data/; licences in licenses/)

Running it again on a complete DIR changes nothing; a part that is missing or short is fetched
again. Exit status: 0 when DIR is complete, 1 when a fetch failed or a count is wrong, 2 for
bad arguments.

Example:
  $PROG ~/data/texture-vs-shape
  build/bagnet-shape-bias --model bagnet33 --stimuli ~/data/texture-vs-shape/stimuli/cue-conflict \\
      --from-csv ~/data/texture-vs-shape/human-raw-data/cue-conflict/*.csv -o shape-bias/
EOF
}

die() {  # one line on stderr, exit 1: the caller sees what is wrong without scrolling
  echo "$PROG: error: $*" >&2
  exit 1
}

CATEGORIES=(airplane bear bicycle bird boat bottle car cat chair clock dog elephant keyboard knife
            oven truck)
# local folder | folder in texture-vs-shape | PNG files per category (x 16 categories)
STIMULI=("cue-conflict|stimuli/style-transfer-preprocessed-512|80"
         "edges|stimuli/edges|10"
         "filled-silhouettes|stimuli/filled-silhouettes|10")
STIMULI_LICENCE_UPSTREAM=DATASET_LICENSE  # texture-vs-shape's licence of its stimuli/ folders
STIMULI_LICENCE=LICENSE-CC-BY-4.0.txt
# model-vs-human dataset | number of human observers (files <dataset>_subject-NN_session_1.csv)
HUMANS=("cue-conflict|10" "edge|10" "silhouette|10" "sketch|7" "stylized|5")

# --- checks: each prints one line per problem (nothing when all is well) -----------------------

check_stimuli() {  # check_stimuli ROOT: ROOT/stimuli as laid out above
  local root=$1 entry name upstream per c files f sig
  for entry in "${STIMULI[@]}"; do
    IFS='|' read -r name upstream per <<<"$entry"
    for c in "${CATEGORIES[@]}"; do
      files=()
      [[ -d $root/stimuli/$name/$c ]] && files=("$root/stimuli/$name/$c"/*.png)
      if [[ ${#files[@]} -ne $per ]]; then
        echo "stimuli/$name/$c has ${#files[@]} PNG files, expected $per"
        continue
      fi
      # A PNG signature, not a Git LFS pointer or an HTML error page saved under a .png name.
      for f in "${files[@]}"; do
        sig=
        read -r -n 4 sig <"$f" || true
        if [[ $sig != $'\x89PNG' ]]; then
          echo "stimuli/$name/$c/${f##*/} is not a PNG file"
          break
        fi
      done
    done
  done
  [[ -s $root/stimuli/$STIMULI_LICENCE ]] ||
    echo "stimuli/$STIMULI_LICENCE (the licence, $STIMULI_LICENCE_UPSTREAM upstream) is missing"
  return 0
}

check_humans() {  # check_humans ROOT: ROOT/human-raw-data as laid out above
  local root=$1 entry ds n files f line
  for entry in "${HUMANS[@]}"; do
    IFS='|' read -r ds n <<<"$entry"
    files=()
    [[ -d $root/human-raw-data/$ds ]] && files=("$root/human-raw-data/$ds/${ds}_subject-"*_session_1.csv)
    if [[ ${#files[@]} -ne $n ]]; then
      echo "human-raw-data/$ds has ${#files[@]} human observers' CSV files, expected $n"
      continue
    fi
    for f in "${files[@]}"; do
      line=
      read -r line <"$f" || true
      if [[ $line != subj,* ]]; then
        echo "human-raw-data/$ds/${f##*/} does not start with the model-vs-human header (subj,...)"
        break
      fi
    done
  done
  return 0
}

report() {  # report WHAT PROBLEMS: die with the first problem and how many more there are
  local what=$1 problems=$2 first count
  first=${problems%%$'\n'*}
  count=$(grep -c . <<<"$problems")
  if [[ $count -gt 1 ]]; then
    die "$what: $first (and $((count - 1)) more)"
  fi
  die "$what: $first"
}

# --- fetching ---------------------------------------------------------------------------------

sparse_clone() {  # sparse_clone URL DEST PATH...: only PATH... (and the top-level files) checked out
  local url=$1 dest=$2
  shift 2
  # --filter=blob:none: file contents come only for what the sparse checkout needs; --depth 1:
  # no history. Both keep the download near the size of the files themselves.
  git clone --quiet --depth 1 --filter=blob:none --sparse -- "$url" "$dest" ||
    die "cannot clone $url (no network? a mirror can be given in the URL variables, see --help)"
  git -C "$dest" sparse-checkout set -- "$@" ||
    die "cannot check out $* from $url"
}

source_note() {  # source_note URL CLONE: where the files came from, for the record
  echo "$1 commit $(git -C "$2" rev-parse HEAD) fetched $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/$PROG"
}

fetch_stimuli() {  # fetch_stimuli STAGE: the stimuli part, checked, in STAGE/stimuli
  local stage=$1 clone=$1/texture-vs-shape entry name upstream per paths=() problems
  for entry in "${STIMULI[@]}"; do
    IFS='|' read -r name upstream per <<<"$entry"
    paths+=("$upstream")
  done
  echo "$PROG: fetching the stimuli from $TEXTURE_VS_SHAPE_URL ..." >&2
  sparse_clone "$TEXTURE_VS_SHAPE_URL" "$clone" "${paths[@]}"
  mkdir -p "$stage/stimuli"
  for entry in "${STIMULI[@]}"; do
    IFS='|' read -r name upstream per <<<"$entry"
    [[ -d $clone/$upstream ]] && mv "$clone/$upstream" "$stage/stimuli/$name"
  done
  # The licence lives at the top of texture-vs-shape (cone-mode sparse checkouts always include
  # top-level files); it has to travel with the images (CC BY 4.0 asks for attribution).
  [[ -f $clone/$STIMULI_LICENCE_UPSTREAM ]] &&
    cp "$clone/$STIMULI_LICENCE_UPSTREAM" "$stage/stimuli/$STIMULI_LICENCE"
  source_note "$TEXTURE_VS_SHAPE_URL" "$clone" >"$stage/stimuli/SOURCE.txt"
  problems=$(check_stimuli "$stage")
  [[ -z $problems ]] || report "$TEXTURE_VS_SHAPE_URL is incomplete" "$problems"
}

fetch_raw_data() {  # fetch_raw_data STAGE: STAGE/human-raw-data (checked) and STAGE/model-raw-data
  local stage=$1 clone=$1/model-vs-human entry ds n paths=() f problems
  for entry in "${HUMANS[@]}"; do
    IFS='|' read -r ds n <<<"$entry"
    paths+=("raw-data/$ds")
  done
  echo "$PROG: fetching the raw data from $MODEL_VS_HUMAN_URL ..." >&2
  sparse_clone "$MODEL_VS_HUMAN_URL" "$clone" "${paths[@]}" licenses
  for entry in "${HUMANS[@]}"; do
    IFS='|' read -r ds n <<<"$entry"
    mkdir -p "$stage/human-raw-data/$ds" "$stage/model-raw-data/$ds"
    [[ -d $clone/raw-data/$ds ]] || continue
    # Humans and models apart, so that human-raw-data/<dataset>/*.csv is the observers alone
    # (bagnet-shape-bias pools every subject-NN into one "humans" decision maker).
    for f in "$clone/raw-data/$ds"/*.csv; do
      [[ -e $f ]] || continue
      if [[ ${f##*/} == "${ds}_subject-"*_session_1.csv ]]; then
        mv "$f" "$stage/human-raw-data/$ds/"
      else
        mv "$f" "$stage/model-raw-data/$ds/"
      fi
    done
  done
  # model-vs-human's overview of its data and code licences, when the repository has one.
  [[ -f $clone/licenses/LICENSES_OVERVIEW.md ]] &&
    cp "$clone/licenses/LICENSES_OVERVIEW.md" "$stage/human-raw-data/"
  source_note "$MODEL_VS_HUMAN_URL" "$clone" >"$stage/human-raw-data/SOURCE.txt"
  cp "$stage/human-raw-data/SOURCE.txt" "$stage/model-raw-data/SOURCE.txt"
  problems=$(check_humans "$stage")
  [[ -z $problems ]] || report "$MODEL_VS_HUMAN_URL is incomplete" "$problems"
}

install_from() {  # install_from STAGE PART...: replace DIR/PART by STAGE/PART, one folder at a time
  local stage=$1 part
  shift
  for part in "$@"; do
    [[ -e $stage/$part ]] || continue
    mkdir -p "$(dirname "$DIR/$part")"
    rm -rf "${DIR:?}/$part"
    mv "$stage/$part" "$DIR/$part"
  done
}

# --- main -------------------------------------------------------------------------------------

case ${1:-} in
  -h | --help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
  -*) echo "$PROG: error: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
[[ $# -eq 1 ]] || { echo "$PROG: error: one DIR expected, got $# arguments (see --help)" >&2; exit 2; }
DIR=$1

# Complete already? Then nothing is downloaded: re-running is cheap and safe.
need_stimuli=$(check_stimuli "$DIR")
need_humans=$(check_humans "$DIR")
if [[ -z $need_stimuli && -z $need_humans ]]; then
  echo "$PROG: $DIR is complete (1280 cue-conflict, 160 edge, 160 silhouette stimuli; human raw data): nothing to fetch" >&2
  exit 0
fi
command -v git >/dev/null || die "git is needed to fetch the data (Debian: apt-get install git)"

mkdir -p "$DIR"
# Staged inside DIR, so that moving a checked part into place is a rename on one file system and
# DIR never holds a half-fetched part.
STAGE=$(mktemp -d "$DIR/.get-stimuli.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

if [[ -n $need_stimuli ]]; then
  fetch_stimuli "$STAGE"
  # Only the folders this script manages are replaced; anything else in DIR/stimuli stays.
  install_from "$STAGE" stimuli/cue-conflict stimuli/edges stimuli/filled-silhouettes \
    "stimuli/$STIMULI_LICENCE" stimuli/SOURCE.txt
fi
if [[ -n $need_humans ]]; then
  fetch_raw_data "$STAGE"
  parts=()
  for entry in "${HUMANS[@]}"; do
    ds=${entry%%|*}
    parts+=("human-raw-data/$ds" "model-raw-data/$ds")
  done
  install_from "$STAGE" "${parts[@]}" human-raw-data/LICENSES_OVERVIEW.md \
    human-raw-data/SOURCE.txt model-raw-data/SOURCE.txt
fi

# The installed tree, checked once more as the tools will see it.
problems=$(check_stimuli "$DIR"; check_humans "$DIR")
[[ -z $problems ]] || report "$DIR is incomplete after fetching" "$problems"
echo "$PROG: $DIR is complete: stimuli in $DIR/stimuli, human raw data in $DIR/human-raw-data, models' raw data in $DIR/model-raw-data" >&2
