#!/bin/sh
# Lab VM early boot: the host name from the SMBIOS serial qemu sets, the management NIC
# configured statically, the trading NICs brought up.
#
# Interface names are pinned by the image's .link files (by PCI path), so this script
# waits for each NIC under its pinned name and never touches a NIC under the kernel's
# name: an interface that is up can no longer be renamed, and a NIC brought up before
# udev renamed it would keep its ethN name for the whole boot.
# Every path and name it uses comes from the environment file below.
set -u
# shellcheck source=/dev/null
. "${COLOTUNE_LAB_ENV:-/etc/default/colotune-lab}"

log() { echo "colotune-lab-boot: $*" >> "$CONSOLE"; }
missing() {
  have=""
  for d in /sys/class/net/*; do have="$have ${d##*/}"; done
  log "no interface $1 after $NIC_WAIT_S s (have:$have)"
}

# wait_nic NAME: true once an interface called NAME exists, false after NIC_WAIT_S seconds
wait_nic() {
  tries=0
  while [ ! -e "/sys/class/net/$1" ]; do
    [ "$tries" -ge $((NIC_WAIT_S * 5)) ] && return 1
    tries=$((tries + 1))
    sleep 0.2
  done
}

name=$(cat "$SERIAL_FILE" 2>/dev/null || true)
case "$name" in lab[0-9]*) hostname "$name"; echo "$name" > /etc/hostname ;; esac
ip link set lo up

if ! wait_nic "$MGMT_NIC"; then
  missing "$MGMT_NIC"
  exit 1
fi
ip link set "$MGMT_NIC" up
ip addr replace "$MGMT_ADDR" dev "$MGMT_NIC"
ip route replace default via "$MGMT_GATEWAY" dev "$MGMT_NIC"

status=0
for nic in $TRADE_NICS; do
  if wait_nic "$nic"; then
    ip link set "$nic" up
  else
    missing "$nic"
    status=1
  fi
done
log "$(hostname): $(ip -br addr | tr -s ' ' | tr '\n' ';')"
exit "$status"
