#!/bin/bash
# Boot the test VM of one kernel with loopns.ko loaded and an interactive
# bash on the serial console (for debugging).
#
# Usage: tests/harness/vm-shell.sh [KVER=<kver>] [LOOPNS_KVM=1] [KEY=VALUE...]
#   Default kernel: the first one check.sh would test. The console is this
#   terminal: Ctrl-A x quits qemu, Ctrl-A c the qemu monitor; `exit` in the
#   guest powers off. The repository's tests/ tree is at $TESTS_DIR
#   (/opt/loopns/tests); `bats $TESTS_DIR/bats` runs the suite by hand.
#   LOOPNS_SHELL_NOLOAD=1 leaves the module unloaded.
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
vm=$BUILD_DIR/vm/shell-$k
logs=$BUILD_DIR/logs/shell-$k
mkdir -p "$vm" "$logs"
harness_build_helpers || warn "some helpers failed to build"
harness_run_env "$vm/run.env" shell
printf 'LOOPNS_SHELL_NOLOAD=%q\n' "${LOOPNS_SHELL_NOLOAD:-0}" >>"$vm/run.env"
LOOPNS_ALLOW_NO_MODULE=1 harness_prepare "$k" "$vm" "$logs" "$vm/run.env" ||
	die "$(cat "$logs/prepare.err")"
log "booting $k (console log also in ${logs#"$REPO_ROOT"/}/console.log); Ctrl-A x quits"
harness_qemu "$k" "$vm" -nographic \
	-chardev "stdio,id=con,mux=on,signal=off,logfile=$logs/console.log" \
	-serial chardev:con -mon chardev=con,mode=readline \
	-serial "file:$logs/ttyS1.out"
rc=$?
rm -f "$vm/scratch.img"
exit $rc
