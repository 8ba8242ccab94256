#!/usr/bin/env bash
# The bug-finding campaign of raft-kv (issue 4): the correct build must be valid in
# every run under partitions, kills and pauses, and each bug switch must be found
# invalid in at least 80% of the runs under the faults that expose it.
#
#   sudo scripts/campaign-raft-kv.sh                    # every configuration, 10 runs of 30 s
#   sudo scripts/campaign-raft-kv.sh stale-read early-ack
#   RUNS=3 TIME=20s JOBS=2 sudo -E scripts/campaign-raft-kv.sh
#
# Configurations (name: raft-kv arguments, faults, nemesis interval, expectation):
#   correct           no bug switch         partition,kill,pause  5s  valid in every run
#   stale-read        --bug stale-read      partition             5s  invalid in >= 80%
#   early-ack         --bug early-ack       kill                  5s  invalid in >= 80%
#   no-log-check      --bug no-log-check    partition,kill        3s  invalid in >= 80%
#   volatile-state    --bug volatile-state  kill-all              5s  invalid in >= 80%
#   lease-read        --bug lease-read      LEASE_FAULTS          3s  invalid in >= 80%
#   correct-clock     no bug switch         LEASE_FAULTS          3s  valid in every run
#   no-fsync          --bug no-fsync        power-loss-all        5s  invalid in >= 80%
#   no-fsync-kill     --bug no-fsync        kill-all --lazyfs     5s  valid in every run
#   correct-power-loss no bug switch        power-loss-all        5s  valid in every run
#   lease-read-pause  --bug lease-read      pause-leader+clock-bump
#                                           --clock-bump=-30s..-6s 3s  reported, no expectation
# where LEASE_FAULTS = pause-leader+clock-bump,partition-leader+clock-bump
#                      --clock-bump=-30s..-6s
# (5s is faultline's default: faults at 2 s, 12 s, 22 s. no-log-check is exposed by a
# partition, not a kill, and with three faults a run drew only kills one time in eight,
# so it gets five faults: at 2, 8, 14, 20, 26 s.)
#
# lease-read: the leader answers reads while a lease timed on its wall clock lasts. It
# is wrong only when the leader is cut off (paused or partitioned) and its wall clock
# is set back at the same time, so that the lease looks valid while a new leader takes
# writes. No single fault does both, so lease-read composes them, on the node /health
# names as leader, setting its clock back by 6-30 s (more than a fault lasts):
# pause-leader+clock-bump (healed by SIGCONT, then the clock reset) and
# partition-leader+clock-bump (the cut-off leader keeps running with its clock set
# back for the whole fault, serving stale reads while the majority elects a new
# leader). Each is half of the faults, five per run (3 s interval), so a run without
# a partition is rare (1 schedule in 32). The pause variant alone (lease-read-pause) is
# reported but has no expectation: its stale window is only the moment the leader
# resumes, before a message of the new term reaches it, and it found the bug in 8 and
# 9 of 10 runs in two campaigns (seeds 5001-5010), at the 80% line, where the mix
# found it in 10 and 9 of 10; the same leader faults without clock bumps
# (--nemesis partition-leader,pause-leader, or pause-leader alone) left it valid.
# correct-clock runs the same faults against the correct build, which times Raft on
# the monotonic clock and reads through ReadIndex: it must stay valid.
#
# Every run is one `faultline test` of a 5-node cluster with the default workload
# (multi-key cas-register, 10 clients, 200 ops/s) and default checks (linearizable,
# eventual), its own seed (SEED + run number, so the same seeds for every
# configuration), and its results under $OUT/<configuration>/. The binaries are
# copied into $OUT/bin first, so a rebuild during the campaign does not change them.
#
# Settings (environment): RUNS (10), TIME (30s), SEED (4000), NODES (5),
# INTERVAL (the nemesis interval for every configuration; empty = each
# configuration's own, above), JOBS (1: how many
# configurations run at once; each run is 6 processes, so keep it low on 2 cores),
# OUT (/tmp/faultline-campaign-raft-kv-<date>), FAULTLINE (target/release/faultline).
#
# Needs root (network namespaces) and libfaketime (scripts/setup.sh). Prints one line
# per run and a table; exit 0 when every expectation was met, 1 otherwise (a harness
# error or an unknown verdict counts against the expectation), 2 on bad usage.
set -uo pipefail

cd "$(dirname "$0")/.."
FAULTLINE=${FAULTLINE:-target/release/faultline}
RUNS=${RUNS:-10}
TIME=${TIME:-30s}
SEED=${SEED:-4000}
NODES=${NODES:-5}
INTERVAL=${INTERVAL:-}
JOBS=${JOBS:-1}
OUT=${OUT:-/tmp/faultline-campaign-raft-kv-$(date -u +%Y%m%dT%H%M%S)}

ALL=(correct stale-read early-ack no-log-check volatile-state lease-read correct-clock lease-read-pause no-fsync no-fsync-kill correct-power-loss)
LEASE_FAULTS="--nemesis pause-leader+clock-bump,partition-leader+clock-bump --clock-bump=-30s..-6s"

# name -> "expectation (valid, invalid or any)|nemesis interval|faultline flags"
config_of() {
  case "$1" in
    correct) echo "valid|5s|--nemesis partition,kill,pause" ;;
    stale-read) echo "invalid|5s|--system-arg=--bug=stale-read --nemesis partition" ;;
    early-ack) echo "invalid|5s|--system-arg=--bug=early-ack --nemesis kill" ;;
    no-fsync) echo "invalid|5s|--system-arg=--bug=no-fsync --nemesis power-loss-all" ;;
    no-fsync-kill) echo "valid|5s|--system-arg=--bug=no-fsync --nemesis kill-all --lazyfs" ;;
    correct-power-loss) echo "valid|5s|--nemesis power-loss-all" ;;
    no-log-check) echo "invalid|3s|--system-arg=--bug=no-log-check --nemesis partition,kill" ;;
    volatile-state) echo "invalid|5s|--system-arg=--bug=volatile-state --nemesis kill-all" ;;
    lease-read) echo "invalid|3s|--system-arg=--bug=lease-read $LEASE_FAULTS" ;;
    correct-clock) echo "valid|3s|$LEASE_FAULTS" ;;
    lease-read-pause) echo "any|3s|--system-arg=--bug=lease-read --nemesis pause-leader+clock-bump --clock-bump=-30s..-6s" ;;
    *) return 1 ;;
  esac
}

if [ "$(id -u)" -ne 0 ]; then
  echo "campaign: needs root (network namespaces, iptables); run it with sudo" >&2
  exit 2
fi
for n in RUNS JOBS NODES SEED; do
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
  echo "campaign: $FAULTLINE not found; build with 'cargo build --release --workspace' or set FAULTLINE" >&2
  exit 2
fi
RAFT_KV="$(dirname "$FAULTLINE")/raft-kv"
if [ ! -x "$RAFT_KV" ]; then
  echo "campaign: $RAFT_KV not found next to $FAULTLINE; build with 'cargo build --release --workspace'" >&2
  exit 2
fi

mkdir -p "$OUT/bin" || exit 2
cp "$FAULTLINE" "$OUT/bin/faultline" && cp "$RAFT_KV" "$OUT/bin/raft-kv" || exit 2
# The lazy filesystem, for the disk-fault configurations (found next to faultline).
LAZYFS="$(dirname "$FAULTLINE")/faultline-lazyfs"
if [ -x "$LAZYFS" ]; then cp "$LAZYFS" "$OUT/bin/faultline-lazyfs" || exit 2; fi
BIN="$OUT/bin/faultline"
echo "campaign: $RUNS runs of $TIME per configuration, seeds $((SEED + 1))..$((SEED + RUNS)), results in $OUT"

# One configuration's runs, in order; one line per run into $OUT/<c>.runs
# ("seed verdict dir checks").
run_config() {
  local c=$1 spec flags interval i seed dir verdict checks code
  spec=$(config_of "$c")
  flags=${spec#*|*|}
  interval=${INTERVAL:-$(cut -d'|' -f2 <<<"$spec")}
  : >"$OUT/$c.runs"
  for i in $(seq 1 "$RUNS"); do
    seed=$((SEED + i))
    # shellcheck disable=SC2086
    "$BIN" test --system raft-kv $flags --nemesis-interval "$interval" --nodes "$NODES" --time-limit "$TIME" \
      --seed "$seed" --name "$c-$seed" --results-dir "$OUT/$c" --quiet \
      >"$OUT/$c/run-$seed.log" 2>&1 </dev/null
    code=$?
    dir=$(ls -d "$OUT/$c/$c-$seed"/*/ 2>/dev/null | tail -1)
    read -r verdict checks < <(python3 - "${dir}results.json" "$code" <<'PY'
import json, sys
code = int(sys.argv[2])
try:
    r = json.load(open(sys.argv[1]))
except Exception:
    print("error", "no results.json (exit %d)" % code); sys.exit()
v = r.get("verdict")
if v is None or r.get("error") or code == 4:
    v = "error"
print(v, "; ".join("%s=%s (%s)" % (c["name"], c["verdict"], c.get("summary", "")) for c in r.get("checks", [])) or r.get("error", ""))
PY
)
    echo "$seed $verdict ${dir:-none} $checks" >>"$OUT/$c.runs"
    echo "$c run $i/$RUNS (seed $seed): $verdict  $checks  ${dir}"
  done
}

mkdir -p $(printf "$OUT/%s " "${CONFIGS[@]}")
pids=()
for c in "${CONFIGS[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  run_config "$c" &
  pids+=($!)
done
wait

status=0
echo
faults_of() { sed -n 's/.*--nemesis \([^ ]*\).*/\1/p' <<<"$1"; }
fw=6
for c in "${CONFIGS[@]}"; do
  f=$(faults_of "$(config_of "$c")")
  [ ${#f} -gt $fw ] && fw=${#f}
done
printf "%-17s %-${fw}s %8s %5s %6s %8s %8s %15s  %s\n" configuration faults interval runs valid invalid unknown "harness errors" expectation
for c in "${CONFIGS[@]}"; do
  spec=$(config_of "$c")
  expected=${spec%%|*}
  faults=$(faults_of "${spec#*|*|}")
  interval=${INTERVAL:-$(cut -d'|' -f2 <<<"$spec")}
  runs=$(wc -l <"$OUT/$c.runs")
  valid=$(awk '$2=="valid"' "$OUT/$c.runs" | wc -l)
  invalid=$(awk '$2=="invalid"' "$OUT/$c.runs" | wc -l)
  unknown=$(awk '$2=="unknown"' "$OUT/$c.runs" | wc -l)
  errors=$((runs - valid - invalid - unknown))
  if [ "$expected" = valid ]; then
    want="valid in $runs of $runs"
    met=$([ "$valid" -eq "$runs" ] && echo met || echo "NOT MET")
  elif [ "$expected" = any ]; then
    want="reported only"
    met=met
  else
    need=$(((runs * 8 + 9) / 10))
    want="invalid in >= $need of $runs"
    met=$([ "$invalid" -ge "$need" ] && echo met || echo "NOT MET")
  fi
  [ "$met" = met ] || status=1
  printf "%-17s %-${fw}s %8s %5s %6s %8s %8s %15s  %s: %s\n" "$c" "$faults" "$interval" "$runs" "$valid" "$invalid" "$unknown" "$errors" "$want" "$met"
done
echo "($RUNS runs of $TIME each, $NODES nodes; results in $OUT)"
exit $status
