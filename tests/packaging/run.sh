#!/bin/bash
# Packaging tests of loopns (TAP on stdout, exit 1 when a test fails).
#
#   tests/packaging/run.sh [KEY=VALUE...]
#     KVERS="a b"               kernels (default: every Debian cloud kernel
#                               with headers, as the VM harness picks them)
#     PKG_SKIP_VM=1             no VM boots
#     PKG_SKIP_DEB=1 PKG_SKIP_RPM=1
#     PKG_RPM_SCRIPTLETS=1      also run the RPM %post/%preun scriptlets
#                               (rpm2cpio into /, two more DKMS builds)
#     LOOPNS_VM_TIMEOUT=s       per-VM limit (default 300)
#
# Runs as root and changes machine state while it runs (DKMS tree,
# /usr/src, /lib/modules/*/updates/dkms, dpkg database), leaving it as it
# found it: every step is undone by the next one, and a flock serialises
# concurrent runs. In order:
#   1. version consistency, dkms.conf directives and BUILD_EXCLUSIVE_KERNEL,
#      mk/packaging.mk keeps the includer's default goal;
#   2. `make dkms-install`: module for every kernel under updates/dkms,
#      modinfo -k shows VERSION;
#   3. `make dkms-remove` leaves nothing behind;
#   4. boot every kernel (QEMU, TCG) with the module DKMS built, run
#      tests/packaging/guest/dkms-module.bats there (modprobe, version,
#      fs-loopns autoload, udev rule) -- results over the second serial port;
#   5. `make deb` (dpkg-buildpackage -us -uc -b), lintian without errors,
#      dpkg -i builds the module for every kernel, purge removes everything;
#   6. `make rpm` (rpmbuild -bb --nodeps), contents and scriptlets.
# Logs: build/packaging/logs/.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../harness/lib.sh
. "$HERE/../harness/lib.sh"

for arg in "$@"; do
	case $arg in
	-h | --help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*=*) export "${arg?}" ;;
	*) die "unknown argument: $arg (use KEY=VALUE, see --help)" ;;
	esac
done

cd "$REPO_ROOT" || exit 2
((EUID == 0)) || die "tests/packaging/run.sh needs root (DKMS, dpkg)"
"$HERE/install-deps.sh" >&2 || die "installing the packaging dependencies failed"

VERSION=$(cat VERSION)
NAME=loopns
OUT=$BUILD_DIR/packaging
LOGS=$OUT/logs
WORK=$OUT/work
VM_TIMEOUT=${LOOPNS_VM_TIMEOUT:-300}
rm -rf "$LOGS" "$WORK"
mkdir -p "$LOGS" "$WORK"

# DKMS and dpkg state is machine-wide: one run at a time.
exec 9>/run/lock/loopns-packaging.lock
flock -w 900 9 || die "another packaging test run holds /run/lock/loopns-packaging.lock"

mapfile -t KVER_LIST < <(harness_kvers)
((${#KVER_LIST[@]})) || die "no kernels with headers found"

# `make <target>` once the top Makefile includes mk/packaging.mk,
# `make -f mk/packaging.mk <target>` before that.
if grep -Eq '^[[:space:]]*-?include[[:space:]].*mk/packaging\.mk' Makefile; then
	PKGMAKE=(make --no-print-directory)
else
	PKGMAKE=(make --no-print-directory -f mk/packaging.mk)
fi

# ------------------------------------------------------------------ TAP

N=0 FAILED=0
T_START=$(date +%s)
ok() { N=$((N + 1)); echo "ok $N - $*"; }
not_ok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $*"; }
diag() { sed 's/^/# /'; }
# check DESC CMD...: one test; output goes to a log, its tail to TAP on failure.
check() {
	local desc=$1 logf
	shift
	logf=$LOGS/$(printf '%02d' $((N + 1)))-$(tr -c 'A-Za-z0-9._-' '_' <<<"${desc:0:40}").log
	if "$@" >"$logf" 2>&1; then
		ok "$desc"
	else
		not_ok "$desc"
		tail -n 25 "$logf" | diag
		echo "# (full log: ${logf#"$REPO_ROOT"/})"
	fi
}
# step NAME CMD...: timing of a phase, on stderr.
phase() { log "packaging: $* ($(($(date +%s) - T_START))s)"; }

# ------------------------------------------------------------------ helpers

first() { [[ -e $1 ]] && printf '%s\n' "$1"; }

mods_of() { # kernel -> installed loopns module files
	find "/lib/modules/$1" -path '*/updates/dkms/*' -name "$NAME.ko*" 2>/dev/null
}

# Nothing of loopns left in DKMS, /usr/src or any module tree.
nothing_left() {
	local left
	left=$(
		ls -d /var/lib/dkms/$NAME /usr/src/$NAME-* 2>/dev/null
		find /lib/modules -path '*/dkms/*' -name "$NAME.ko*" 2>/dev/null
		ls -d /lib/udev/rules.d/60-loopns.rules /usr/lib/udev/rules.d/60-loopns.rules \
			/usr/share/doc/loopns-dkms /usr/share/doc/loopns-tools 2>/dev/null
		dpkg-query -W -f '${Package} ${db:Status-Status}\n' loopns-dkms loopns-tools 2>/dev/null | grep -v ' not-installed$'
		for k in "${KVER_LIST[@]}"; do modinfo -k "$k" -F filename "$NAME" 2>/dev/null | grep /dkms/; done
	)
	[[ -z $left ]] && return 0
	echo "left behind:"
	echo "$left"
	return 1
}

# The VM harness caches its base initramfs under a key that includes
# modules.dep's mtime. DKMS install + remove rewrite modules.dep with the
# same content: put the old mtime back so that nobody's cache is lost.
save_modules_dep() {
	local k
	for k in "${KVER_LIST[@]}"; do
		cp -p "/lib/modules/$k/modules.dep" "$WORK/modules.dep.$k" 2>/dev/null
	done
}
restore_modules_dep() {
	local k
	for k in "${KVER_LIST[@]}"; do
		[[ -f $WORK/modules.dep.$k ]] || continue
		cmp -s "$WORK/modules.dep.$k" "/lib/modules/$k/modules.dep" &&
			touch -r "$WORK/modules.dep.$k" "/lib/modules/$k/modules.dep"
	done
}

# Leftovers of an interrupted run: start from a clean machine.
cleanup_state() {
	local p
	for p in loopns-tools loopns-dkms; do
		if [[ $(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null) != "" &&
			$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null) != not-installed ]]; then
			dpkg --purge "$p"
		fi
	done
	if [[ -d /var/lib/dkms/$NAME ]]; then
		for v in "/var/lib/dkms/$NAME"/*/; do
			v=$(basename "$v")
			[[ $v != original_module && $v != kernel-* ]] || continue
			dkms remove -m "$NAME" -v "$v" --all || true
		done
		rm -rf "/var/lib/dkms/$NAME"
	fi
	rm -rf /usr/src/$NAME-*
	# Module files DKMS could not remove (e.g. its source tree was gone).
	for k in "${KVER_LIST[@]}"; do
		[[ -n $(mods_of "$k") ]] || continue
		mods_of "$k" | xargs rm -f
		depmod "$k"
	done
}

# An interrupted run undoes what it installed.
trap 'cleanup_state >/dev/null 2>&1; restore_modules_dep; exit 130' INT TERM

# ------------------------------------------------------------------ 1. static

phase "kernels: ${KVER_LIST[*]}; version $VERSION"
check "version: VERSION ($VERSION) = dkms.conf = debian/changelog = rpm/loopns.spec" \
	"${PKGMAKE[@]}" version-check

# dkms.conf uses only directives DKMS 3.0.10 knows (its dkms_conf_variables).
dkms_conf_directives() {
	local known used bad=
	known=$(sed -n '/^readonly dkms_conf_variables="/,/"/p' /usr/sbin/dkms | tr -d '"' |
		sed 's/^readonly dkms_conf_variables=//' | tr -s '[:space:]' '\n')
	[[ -n $known ]] || { echo "cannot read dkms_conf_variables from /usr/sbin/dkms"; return 1; }
	used=$(sed -n 's/^\([A-Z_]*\)\(\[[0-9]*\]\)\{0,1\}=.*/\1/p' dkms.conf | sort -u)
	for d in $used; do
		grep -qx "$d" <<<"$known" || bad+=" $d"
	done
	echo "dkms $(dkms --version): directives used: ${used//$'\n'/ }"
	[[ -z $bad ]] || { echo "unknown to this dkms:$bad"; return 1; }
}
check "dkms.conf: every directive is known to $(dkms --version 2>/dev/null)" dkms_conf_directives

# BUILD_EXCLUSIVE_KERNEL as DKMS evaluates it ([[ $kernelver =~ $re ]]).
build_exclusive() {
	local re k bad=0
	# shellcheck disable=SC1091
	re=$(kernelver=0 arch=x86_64 bash -c '. ./dkms.conf; printf %s "$BUILD_EXCLUSIVE_KERNEL"')
	echo "BUILD_EXCLUSIVE_KERNEL=$re"
	for k in 6.1.0-56-cloud-amd64 6.12.117+deb12-cloud-amd64 6.1 6.8.0-45-generic \
		6.10.3 7.2.0-1-cloud-amd64 10.0.0 "${KVER_LIST[@]}"; do
		[[ $k =~ $re ]] || { echo "rejects $k"; bad=1; }
	done
	for k in 6.0.19 5.15.0-122-generic 5.14.0-427.el9.x86_64 4.19.0-27-amd64 3.10.0 6; do
		[[ $k =~ $re ]] && { echo "accepts $k"; bad=1; }
	done
	return $bad
}
check "dkms.conf: BUILD_EXCLUSIVE_KERNEL accepts >= 6.1 and rejects older kernels" build_exclusive

default_goal() {
	local d=$WORK/goal
	mkdir -p "$d"
	printf 'include %s/mk/packaging.mk\nfirst:\n\t@echo first\n' "$REPO_ROOT" >"$d/a.mk"
	printf 'first:\n\t@echo first\ninclude %s/mk/packaging.mk\n' "$REPO_ROOT" >"$d/b.mk"
	[[ $(make -s -f "$d/a.mk") == first && $(make -s -f "$d/b.mk") == first ]]
}
check "mk/packaging.mk leaves the including Makefile's default goal alone" default_goal

# ------------------------------------------------------------------ 2. DKMS from source

phase "DKMS from the source tree"
cleanup_state >"$LOGS/cleanup.log" 2>&1
save_modules_dep
check "make dkms-install: dkms add, build, install for ${#KVER_LIST[@]} kernels" \
	"${PKGMAKE[@]}" dkms-install DKMS_KVERS="${KVER_LIST[*]}"

module_installed() { # kernel
	local f
	f=$(mods_of "$1")
	echo "module files: ${f:-none}"
	[[ $(wc -l <<<"$f") == 1 && $f == /lib/modules/$1/updates/dkms/$NAME.ko* ]] || return 1
	dkms status -m "$NAME" -v "$VERSION" -k "$1" | tee /dev/stderr | grep -q ': installed'
}
modinfo_version() { # kernel
	local v
	v=$(modinfo -k "$1" -F version "$NAME") || return 1
	echo "modinfo -k $1: version '$v' (filename $(modinfo -k "$1" -F filename "$NAME"))"
	[[ $v == "$VERSION" ]]
}
# DKMS signs with its MOK (/var/lib/dkms/mok.key, created by the first
# build): the signature's key serial is the certificate's serial number.
mok_signed() { # kernel
	local f serial key
	f=$(mods_of "$1")
	serial=$(openssl x509 -inform DER -in /var/lib/dkms/mok.pub -noout -serial) || return 1
	serial=${serial#serial=}
	key=$(modinfo -F sig_key "$f" | tr -d ':')
	echo "$f: signer '$(modinfo -F signer "$f")', sig_key $key; mok.pub serial $serial"
	[[ -n $key && ${key^^} == "${serial^^}" ]]
}
for k in "${KVER_LIST[@]}"; do
	check "dkms: $k: module at /lib/modules/$k/updates/dkms/$NAME.ko*" module_installed "$k"
	check "dkms: $k: modinfo -k shows version $VERSION" modinfo_version "$k"
	check "dkms: $k: module signed with DKMS's key /var/lib/dkms/mok.key" mok_signed "$k"
	# Keep what DKMS built for the VM boots.
	mkdir -p "$WORK/mod/$k"
	mods_of "$k" | xargs -r cp -p -t "$WORK/mod/$k/"
done

dkms_remove_clean() {
	"${PKGMAKE[@]}" dkms-remove && nothing_left
}
check "make dkms-remove: no /var/lib/dkms/$NAME, /usr/src/$NAME-*, module files left" dkms_remove_clean
restore_modules_dep

# ------------------------------------------------------------------ 3. VM boots

GUEST_BATS=tests/packaging/guest/dkms-module.bats
GUEST_COUNT=$(bats --count "$GUEST_BATS" 2>/dev/null) || GUEST_COUNT=1

# Build the initramfs for kernel $1: the harness's cached base archive plus a
# payload with the DKMS-built module in updates/dkms/ and the udev rules the
# guest tests need.
vm_prepare() {
	local k=$1 vm=$OUT/vm/$1 base
	rm -rf "$vm" && mkdir -p "$vm" "$WORK/udev"
	[[ -n $(ls "$WORK/mod/$k" 2>/dev/null) ]] || { echo "no DKMS-built module for $k"; return 1; }
	harness_vmlinuz "$k" >/dev/null || { echo "no vmlinuz for $k"; return 1; }
	cp /lib/udev/rules.d/60-block.rules /lib/udev/rules.d/60-persistent-storage.rules \
		src/data/60-loopns.rules "$WORK/udev/" || return 1
	LOOPNS_GUEST_ENV="LOOPNS_EXPECT_VERSION=$VERSION" harness_run_env "$vm/run.env" test
	{
		printf 'LOOPNS_BATS_FILES=%q\n' "/opt/loopns/$GUEST_BATS"
		printf 'LOOPNS_FILTER=\n'
		printf 'LOOPNS_TEST_TIMEOUT=120\n'
	} >>"$vm/run.env"
	base=$("$HARNESS_DIR/mkinitramfs.sh" base "$k") || return 1
	"$HARNESS_DIR/mkinitramfs.sh" payload "$k" "$vm/payload.cpio" "$vm/run.env" "" \
		"$WORK/mod/$k=usr/lib/modules/$k/updates/dkms" \
		"$WORK/udev=usr/lib/udev/rules.d" || return 1
	cat "$base/base.cpio" "$vm/payload.cpio" >"$vm/initrd.img"
	LOOPNS_SCRATCH_SIZE=256M harness_scratch_disk "$vm/scratch.img"
}

vm_boot() {
	local k=$1 vm=$OUT/vm/$1 l=$LOGS/vm-$1 rc
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout -k 10 "$VM_TIMEOUT" bash -c '. "$1"; shift; harness_qemu "$@"' _ "$HARNESS_DIR/lib.sh" "$k" "$vm" \
		-nographic -monitor none \
		-serial "file:$l/console.log" -serial "file:$l/tap.raw" \
		</dev/null >"$l/qemu.log" 2>&1
	rc=$?
	echo "$rc" >"$l/vm.status"
	tr -d '\r' <"$l/tap.raw" >"$l/tap.txt" 2>/dev/null
	rm -f "$vm/scratch.img"
}

# Relay the guest's TAP as our own tests, then one health test per VM.
vm_report() {
	local k=$1 l=$LOGS/vm-$1 line seen=0 done_rc='' rc issues name='' buf='' state='' 
	flush() {
		[[ $state == skip ]] || name=$(sed -E 's/ in [0-9]+ms$//' <<<"$name")
		case $state in
		ok) ok "vm $k: $name" ;;
		skip) ok "vm $k: $name" ;;
		fail) not_ok "vm $k: $name"; printf '%s' "$buf" | diag ;;
		esac
		state='' buf='' 
	}
	while IFS= read -r line; do
		case $line in
		"not ok "*) flush; seen=$((seen + 1)); state=fail; name=${line#not ok * } ;;
		"ok "*) flush; seen=$((seen + 1)); state=ok; name=${line#ok * } ;;&
		"ok "*" # skip"*) state=skip ;;
		"# loopns-harness: bats-exit="*) flush; done_rc=${line#*bats-exit=}; done_rc=${done_rc%% *} ;;
		"#"*) [[ $state == fail ]] && buf+="${line#\# }"$'\n' ;;
		esac
	done <"$l/tap.txt"
	flush
	while ((seen < GUEST_COUNT)); do
		seen=$((seen + 1))
		not_ok "vm $k: guest test $seen of $GUEST_COUNT: no result"
	done
	rc=$(cat "$l/vm.status" 2>/dev/null || echo -)
	issues=$(tr -d '\r' <"$l/console.log" 2>/dev/null | grep -nE "$(harness_kernel_issues)")
	if [[ $rc == 0 && -n $done_rc && -z $issues ]]; then
		ok "vm $k: booted, reported, console log free of kernel warnings"
	else
		not_ok "vm $k: booted, reported, console log free of kernel warnings"
		{
			echo "qemu status $rc (124/137: killed after ${VM_TIMEOUT}s), bats exit '${done_rc:-none}'"
			[[ -n $issues ]] && head -n 30 <<<"$issues"
			tail -n 15 "$l/console.log" 2>/dev/null
			echo "logs: ${l#"$REPO_ROOT"/}"
		} | diag
	fi
}

if [[ ${PKG_SKIP_VM:-0} != 1 ]]; then
	phase "VM boots with the DKMS-built module"
	harness_build_helpers >"$LOGS/helpers.log" 2>&1
	pids=()
	for k in "${KVER_LIST[@]}"; do
		mkdir -p "$LOGS/vm-$k"
		if vm_prepare "$k" >"$LOGS/vm-$k/prepare.log" 2>&1; then
			vm_boot "$k" &
			pids+=($!)
		else
			echo "initramfs for $k failed: $(tail -n 3 "$LOGS/vm-$k/prepare.log")" >"$LOGS/vm-$k/prepare.err"
		fi
	done
	wait "${pids[@]}" 2>/dev/null
	for k in "${KVER_LIST[@]}"; do
		if [[ -f $LOGS/vm-$k/prepare.err ]]; then
			for ((i = 0; i <= GUEST_COUNT; i++)); do not_ok "vm $k: not booted"; done
			diag <"$LOGS/vm-$k/prepare.err"
			continue
		fi
		vm_report "$k"
	done
fi

# tools_files LIST UDEVDIR: loopns-tools' file LIST (one path a line)
# has what it must ship (man pages compressed or not).
tools_files() {
	local f
	for f in /usr/bin/loopnsctl /usr/libexec/loopns/loopns-oci-hook \
		/usr/share/containers/oci/hooks.d/50-loopns.json \
		/usr/share/man/man8/loopnsctl.8 /usr/share/man/man7/loopns.7 \
		/usr/share/man/man8/loopns-oci-hook.8 "$2/60-loopns.rules"; do
		grep -qE -- "^$f(\.gz)?$" <<<"$1" || { echo "missing: $f"; echo "$1"; return 1; }
	done
}

# ------------------------------------------------------------------ 4. .deb

if [[ ${PKG_SKIP_DEB:-0} != 1 ]]; then
	phase "Debian packages"
	check "make deb: dpkg-buildpackage -us -uc -b builds loopns-dkms and loopns-tools" \
		"${PKGMAKE[@]}" deb
	DKMS_DEB=$(first "$BUILD_DIR"/deb/loopns-dkms_"$VERSION"-*_all.deb)
	TOOLS_DEB=$(first "$BUILD_DIR"/deb/loopns-tools_"$VERSION"-*_*.deb)
	CHANGES=$(first "$BUILD_DIR"/deb/loopns_"$VERSION"-*.changes)

	lintian_clean() {
		[[ -n $CHANGES ]] || { echo "no .changes file"; return 1; }
		lintian --allow-root --fail-on error --display-info "$CHANGES" | tee "$WORK/lintian.txt"
	}
	check "lintian: no errors on the .debs and .changes" lintian_clean
	[[ -s $WORK/lintian.txt ]] && sed 's/^/lintian: /' "$WORK/lintian.txt" | diag

	deb_contents() {
		local c
		c=$(dpkg-deb -c "$DKMS_DEB") || return 1
		if ! grep -q " ./usr/src/$NAME-$VERSION/dkms.conf$" <<<"$c" ||
			! grep -q " ./usr/src/$NAME-$VERSION/Kbuild$" <<<"$c"; then
			echo "$c"
			return 1
		fi
		# Not `| tee | grep -q`: grep quitting early can SIGPIPE tee,
		# and pipefail then fails the check.
		c=$(dpkg-deb -f "$DKMS_DEB" Architecture Depends) || return 1
		echo "$c"
		grep -q '^Architecture: all$' <<<"$c" &&
			grep -q '^Depends:.*dkms' <<<"$c" || return 1
		c=$(dpkg-deb -c "$TOOLS_DEB") || return 1
		tools_files "$(sed -n 's|.* \./|/|p' <<<"$c")" /lib/udev/rules.d
	}
	check "deb contents: loopns-dkms (all) has the DKMS tree; loopns-tools loopnsctl, the OCI hook, its hooks.d file, man pages, udev rule" deb_contents

	deb_module_ok() { module_installed "$1" && modinfo_version "$1"; }
	save_modules_dep
	check "dpkg -i loopns-dkms loopns-tools" dpkg -i "$DKMS_DEB" "$TOOLS_DEB"
	for k in "${KVER_LIST[@]}"; do
		check "deb: $k: DKMS built and installed $NAME $VERSION" deb_module_ok "$k"
	done
	purge_clean() {
		dpkg --purge loopns-tools loopns-dkms && nothing_left
	}
	check "dpkg --purge removes modules, DKMS tree, sources and files" purge_clean
	restore_modules_dep
fi

# ------------------------------------------------------------------ 5. .rpm

if [[ ${PKG_SKIP_RPM:-0} != 1 ]]; then
	phase "RPM packages"
	check "make rpm: rpmbuild -bb (--nodeps) builds loopns-dkms and loopns-tools" "${PKGMAKE[@]}" rpm
	rpm_contents() {
		local d t dl tl
		d=$(ls "$BUILD_DIR"/rpm/RPMS/noarch/loopns-dkms-"$VERSION"-*.noarch.rpm 2>/dev/null) || return 1
		t=$(ls "$BUILD_DIR"/rpm/RPMS/*/loopns-tools-"$VERSION"-*.rpm 2>/dev/null) || return 1
		dl=$(rpm -qlp "$d") && tl=$(rpm -qlp "$t") || return 1
		printf '%s\n' "$dl" "$tl"
		grep -qx "/usr/src/$NAME-$VERSION/dkms.conf" <<<"$dl" &&
			grep -qx "/usr/src/$NAME-$VERSION/Makefile" <<<"$dl" &&
			tools_files "$tl" /usr/lib/udev/rules.d || return 1
		rpm -qp --scripts "$d" >"$WORK/scripts" || return 1
		cat "$WORK/scripts"
		sed -n '/^preuninstall/,$p' "$WORK/scripts" >"$WORK/preun"
		grep -q "dkms add -m $NAME" "$WORK/scripts" &&
			grep -q "dkms install -m $NAME" "$WORK/scripts" &&
			grep -qF "\"\$1\" -eq 0" "$WORK/preun" &&
			grep -q "dkms remove -m $NAME" "$WORK/preun"
	}
	check "rpm: noarch loopns-dkms with DKMS tree and %post/%preun (erase only); tools with loopnsctl, the OCI hook, hooks.d file, man pages, udev rule" rpm_contents

	# Run the scriptlets as rpm would (opt-in: two more DKMS builds).
	rpm_scriptlets() {
		local d k
		d=$(first "$BUILD_DIR"/rpm/RPMS/noarch/loopns-dkms-"$VERSION"-*.noarch.rpm) || return 1
		rpm -qp --qf '%{POSTIN}' "$d" >"$WORK/post.sh" &&
			rpm -qp --qf '%{PREUN}' "$d" >"$WORK/preun.sh" || return 1
		(cd / && rpm2cpio "$d" | cpio -idm --quiet) || return 1
		sh -e "$WORK/post.sh" 1 || return 1
		for k in "${KVER_LIST[@]}"; do
			module_installed "$k" && modinfo_version "$k" || return 1
		done
		echo "--- %preun 1 (upgrade): keeps the module"
		sh -e "$WORK/preun.sh" 1 || return 1
		module_installed "${KVER_LIST[0]}" || return 1
		echo "--- %preun 0 (erase): removes it"
		sh -e "$WORK/preun.sh" 0 || return 1
		rm -rf "/usr/src/$NAME-$VERSION" # what rpm -e does next
		nothing_left
	}
	if [[ ${PKG_RPM_SCRIPTLETS:-0} == 1 ]]; then
		save_modules_dep
		check "rpm scriptlets: %post builds for every kernel, %preun removes on erase only" rpm_scriptlets
		cleanup_state >/dev/null 2>&1
		restore_modules_dep
	fi
fi

echo "1..$N"
phase "done: $N tests, $FAILED failed"
((FAILED == 0))
