#!/bin/bash
# Boot a VM with loopns.ko and walk through one private instance, printing
# every step (tests/guest/demo.sh runs inside). Ends with "DEMO: PASS" or
# "DEMO: FAIL" and the matching exit status.
#
# Usage: tests/harness/demo.sh [KVER=<kver>] [LOOPNS_KVM=1]
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for arg in "$@"; do
	case $arg in
	-h | --help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*=*) export "${arg?}" ;;
	*) die "unknown argument: $arg" ;;
	esac
done
k=${KVER:-$(harness_kvers | head -n 1)}
[[ -n $k ]] || die "no kernel found"
vm=$BUILD_DIR/vm/demo-$k
logs=$BUILD_DIR/logs/demo-$k
rm -rf "$logs"
mkdir -p "$vm" "$logs"
harness_run_env "$vm/run.env" demo
harness_prepare "$k" "$vm" "$logs" "$vm/run.env" || die "$(cat "$logs/prepare.err")"
log "booting $k for the demo"
timeout -k 10 "${LOOPNS_VM_TIMEOUT:-600}" bash -c '. "$1"; shift; harness_qemu "$@"' _ "$HARNESS_DIR/lib.sh" "$k" "$vm" \
	-display none -monitor none \
	-chardev "stdio,id=con,signal=off,logfile=$logs/console.log" -serial chardev:con \
	-serial "file:$logs/result.raw" </dev/null
rc=$?
rm -f "$vm/scratch.img"
result=$(tr -d '\r' <"$logs/result.raw" | grep -m1 '^DEMO: ')
issues=$(harness_console_issues "$logs/console.log" | cut -d: -f2-)
echo
if [[ -n $issues ]]; then
	echo "kernel log problems:"
	sed 's/^/  /' <<<"$issues"
fi
if [[ $rc == 0 && $result == "DEMO: PASS" && -z $issues ]]; then
	echo "DEMO: PASS ($k)"
	exit 0
fi
[[ $rc == 0 ]] || echo "qemu exited with status $rc"
echo "DEMO: FAIL ($k)${result:+ - guest said: $result}"
exit 1
