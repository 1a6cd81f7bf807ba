# SPDX-License-Identifier: GPL-2.0
#
# Packaging targets of loopns: DKMS from the source tree, .deb, .rpm,
# release tarball, version bookkeeping. Included by the top-level Makefile;
# also usable on its own: `make -f mk/packaging.mk <target>` (debian/rules
# and rpm/loopns.spec do that, so they do not depend on the include).
#
#   make version-check       VERSION, dkms.conf, debian/changelog and
#                            rpm/loopns.spec agree (exit 1 otherwise)
#   make set-version V=x.y.z rewrite all four (new changelog entries)
#   make dist                build/dist/loopns-<ver>.tar.gz
#   make dkms-install        copy to /usr/src/loopns-<ver>, dkms add, build
#                            and install for every kernel with headers
#                            (or DKMS_KVERS="a b")
#   make dkms-remove         dkms remove --all, delete /usr/src/loopns-<ver>
#   make deb                 loopns-dkms + loopns-tools .debs in build/deb/
#   make rpm                 noarch loopns-dkms + loopns-tools in build/rpm/
#   make install-data DESTDIR=...   udev rule + modules-load.d example
#   make dkms-src DESTDIR=...       the DKMS source tree under usr/src/
#   make packaging-check     tests/packaging/run.sh (TAP; needs root)
#
# Version: the top-level VERSION file is the single source of truth for
# MODULE_VERSION (via Kbuild). dkms.conf, debian/changelog and the spec keep
# the same number as a literal, so that each works as-is with its own
# tool (`dkms add .` from a checkout, dpkg-buildpackage, rpmbuild);
# `set-version` rewrites them and `version-check` (run by the packaging
# tests) fails if any of them differs.

# Whatever the including Makefile's default goal is, it stays.
lns_pkg_saved_goal := $(.DEFAULT_GOAL)

LNS_TOP := $(patsubst %/,%,$(dir $(abspath $(dir $(lastword $(MAKEFILE_LIST))))))
LNS_VERSION := $(shell cat $(LNS_TOP)/VERSION)
LNS_NAME := loopns
LNS_BUILD ?= $(LNS_TOP)/build
LNS_DIST := $(LNS_BUILD)/dist/$(LNS_NAME)-$(LNS_VERSION).tar.gz

DESTDIR ?=
DKMS ?= dkms
DKMS_SRCDIR = /usr/src/$(LNS_NAME)-$(LNS_VERSION)
# Kernels that `make dkms-install` builds for: every one with headers.
DKMS_KVERS ?= $(sort $(notdir $(patsubst %/build/Makefile,%,$(wildcard \
	/lib/modules/*/build/Makefile))))
# Debian 12 keeps udev rules under /lib; Fedora/RHEL under /usr/lib.
UDEVRULESDIR ?= $(firstword $(wildcard /lib/udev/rules.d /usr/lib/udev/rules.d) \
	/usr/lib/udev/rules.d)
PKGDOCDIR ?= /usr/share/doc/$(LNS_NAME)-tools
BINDIR ?= /usr/bin
MANDIR ?= /usr/share/man
# The OCI hook and the directory podman and CRI-O read hooks from
# (oci-hooks(5)).
LIBEXECDIR ?= /usr/libexec
HOOKSDIR ?= /usr/share/containers/oci/hooks.d

# What DKMS needs to build the module: the kbuild inputs, nothing else.
LNS_DKMS_FILES = Makefile Kbuild VERSION dkms.conf mk/packaging.mk \
	$(patsubst $(LNS_TOP)/%,%,$(sort $(wildcard $(LNS_TOP)/src/*.c \
	$(LNS_TOP)/src/*.h $(LNS_TOP)/src/probes/*.c) \
	$(shell cd $(LNS_TOP) && find include -type f 2>/dev/null)))
# The release tarball: everything but tests/ and build outputs.
LNS_DIST_PATHS = Makefile Kbuild VERSION dkms.conf README.md mk src include \
	debian rpm $(notdir $(wildcard $(LNS_TOP)/LICENSE $(LNS_TOP)/COPYING \
	$(LNS_TOP)/doc))

# The userspace tool: build/tool/loopnsctl (make tool), man pages
# src/tool/*.[1-8].
LNS_MANPAGES = $(wildcard $(LNS_TOP)/src/tool/*.[1-8])

.PHONY: version-check set-version dist dkms-src dkms-install dkms-remove \
	install-data install-tool deb rpm packaging-check packaging-deps

version-check:
	@set -e; cd $(LNS_TOP); v=$$(cat VERSION); rc=0; \
	d=$$(sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' dkms.conf); \
	c=$$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog); c=$${c%-*}; \
	s=$$(sed -n 's/^Version:[[:space:]]*//p' rpm/loopns.spec); \
	for pair in "dkms.conf:$$d" "debian/changelog:$$c" "rpm/loopns.spec:$$s"; do \
		if [ "$${pair#*:}" != "$$v" ]; then \
			echo "version mismatch: VERSION=$$v, $${pair%%:*}=$${pair#*:}" >&2; rc=1; fi; \
	done; \
	[ $$rc = 0 ] && echo "version $$v: VERSION, dkms.conf, debian/changelog, rpm/loopns.spec agree"; \
	exit $$rc

# make set-version V=x.y.z [MSG="..."]
set-version:
	@test -n "$(V)" || { echo "usage: make set-version V=x.y.z [MSG=...]" >&2; exit 2; }
	@echo "$(V)" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+([~+][0-9A-Za-z.]+)?$$' || \
		{ echo "set-version: '$(V)' is not x.y.z" >&2; exit 2; }
	@set -e; cd $(LNS_TOP); \
	echo "$(V)" > VERSION; \
	sed -i 's/^PACKAGE_VERSION=.*/PACKAGE_VERSION="$(V)"/' dkms.conf; \
	who=$$(sed -n 's/^ -- \(.*>\)  .*/\1/p' debian/changelog | head -n 1); \
	{ printf 'loopns (%s-1) unstable; urgency=medium\n\n  * %s\n\n -- %s  %s\n\n' \
		"$(V)" "$(or $(MSG),New upstream release $(V).)" "$$who" "$$(LC_ALL=C date -R)"; \
	  cat debian/changelog; } > debian/changelog.new && mv debian/changelog.new debian/changelog; \
	sed -i -e 's/^Version:\([[:space:]]*\).*/Version:\1$(V)/' \
		-e 's/^Release:\([[:space:]]*\).*/Release:\11%{?dist}/' \
		-e "/^%changelog/a * $$(LC_ALL=C date '+%a %b %d %Y') $$who - $(V)-1\n- $(or $(MSG),New upstream release $(V).)\n" \
		rpm/loopns.spec
	@$(MAKE) --no-print-directory -f $(LNS_TOP)/mk/packaging.mk version-check

dist:
	@mkdir -p $(dir $(LNS_DIST))
	@cd $(LNS_TOP) && tar --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime="@$$(stat -c %Y VERSION)" --exclude-vcs \
		--exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' \
		--transform 's,^,$(LNS_NAME)-$(LNS_VERSION)/,' \
		-czf $(LNS_DIST).tmp $(LNS_DIST_PATHS)
	@mv $(LNS_DIST).tmp $(LNS_DIST)
	@echo "  DIST    $(patsubst $(LNS_TOP)/%,%,$(LNS_DIST))"

# The DKMS source tree, for `make dkms-install`, debian/rules and the spec.
dkms-src:
	@set -e; cd $(LNS_TOP); for f in $(LNS_DKMS_FILES); do \
		install -D -m 0644 "$$f" "$(DESTDIR)$(DKMS_SRCDIR)/$$f"; done

install-data:
	install -D -m 0644 $(LNS_TOP)/src/data/60-loopns.rules \
		$(DESTDIR)$(UDEVRULESDIR)/60-loopns.rules
	install -D -m 0644 $(LNS_TOP)/src/data/loopns.conf \
		$(DESTDIR)$(PKGDOCDIR)/examples/modules-load.d/loopns.conf

# loopnsctl, the OCI hook and its hooks.d file, the man pages (after
# `make tool`).
install-tool:
	install -D -m 0755 $(LNS_BUILD)/tool/loopnsctl $(DESTDIR)$(BINDIR)/loopnsctl
	install -D -m 0755 $(LNS_BUILD)/tool/loopns-oci-hook \
		$(DESTDIR)$(LIBEXECDIR)/loopns/loopns-oci-hook
	@mkdir -p $(DESTDIR)$(HOOKSDIR)
	sed 's|@HOOKPATH@|$(LIBEXECDIR)/loopns/loopns-oci-hook|' \
		$(LNS_TOP)/src/data/50-loopns.json.in > $(DESTDIR)$(HOOKSDIR)/50-loopns.json
	@chmod 0644 $(DESTDIR)$(HOOKSDIR)/50-loopns.json
	@set -e; for m in $(LNS_MANPAGES); do s=$${m##*.}; \
		install -D -m 0644 "$$m" "$(DESTDIR)$(MANDIR)/man$$s/$$(basename $$m)"; done

dkms-install: dkms-remove
	@test "$$(id -u)" = 0 || { echo "dkms-install: run as root" >&2; exit 1; }
	$(MAKE) --no-print-directory -f $(LNS_TOP)/mk/packaging.mk dkms-src DESTDIR=
	$(DKMS) add -m $(LNS_NAME) -v $(LNS_VERSION)
	@set -e; for k in $(DKMS_KVERS); do \
		echo "  DKMS    $(LNS_NAME)/$(LNS_VERSION) for $$k"; \
		rc=0; $(DKMS) build -m $(LNS_NAME) -v $(LNS_VERSION) -k $$k || rc=$$?; \
		if [ $$rc = 77 ]; then echo "  DKMS    $$k: skipped (BUILD_EXCLUSIVE_KERNEL: needs >= 6.1)"; continue; fi; \
		[ $$rc = 0 ] || exit $$rc; \
		$(DKMS) install -m $(LNS_NAME) -v $(LNS_VERSION) -k $$k; \
	done
	@$(DKMS) status -m $(LNS_NAME)

dkms-remove:
	@test "$$(id -u)" = 0 || { echo "dkms-remove: run as root" >&2; exit 1; }
	@set -e; if [ -n "$$($(DKMS) status -m $(LNS_NAME) -v $(LNS_VERSION) 2>/dev/null)" ]; then \
		$(DKMS) remove -m $(LNS_NAME) -v $(LNS_VERSION) --all; fi
	rm -rf $(DKMS_SRCDIR)

# Both .debs, built from the release tarball in build/deb/ so that the
# source tree stays clean and dpkg-buildpackage's ../ outputs land there.
deb: dist
	rm -rf $(LNS_BUILD)/deb && mkdir -p $(LNS_BUILD)/deb
	tar -xzf $(LNS_DIST) -C $(LNS_BUILD)/deb
	cd $(LNS_BUILD)/deb/$(LNS_NAME)-$(LNS_VERSION) && dpkg-buildpackage -us -uc -b
	@ls -1 $(LNS_BUILD)/deb/*.deb

# rpmbuild on Debian: --nodeps (BuildRequires are Fedora package names).
RPMBUILD_FLAGS ?= --nodeps
rpm: dist
	rm -rf $(LNS_BUILD)/rpm && mkdir -p $(LNS_BUILD)/rpm/SOURCES
	cp $(LNS_DIST) $(LNS_BUILD)/rpm/SOURCES/
	rpmbuild -bb $(RPMBUILD_FLAGS) --define "_topdir $(LNS_BUILD)/rpm" \
		$(LNS_TOP)/rpm/loopns.spec
	@find $(LNS_BUILD)/rpm/RPMS -name '*.rpm' | sort

packaging-deps:
	$(LNS_TOP)/tests/packaging/install-deps.sh

packaging-check: packaging-deps
	$(LNS_TOP)/tests/packaging/run.sh

.DEFAULT_GOAL := $(lns_pkg_saved_goal)
