#!/usr/bin/env bash
# Roaming sessions (issue 8): raft-kv `--bug stale-read` under partitions breaks
# linearizability and monotonic reads but stays eventually consistent, and the
# correct raft-kv keeps every model, when client processes move between nodes
# (`--sessions roaming`). The sticky control shows why the setting exists: with each
# process bound to one node, the same bug never breaks monotonic reads.
#
#   sudo scripts/campaign-sessions.sh                        # every configuration, 3 runs of 30 s (~25 min)
#   sudo scripts/campaign-sessions.sh stale-append stale-append-sticky
#   RUNS=5 TIME=20s sudo -E scripts/campaign-sessions.sh
#
# Configurations (name: faultline arguments; what every run must show):
#   stale-append         raft-kv --bug stale-read, append, roaming, partition
#                        monotonic reads invalid, read-your-writes invalid, eventual valid
#   stale-set            raft-kv --bug stale-read, set, roaming, partition
#                        linearizable invalid, eventual valid
#   stale-register       raft-kv --bug stale-read, cas-register, roaming, partition
#                        linearizable invalid, monotonic reads invalid, eventual valid
#                        (one run shows all three: register sessions are judged from
#                        raft-kv's per-key versions)
#   stale-append-sticky  raft-kv --bug stale-read, append, sticky, partition (the control)
#                        monotonic reads valid, read-your-writes invalid, eventual valid
#   stale-register-sticky  the same on cas-register (the control)
#                        linearizable invalid, monotonic reads valid, eventual valid
#   correct-append       raft-kv, append, roaming, partition
#                        session (all four guarantees) valid, eventual valid
#   correct-set          raft-kv, set, roaming, partition
#                        linearizable valid, eventual valid
#   correct-register     raft-kv, cas-register, roaming, partition
#                        linearizable valid, session valid, eventual valid
#   dynamo-append        dynamo-kv --r=1 --w=1, append, roaming, partition, 10 s quiet period
#                        monotonic reads invalid, convergence valid
#   dynamo-append-sticky the same, sticky (the control: R=1 reads from any one replica,
#                        so even a sticky process sees them disagree)
#                        monotonic reads invalid, convergence valid
# (faultline has no linearizability model for lists, so the append configurations are
# paired with set and register ones on the same seeds; the append workload is where
# the session guarantees are exact, registers need the system's versions.)
#
# Every run is one `faultline test` of a 5-node cluster, 10 clients at 200 ops/s, the
# nemesis interval 5 s (partitions at 2 s, 12 s, 22 s of a 30 s run), its own seed
# (SEED + run number, the same for every configuration), results under
# $OUT/<configuration>/. The binaries are copied into $OUT/bin first, so a rebuild
# during the campaign does not change them. Runs go one at a time.
#
# Settings (environment): RUNS (3), TIME (30s), SEED (8000), NODES (5),
# OUT (/tmp/faultline-campaign-sessions-<date>), FAULTLINE (target/release/faultline).
#
# Needs root (network namespaces). Prints one line per run (every check's verdict,
# the session guarantees' violation counts) and a table; exit 0 when every run of
# every configuration showed what it must, 1 otherwise (a harness error or an
# unknown verdict counts against it), 2 on bad usage.
set -uo pipefail

cd "$(dirname "$0")/.."
FAULTLINE=${FAULTLINE:-target/release/faultline}
RUNS=${RUNS:-3}
TIME=${TIME:-30s}
SEED=${SEED:-8000}
NODES=${NODES:-5}
OUT=${OUT:-/tmp/faultline-campaign-sessions-$(date -u +%Y%m%dT%H%M%S)}

ALL=(stale-append stale-set stale-register stale-append-sticky stale-register-sticky
  correct-append correct-set correct-register dynamo-append dynamo-append-sticky)

# name -> "expectations|faultline flags". An expectation is `field=verdict`; fields
# are check names (linearizable, session, eventual), session guarantees
# (monotonic-reads, read-your-writes, monotonic-writes, writes-follow-reads) and
# convergence (the eventual check's convergence part).
STALE="--system raft-kv --system-arg=--bug=stale-read"
DYNAMO="--system dynamo-kv --system-arg=--r=1 --system-arg=--w=1 --workload append --quiet-period 10s"
config_of() {
  case "$1" in
    stale-append) echo "monotonic-reads=invalid read-your-writes=invalid eventual=valid|$STALE --workload append --sessions roaming" ;;
    stale-set) echo "linearizable=invalid eventual=valid|$STALE --workload set --sessions roaming" ;;
    stale-register) echo "linearizable=invalid monotonic-reads=invalid eventual=valid|$STALE --workload cas-register --sessions roaming --check linearizable,session,eventual" ;;
    stale-register-sticky) echo "linearizable=invalid monotonic-reads=valid eventual=valid|$STALE --workload cas-register --sessions sticky --check linearizable,session,eventual" ;;
    stale-append-sticky) echo "monotonic-reads=valid read-your-writes=invalid eventual=valid|$STALE --workload append --sessions sticky" ;;
    correct-append) echo "session=valid eventual=valid|--system raft-kv --workload append --sessions roaming" ;;
    correct-set) echo "linearizable=valid eventual=valid|--system raft-kv --workload set --sessions roaming" ;;
    correct-register) echo "linearizable=valid session=valid eventual=valid|--system raft-kv --workload cas-register --sessions roaming --check linearizable,session,eventual" ;;
    dynamo-append) echo "monotonic-reads=invalid convergence=valid|$DYNAMO --sessions roaming" ;;
    dynamo-append-sticky) echo "monotonic-reads=invalid convergence=valid|$DYNAMO --sessions sticky" ;;
    *) return 1 ;;
  esac
}

if [ "$(id -u)" -ne 0 ]; then
  echo "campaign: needs root (network namespaces, iptables); run it with sudo" >&2
  exit 2
fi
for n in RUNS NODES SEED; do
  v=${!n}
  if ! [[ $v =~ ^[0-9]+$ ]] || { [ "$n" != SEED ] && [ "$v" -eq 0 ]; }; then
    echo "campaign: $n must be a whole number (above 0 but for SEED), not '$v'" >&2
    exit 2
  fi
done
CONFIGS=("$@")
[ ${#CONFIGS[@]} -eq 0 ] && CONFIGS=("${ALL[@]}")
for c in "${CONFIGS[@]}"; do
  config_of "$c" >/dev/null || {
    echo "campaign: unknown configuration '$c' (known: ${ALL[*]})" >&2
    exit 2
  }
done
if [ ! -x "$FAULTLINE" ]; then
  echo "campaign: $FAULTLINE not found; build with 'cargo build --release -p faultline -p raft-kv -p dynamo-kv' or set FAULTLINE" >&2
  exit 2
fi
BIN_DIR=$(dirname "$FAULTLINE")
mkdir -p "$OUT/bin" || exit 2
for b in faultline raft-kv dynamo-kv; do
  if [ ! -x "$BIN_DIR/$b" ]; then
    echo "campaign: $BIN_DIR/$b not found; build with 'cargo build --release -p faultline -p raft-kv -p dynamo-kv'" >&2
    exit 2
  fi
  cp "$BIN_DIR/$b" "$OUT/bin/$b" || exit 2
done
BIN="$OUT/bin/faultline"
echo "campaign: $RUNS runs of $TIME per configuration, seeds $((SEED + 1))..$((SEED + RUNS)), results in $OUT"

# Judges one run: prints "met|NOT MET|error" and the observed verdicts.
judge() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
path, code, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
try:
    r = json.load(open(path))
except Exception:
    print("error no results.json (exit %d)" % code); sys.exit()
if r.get("verdict") is None or r.get("error") or code == 4:
    print("error", r.get("error", "exit %d" % code)); sys.exit()
checks = {c["name"]: c for c in r.get("checks", [])}
def observed(field):
    if field in checks:
        return checks[field]["verdict"]
    if field == "convergence" and "eventual" in checks:
        return checks["eventual"]["report"].get("convergence", {}).get("verdict", "?")
    g = field.replace("-", "_")
    rep = checks.get("session", {}).get("report", {})
    if g in rep:
        return rep[g]["verdict"]
    return "absent"
seen = []
for name, c in checks.items():
    seen.append("%s=%s" % (name, c["verdict"]))
    if name == "session":
        rep = c["report"]
        for g in ("monotonic_reads", "read_your_writes", "monotonic_writes", "writes_follow_reads"):
            if g in rep:
                seen.append("%s=%s(%d)" % (g.replace("_", "-"), rep[g]["verdict"], rep[g]["violations"]["count"]))
    if name == "eventual":
        el = c["report"].get("elements")
        if el:
            seen.append("lost=%s stale=%s" % (el.get("lost"), el.get("stale")))
ok = all(observed(e.split("=")[0]) == e.split("=")[1] for e in expected)
print("met" if ok else "NOT-MET", " ".join(seen))
PY
}

mkdir -p $(printf "$OUT/%s " "${CONFIGS[@]}")
for c in "${CONFIGS[@]}"; do
  spec=$(config_of "$c")
  expected=${spec%%|*}
  flags=${spec#*|}
  : >"$OUT/$c.runs"
  for i in $(seq 1 "$RUNS"); do
    seed=$((SEED + i))
    # shellcheck disable=SC2086
    "$BIN" test $flags --nemesis partition --nemesis-interval 5s --nodes "$NODES" --time-limit "$TIME" \
      --seed "$seed" --name "$c-$seed" --results-dir "$OUT/$c" --quiet \
      >"$OUT/$c/run-$seed.log" 2>&1 </dev/null
    code=$?
    dir=$(ls -d "$OUT/$c/$c-$seed"/*/ 2>/dev/null | tail -1)
    read -r result seen < <(judge "${dir}results.json" "$code" "$expected")
    echo "$seed $result ${dir:-none} $seen" >>"$OUT/$c.runs"
    echo "$c run $i/$RUNS (seed $seed): $result  $seen  ${dir}"
  done
done

status=0
echo
printf '%-21s %5s %5s  %s\n' configuration runs met "every run must show"
for c in "${CONFIGS[@]}"; do
  spec=$(config_of "$c")
  runs=$(wc -l <"$OUT/$c.runs")
  met=$(awk '$2=="met"' "$OUT/$c.runs" | wc -l)
  [ "$met" -eq "$runs" ] || status=1
  printf '%-21s %5s %5s  %s\n' "$c" "$runs" "$met" "${spec%%|*}"
done
echo "($RUNS runs of $TIME each, $NODES nodes, partitions every 5 s; results in $OUT)"
exit $status
