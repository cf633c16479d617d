#!/bin/sh
# Under tools/netcluster: TCP goodput from rank 1's node to rank 0's node (iperf3, 5 s), the
# ceiling a collective can reach on the shaped links. Other ranks do nothing.
host=${TORC_ROOT_ADDR%:*}
case "$TORC_RANK" in
  0) exec iperf3 -s -1 -B "$host" >/dev/null ;;
  1) sleep 1; exec iperf3 -c "$host" -t 5 -f m | grep -E "receiver" ;;
esac
