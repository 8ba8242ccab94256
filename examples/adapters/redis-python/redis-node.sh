#!/bin/sh
# One Redis node: a redis-server and its sentinel in one process group, as the
# built-in redis-sentinel system starts them (harness/src/system/builtin/redis.rs).
# Arguments: ip, data dir, peers, node count, redis port, sentinel port, master name.
set -eu
ip=$1 dir=$2 peers=$3 count=$4 port=$5 sport=$6 name=$7
first=${peers%%,*}; first=${first#*=}; primary=${first%:*}
quorum=$((count / 2 + 1))
cd "$dir"
if [ ! -f redis.conf ]; then
  {
    echo "bind $ip"
    echo "port $port"
    echo "protected-mode no"
    echo "dir $dir"
    echo 'save ""'
    echo "appendonly yes"
    echo "appendfsync everysec"
    if [ "$ip" != "$primary" ]; then echo "replicaof $primary $port"; fi
  } > redis.conf
fi
if [ ! -f sentinel.conf ]; then
  {
    echo "bind $ip"
    echo "port $sport"
    echo "protected-mode no"
    echo "dir $dir"
    echo "sentinel monitor $name $primary $port $quorum"
    echo "sentinel down-after-milliseconds $name 2000"
    echo "sentinel failover-timeout $name 6000"
    echo "sentinel parallel-syncs $name 1"
    # Named up front: a sentinel otherwise learns of replicas only from the
    # primary's INFO every 10 s, and with none known it cannot fail over.
    for peer in $(echo "$peers" | tr ',' ' '); do
      host=${peer#*=}; host=${host%:*}
      if [ "$host" != "$primary" ]; then echo "sentinel known-replica $name $host $port"; fi
    done
  } > sentinel.conf
fi
setpriv --pdeathsig KILL redis-sentinel sentinel.conf &
exec redis-server redis.conf
