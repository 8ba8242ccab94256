#!/usr/bin/env bash
# Runs the real-system campaigns of docs/systems.md and prints, per campaign, how
# many runs were valid and how many were not. Each run is one `faultline test`
# with its own seed; results go under $RESULTS/<campaign>/.
#
#   sudo scripts/campaign-real.sh                 # every campaign, 5 runs of 60 s
#   sudo scripts/campaign-real.sh etcd-serializable
#   RUNS=3 TIME=30s sudo -E scripts/campaign-real.sh redis
#
# Campaigns:
#   etcd               default etcd (linearizable reads), partitions, kills, pauses:
#                      expected valid in every run
#   etcd-serializable  serializable reads, partitions: expected invalid (stale reads)
#   redis              Redis + Sentinel, partitions that isolate the primary:
#                      expected invalid (lost acknowledged writes / stale reads)
#   redis-wait         the same with every write waiting for 2 replicas (WAIT 2):
#                      no acknowledged write is lost, but reads from a cut-off
#                      primary are still stale, so still expected invalid
#   redis-append       the append workload (eventual + session checks): counts the
#                      acknowledged elements lost in failovers; expected invalid
#   redis-wait-append  the same with WAIT 2: reported, no expectation (the lost
#                      count is what to compare)
#
# Needs root (network namespaces) and the packages of scripts/setup.sh. Exit code:
# 0 when every campaign came out as expected, 1 otherwise, 2 on a harness error.
set -uo pipefail

cd "$(dirname "$0")/.."
FAULTLINE=${FAULTLINE:-target/release/faultline}
RUNS=${RUNS:-5}
TIME=${TIME:-60s}
NODES=${NODES:-5}
SEED=${SEED:-1000}
RESULTS=${RESULTS:-results/campaigns}

if [ ! -x "$FAULTLINE" ]; then
  echo "campaign: $FAULTLINE not found; build it with 'cargo build --release -p faultline' or set FAULTLINE" >&2
  exit 2
fi

# name | expected verdict | flags
campaign_flags() {
  case "$1" in
    etcd) echo "valid|--system etcd --nemesis partition,kill,pause --nemesis-interval 5s" ;;
    etcd-serializable) echo "invalid|--system etcd --etcd-reads serializable --nemesis partition --nemesis-interval 5s" ;;
    redis) echo "invalid|--system redis-sentinel --nemesis partition-leader --nemesis-interval 8s --check linearizable,eventual" ;;
    redis-wait) echo "invalid|--system redis-sentinel --redis-wait 2 --nemesis partition-leader --nemesis-interval 8s --check linearizable,eventual" ;;
    redis-append) echo "invalid|--system redis-sentinel --workload append --nemesis partition-leader --nemesis-interval 8s" ;;
    redis-wait-append) echo "any|--system redis-sentinel --redis-wait 2 --workload append --nemesis partition-leader --nemesis-interval 8s" ;;
    *) return 1 ;;
  esac
}

CAMPAIGNS=("$@")
[ ${#CAMPAIGNS[@]} -eq 0 ] && CAMPAIGNS=(etcd etcd-serializable redis redis-wait redis-append redis-wait-append)

status=0
summary=()
for c in "${CAMPAIGNS[@]}"; do
  spec=$(campaign_flags "$c") || { echo "campaign: unknown campaign '$c' (known: etcd, etcd-serializable, redis, redis-wait, redis-append, redis-wait-append)" >&2; exit 2; }
  expected=${spec%%|*}
  flags=${spec#*|}
  valid=0 invalid=0 other=0 details=""
  for i in $(seq 1 "$RUNS"); do
    seed=$((SEED + i))
    rm -f "$RESULTS/latest" # so a run that made no folder is not read as the last one
    # shellcheck disable=SC2086
    "$FAULTLINE" test $flags --nodes "$NODES" --time-limit "$TIME" --seed "$seed" \
      --name "$c" --results-dir "$RESULTS" --quiet >"/tmp/fl-campaign-$c-$i.log" 2>&1
    dir=$(readlink -f "$RESULTS/latest" 2>/dev/null || true)
    read -r verdict checks < <(python3 -c '
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception:
    print("error"); sys.exit()
line = " ".join("%s=%s (%s)" % (c["name"], c["verdict"], c.get("summary", "")) for c in r.get("checks", []))
# Lost elements: acknowledged (ok) appends, or indeterminate ones read once and then gone.
lost = [l for c in r.get("checks", []) if c["name"] == "eventual"
        for l in (c.get("report") or {}).get("elements", {}).get("lost_elements", [])]
if lost:
    ends = {l["add"]["complete_index"] for l in lost}
    kinds = {}
    for text in open(sys.argv[1].replace("results.json", "history.jsonl")):
        e = json.loads(text)
        if e["index"] in ends:
            kinds[e["type"]] = kinds.get(e["type"], 0) + 1
    line += " lost-by-outcome%s: %s" % (" (first 1000)" if len(lost) >= 1000 else "", kinds)
print(r.get("verdict") or "error", line)
' "$dir/results.json")
    case "$verdict" in
      valid) valid=$((valid + 1)) ;;
      invalid) invalid=$((invalid + 1)) ;;
      *) other=$((other + 1)); verdict=${verdict:-error} ;;
    esac
    echo "$c run $i (seed $seed): $verdict ${checks}  $dir"
    if [ "$verdict" = valid ] || [ "$verdict" = invalid ]; then
      rm -f "/tmp/fl-campaign-$c-$i.log"
    else
      echo "  (output kept in /tmp/fl-campaign-$c-$i.log)"
    fi
  done
  line="$c: $valid valid, $invalid invalid, $other unknown/error of $RUNS runs of $TIME (expected: $expected)"
  summary+=("$line")
  if [ "$other" -gt 0 ]; then
    [ $status -eq 0 ] && status=2
  elif [ "$expected" = valid ] && [ "$invalid" -gt 0 ]; then
    status=1
  elif [ "$expected" = invalid ] && [ $((invalid * 5)) -lt $((RUNS * 4)) ]; then
    status=1
  fi
done
echo
printf '%s\n' "${summary[@]}"
exit $status
