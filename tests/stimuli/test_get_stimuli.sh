#!/usr/bin/env bash
# scripts/get-stimuli.sh, offline: local bare repositories made on the fly stand in for
# texture-vs-shape and model-vs-human (their real layouts, small fake PNG and CSV files in the
# real counts, folders the script must not fetch), reached through file:// URLs given in
# TEXTURE_VS_SHAPE_URL and MODEL_VS_HUMAN_URL. Checks the fetched tree and its counts, that the
# clones are shallow, blobless and sparse, that a second run on a complete folder fetches
# nothing, that a lost part is fetched again alone, and that short or broken repositories give a
# one-line error, a non-zero exit and no half-installed folders.
#
# Usage: tests/stimuli/test_get_stimuli.sh   (needs git and bash only; no network)
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
SCRIPT=$REPO/scripts/get-stimuli.sh
REAL_GIT=$(command -v git) || { echo "FAIL: git is not installed"; exit 1; }

T=$(mktemp -d /tmp/get-stimuli-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
# Neither the user's nor the system's git configuration may change what the script does here.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@example.org
export GIT_COMMITTER_NAME=test GIT_COMMITTER_EMAIL=test@example.org
# A git that logs its arguments, then runs the real one: shows which clones the script makes.
mkdir -p "$T/bin"
cat >"$T/bin/git" <<EOF
#!/usr/bin/env bash
printf '%s\n' "\$*" >>"$T/git.log"
exec "$REAL_GIT" "\$@"
EOF
chmod +x "$T/bin/git"
export PATH=$T/bin:$PATH

# check, passed/failed counters, check_summary
source "$(dirname "${BASH_SOURCE[0]}")/../lib/check.sh"
run() {  # run [VAR=VALUE...] -- ARGS...: the script; stderr in $T/last.err, exit code in $rc
  local env=()
  while [[ $1 != -- ]]; do env+=("$1"); shift; done
  shift
  : >"$T/git.log"
  env "${env[@]}" bash "$SCRIPT" "$@" >"$T/last.out" 2>"$T/last.err"
  rc=$?
}
count() { find "$1" -type f -name "${2:-*}" | wc -l; }
equals() { [[ $1 == "$2" ]]; }
error_lines() { grep -c 'error' "$T/last.err"; }
no_stage_left() { [[ -z $(find "$1" -maxdepth 1 -name '.get-stimuli.*' -print -quit) ]]; }
tree_sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 md5sum); }

CATEGORIES=(airplane bear bicycle bird boat bottle car cat chair clock dog elephant keyboard knife
            oven truck)
png() {  # png FILE: a PNG signature and the name, so every fake image is a different file
  mkdir -p "$(dirname "$1")"
  printf '\x89PNG\r\n\x1a\n%s\n' "${1##*/}" >"$1"
}
publish() {  # publish SRC NAME: commit SRC's working tree, serve it as the bare $T/NAME.git
  "$REAL_GIT" -C "$1" add -A && "$REAL_GIT" -C "$1" commit -q -m "$2" &&
    "$REAL_GIT" clone -q --bare "$1" "$T/$2.git" &&
    # What GitHub allows: partial clones (--filter) and fetching single objects later.
    "$REAL_GIT" -C "$T/$2.git" config uploadpack.allowFilter true &&
    "$REAL_GIT" -C "$T/$2.git" config uploadpack.allowAnySHA1InWant true
}

# --- the fake texture-vs-shape: stimuli/ as upstream, 16 categories --------------------------
TVS=$T/src-tvs
"$REAL_GIT" init -q -b master "$TVS"
for c in "${CATEGORIES[@]}"; do
  for i in $(seq 1 10); do
    png "$TVS/stimuli/edges/$c/$c$i.png"
    png "$TVS/stimuli/filled-silhouettes/$c/$c$i.png"
    # 8 cue-conflict images per shape exemplar, textures from the categories in turn: 80 each.
    for j in $(seq 0 7); do
      t=${CATEGORIES[(i * 8 + j) % 16]}
      png "$TVS/stimuli/style-transfer-preprocessed-512/$c/$c$i-$t$((j % 3 + 1)).png"
    done
  done
done
printf 'This license applies to the following three datasets:\nstimuli/edges\n\nAttribution 4.0 International\n' \
  >"$TVS/DATASET_LICENSE"
echo "# texture-vs-shape (test copy)" >"$TVS/README.md"
# Folders the script must leave upstream.
png "$TVS/stimuli/sketch/cat/cat1.png"
mkdir -p "$TVS/code" "$TVS/raw-data"
echo "print('not wanted')" >"$TVS/code/probabilities_to_decision.py"
echo "subj,session" >"$TVS/raw-data/unwanted.csv"
publish "$TVS" tvs || { echo "FAIL: cannot build the test repository"; exit 1; }

# --- the fake model-vs-human: raw-data/<dataset>/ with observers and models ------------------
MVH=$T/src-mvh
"$REAL_GIT" init -q -b master "$MVH"
declare -A HUMANS=([cue-conflict]=10 [edge]=10 [silhouette]=10 [sketch]=7 [stylized]=5)
HEADER=subj,session,trial,rt,object_response,category,condition,imagename
for ds in "${!HUMANS[@]}"; do
  for ((s = 1; s <= HUMANS[$ds]; s++)); do
    printf -v subj 'subject-%02d' "$s"
    printf '%s\n%s,1,1,0.8,cat,cat,0,0001_%s_cat1.png\n' "$HEADER" "$subj" "$ds" \
      >"$T/row.csv"
    mkdir -p "$MVH/raw-data/$ds"
    mv "$T/row.csv" "$MVH/raw-data/$ds/${ds}_${subj}_session_1.csv"
  done
  for m in bagnet33 resnet50; do
    printf '%s\n%s,1,1,NaN,dog,cat,0,0001_%s_cat1.png\n' "$HEADER" "$m" "$ds" \
      >"$MVH/raw-data/$ds/${ds}_${m}_session-1.csv"
  done
done
mkdir -p "$MVH/raw-data/colour" "$MVH/licenses" "$MVH/modelvshuman"
printf '%s\n' "$HEADER" >"$MVH/raw-data/colour/colour_subject-01_session_1.csv"
echo "# Overview over licenses (test copy)" >"$MVH/licenses/LICENSES_OVERVIEW.md"
echo "MIT (test copy)" >"$MVH/licenses/CODE_LICENSE"
echo "not wanted" >"$MVH/modelvshuman/__init__.py"
publish "$MVH" mvh || { echo "FAIL: cannot build the test repository"; exit 1; }

URLS=(TEXTURE_VS_SHAPE_URL="file://$T/tvs.git" MODEL_VS_HUMAN_URL="file://$T/mvh.git")
NOWHERE=file://$T/no-such-repository.git

# --- arguments and help --------------------------------------------------------------------
run -- --help
check "--help exits 0" equals "$rc" 0
check "--help names both URL variables and their defaults" \
  grep -q 'TEXTURE_VS_SHAPE_URL.*github.com/rgeirhos/texture-vs-shape' "$T/last.out"
check "--help names MODEL_VS_HUMAN_URL's default" \
  grep -q 'MODEL_VS_HUMAN_URL.*github.com/bethgelab/model-vs-human' "$T/last.out"
run --
check "no DIR: exit 2" equals "$rc" 2
run -- "$T/a" "$T/b"
check "two DIRs: exit 2" equals "$rc" 2

# --- a fresh fetch ---------------------------------------------------------------------------
D=$T/data
run "${URLS[@]}" -- "$D"
check "fetch exits 0" equals "$rc" 0
check "1280 cue-conflict stimuli" equals "$(count "$D/stimuli/cue-conflict" '*.png')" 1280
check "160 edge stimuli" equals "$(count "$D/stimuli/edges" '*.png')" 160
check "160 filled silhouettes" equals "$(count "$D/stimuli/filled-silhouettes" '*.png')" 160
check "80 cue-conflict stimuli in stimuli/cue-conflict/truck" \
  equals "$(count "$D/stimuli/cue-conflict/truck" 'truck*-*.png')" 80
check "an image arrives byte for byte" \
  cmp -s "$TVS/stimuli/style-transfer-preprocessed-512/cat/cat3-chair1.png" "$D/stimuli/cue-conflict/cat/cat3-chair1.png"
check "the licence is kept as stimuli/LICENSE-CC-BY-4.0.txt" \
  cmp -s "$TVS/DATASET_LICENSE" "$D/stimuli/LICENSE-CC-BY-4.0.txt"
for ds in "${!HUMANS[@]}"; do
  check "${HUMANS[$ds]} observers in human-raw-data/$ds" \
    equals "$(count "$D/human-raw-data/$ds" "${ds}_subject-*_session_1.csv")" "${HUMANS[$ds]}"
  check "human-raw-data/$ds holds the observers only" equals "$(count "$D/human-raw-data/$ds")" "${HUMANS[$ds]}"
  check "the models' CSVs in model-raw-data/$ds" equals "$(count "$D/model-raw-data/$ds" '*.csv')" 2
done
check "a CSV arrives byte for byte" \
  cmp -s "$MVH/raw-data/sketch/sketch_subject-07_session_1.csv" "$D/human-raw-data/sketch/sketch_subject-07_session_1.csv"
check "model-vs-human's licence overview is kept" \
  cmp -s "$MVH/licenses/LICENSES_OVERVIEW.md" "$D/human-raw-data/LICENSES_OVERVIEW.md"
check "SOURCE.txt names the repository and its commit" \
  grep -q "file://$T/tvs.git commit $("$REAL_GIT" -C "$T/tvs.git" rev-parse HEAD)" "$D/stimuli/SOURCE.txt"
check "nothing else lands in DIR (no sketch stimuli, colour data, code)" equals \
  "$(cd "$D" && find . -type f ! -path './stimuli/cue-conflict/*' ! -path './stimuli/edges/*' \
       ! -path './stimuli/filled-silhouettes/*' ! -path './human-raw-data/*/*' \
       ! -path './model-raw-data/*/*' | sort | tr '\n' ' ')" \
  "./human-raw-data/LICENSES_OVERVIEW.md ./human-raw-data/SOURCE.txt ./model-raw-data/SOURCE.txt ./stimuli/LICENSE-CC-BY-4.0.txt ./stimuli/SOURCE.txt "
check "no datasets beyond the five" equals "$(ls "$D/human-raw-data" "$D/model-raw-data" | grep -c colour)" 0
check "no staging folder left" no_stage_left "$D"
check "shallow, blobless, sparse clone of texture-vs-shape" \
  grep -qx -- "clone --quiet --depth 1 --filter=blob:none --sparse -- file://$T/tvs.git .*" "$T/git.log"
check "sparse checkout of the three stimulus folders only" grep -qx -- \
  "-C .* sparse-checkout set -- stimuli/style-transfer-preprocessed-512 stimuli/edges stimuli/filled-silhouettes" \
  "$T/git.log"
check "shallow, blobless, sparse clone of model-vs-human" \
  grep -qx -- "clone --quiet --depth 1 --filter=blob:none --sparse -- file://$T/mvh.git .*" "$T/git.log"
check "sparse checkout of raw-data/<dataset> and licenses only" \
  grep -qx -- "-C .* sparse-checkout set -- raw-data/[a-z-]* raw-data/[a-z-]* raw-data/[a-z-]* raw-data/[a-z-]* raw-data/[a-z-]* licenses" \
  "$T/git.log"
check "the clones were partial (the server was asked for a filter)" \
  bash -c "! grep -qi 'filtering not recognized' '$T/last.err'"
check "the README example's glob is the observers: 10 cue-conflict CSVs" \
  equals "$(ls "$D"/human-raw-data/cue-conflict/*.csv | wc -l)" 10

# --- idempotent: a complete DIR is not fetched again (the sources are unreachable now) ------
tree_sums "$D" >"$T/sums.before"
run TEXTURE_VS_SHAPE_URL="$NOWHERE" MODEL_VS_HUMAN_URL="$NOWHERE" -- "$D"
check "second run exits 0" equals "$rc" 0
check "second run says DIR is complete" grep -q "is complete.*nothing to fetch" "$T/last.err"
check "second run runs no git" equals "$(wc -l <"$T/git.log")" 0
tree_sums "$D" >"$T/sums.after"
check "second run leaves every file as it was" cmp -s "$T/sums.before" "$T/sums.after"

# --- a lost part is fetched again, alone ------------------------------------------------------
rm "$D/human-raw-data/edge/edge_subject-04_session_1.csv"
run TEXTURE_VS_SHAPE_URL="$NOWHERE" MODEL_VS_HUMAN_URL="file://$T/mvh.git" -- "$D"
check "a missing observer file is fetched again (exit 0)" equals "$rc" 0
check "human-raw-data/edge is whole again" equals "$(count "$D/human-raw-data/edge" '*.csv')" 10
check "only model-vs-human was cloned" equals "$(grep -c '^clone' "$T/git.log")" 1
rm -r "$D/stimuli/filled-silhouettes/dog"
run TEXTURE_VS_SHAPE_URL="file://$T/tvs.git" MODEL_VS_HUMAN_URL="$NOWHERE" -- "$D"
check "a missing stimulus folder is fetched again (exit 0)" equals "$rc" 0
check "filled silhouettes whole again" equals "$(count "$D/stimuli/filled-silhouettes" '*.png')" 160
tree_sums "$D" | grep -v SOURCE.txt >"$T/sums.after"
check "the repaired tree equals the first one (but for the fetch times)" \
  cmp -s <(grep -v SOURCE.txt "$T/sums.before") "$T/sums.after"

# --- short and broken repositories -----------------------------------------------------------
fails_with() {  # fails_with DIR PATTERN: exit 1, one error line matching PATTERN, nothing installed
  [[ $rc -eq 1 ]] || { echo "    exit code $rc, expected 1" >&2; return 1; }
  [[ $(error_lines) -eq 1 ]] || { echo "    $(error_lines) error lines, expected 1" >&2; return 1; }
  grep -q -- "$2" "$T/last.err" || { echo "    no error matching '$2'" >&2; return 1; }
  no_stage_left "$1"
}
rm "$TVS/stimuli/edges/cat/cat7.png"
publish "$TVS" tvs-short-edges
run TEXTURE_VS_SHAPE_URL="file://$T/tvs-short-edges.git" MODEL_VS_HUMAN_URL="file://$T/mvh.git" -- "$T/short1"
check "a missing edge image: one-line error naming stimuli/edges/cat, exit 1" \
  fails_with "$T/short1" "error: file://$T/tvs-short-edges.git is incomplete: stimuli/edges/cat has 9 PNG files, expected 10$"
check "... and no stimuli installed" bash -c "[[ ! -e '$T/short1/stimuli' ]]"

png "$TVS/stimuli/edges/cat/cat7.png"
rm "$TVS/stimuli/style-transfer-preprocessed-512/bear/"bear1-*.png \
  "$TVS/stimuli/style-transfer-preprocessed-512/oven/oven2-"*.png
publish "$TVS" tvs-short-cc
run TEXTURE_VS_SHAPE_URL="file://$T/tvs-short-cc.git" MODEL_VS_HUMAN_URL="file://$T/mvh.git" -- "$T/short2"
check "cue-conflict short in two folders: one line, the first named, the other counted" \
  fails_with "$T/short2" "stimuli/cue-conflict/bear has 72 PNG files, expected 80 (and 1 more)$"

# The cue-conflict images back (from the commit before), one silhouette a Git LFS pointer.
"$REAL_GIT" -C "$TVS" ls-tree -r --name-only HEAD~1 -- stimuli/style-transfer-preprocessed-512/bear \
  stimuli/style-transfer-preprocessed-512/oven | while read -r p; do png "$TVS/$p"; done
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n' \
  >"$TVS/stimuli/filled-silhouettes/knife/knife5.png"
publish "$TVS" tvs-lfs
run TEXTURE_VS_SHAPE_URL="file://$T/tvs-lfs.git" MODEL_VS_HUMAN_URL="file://$T/mvh.git" -- "$T/short3"
check "a Git LFS pointer instead of a PNG: one-line error naming it" \
  fails_with "$T/short3" "stimuli/filled-silhouettes/knife/knife5.png is not a PNG file$"

png "$TVS/stimuli/filled-silhouettes/knife/knife5.png"
"$REAL_GIT" -C "$TVS" rm -q DATASET_LICENSE
publish "$TVS" tvs-no-licence
run TEXTURE_VS_SHAPE_URL="file://$T/tvs-no-licence.git" MODEL_VS_HUMAN_URL="file://$T/mvh.git" -- "$T/short4"
check "no licence upstream: one-line error naming it" \
  fails_with "$T/short4" "stimuli/LICENSE-CC-BY-4.0.txt (the licence, DATASET_LICENSE upstream) is missing$"

rm "$MVH/raw-data/silhouette/silhouette_subject-10_session_1.csv"
publish "$MVH" mvh-short
run TEXTURE_VS_SHAPE_URL="file://$T/tvs.git" MODEL_VS_HUMAN_URL="file://$T/mvh-short.git" -- "$T/short5"
check "a missing observer: one-line error naming human-raw-data/silhouette, exit 1" \
  fails_with "$T/short5" "human-raw-data/silhouette has 9 human observers' CSV files, expected 10$"
check "... the complete stimuli are installed, the short raw data are not" \
  bash -c "[[ -d '$T/short5/stimuli/cue-conflict' && ! -e '$T/short5/human-raw-data' ]]"

run TEXTURE_VS_SHAPE_URL="$NOWHERE" MODEL_VS_HUMAN_URL="file://$T/mvh.git" -- "$T/short6"
check "an unreachable repository: one-line error saying so" fails_with "$T/short6" "cannot clone $NOWHERE"

check_summary
