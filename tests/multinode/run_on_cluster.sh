#!/bin/sh
# Runs a command on an emulated cluster (tools/netcluster), or skips (exit 77, printing why)
# where this machine does not allow network namespaces.
# usage: run_on_cluster.sh NETCLUSTER TORCRUN NODES RANKS_PER_NODE program [args...]
netcluster=$1 torcrun=$2 nodes=$3 rpn=$4
shift 4
if ! why=$("$netcluster" --check); then
  echo "SKIPPED: $why"
  exit 77
fi
exec "$netcluster" --torcrun "$torcrun" --nodes "$nodes" --ranks-per-node "$rpn" --timeout 600 -- "$@"
