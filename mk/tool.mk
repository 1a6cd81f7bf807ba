# SPDX-License-Identifier: GPL-2.0
#
# loopnsctl, the userspace tool (src/tool/), and its host-side unit tests.
# Included by the top-level Makefile.
#
#   make tool                build/tool/loopnsctl (links libkmod, libsmartcols,
#                            libmount, libblkid)
#   make unit-test           build and run tests/unit/ (TAP on stdout;
#                            exit status non-zero on failure)
#   make install-tool [DESTDIR=...] [PREFIX=/usr/local | BINDIR=.. MANDIR=..]
#                            install loopnsctl and its man pages
#   make tool-lint           man pages through groff -ww (and mandoc -Tlint
#                            when installed), compiler warnings as errors
#
# CFLAGS, CPPFLAGS and LDFLAGS from the environment are honoured (Debian's
# and RPM's hardening flags).

TOOL_SRCDIR := $(SRCTREE)/src/tool
TOOL_OUT := $(or $(BUILD_ROOT),$(SRCTREE)/build)/tool
TOOL_BIN := $(TOOL_OUT)/loopnsctl
TOOL_SRCS := $(TOOL_SRCDIR)/pure.c $(TOOL_SRCDIR)/table.c $(TOOL_SRCDIR)/sys.c \
	$(TOOL_SRCDIR)/cmds.c $(TOOL_SRCDIR)/image.c $(TOOL_SRCDIR)/main.c
# The OCI runtime hook: loopnsctl's code (setup-dev) with its own main,
# plus json-c for the runtime's state and config.json.
HOOK_BIN := $(TOOL_OUT)/loopns-oci-hook
HOOK_SRCS := $(TOOL_SRCDIR)/ocihook.c $(filter-out %/main.c,$(TOOL_SRCS))
TOOL_HDRS := $(wildcard $(TOOL_SRCDIR)/*.h) $(SRCTREE)/include/uapi/linux/loopns.h
TOOL_MANS := $(wildcard $(TOOL_SRCDIR)/*.[1-8])
TOOL_VERSION := $(shell cat $(SRCTREE)/VERSION 2>/dev/null)

TOOL_CC ?= $(CC)
TOOL_PKGCONF := $(shell command -v pkg-config || command -v pkgconf)
# libkmod, libsmartcols, libmount and libblkid (util-linux); without pkg-config, the
# Debian and Fedora header directories.
TOOL_LIBS_PC := libkmod smartcols mount blkid
TOOL_LIB_CFLAGS := $(or $(if $(TOOL_PKGCONF),$(shell $(TOOL_PKGCONF) --cflags $(TOOL_LIBS_PC) 2>/dev/null)),\
	-I/usr/include/libsmartcols -I/usr/include/libmount -I/usr/include/blkid)
TOOL_LIB_LIBS := $(or $(if $(TOOL_PKGCONF),$(shell $(TOOL_PKGCONF) --libs $(TOOL_LIBS_PC) 2>/dev/null)),\
	-lkmod -lsmartcols -lmount -lblkid)
HOOK_LIBS := $(or $(if $(TOOL_PKGCONF),$(shell $(TOOL_PKGCONF) --libs json-c 2>/dev/null)),-ljson-c)
UNIT_LIBS := $(or $(if $(TOOL_PKGCONF),$(shell $(TOOL_PKGCONF) --libs smartcols mount 2>/dev/null)),\
	-lsmartcols -lmount)
TOOL_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter \
	-Wformat=2 -Wno-format-truncation -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-D_FILE_OFFSET_BITS=64 -DLOOPNS_TOOL_VERSION='"$(TOOL_VERSION)"' \
	$(TOOL_LIB_CFLAGS) $(CPPFLAGS) $(CFLAGS)

UNIT_SRCDIR := $(SRCTREE)/tests/unit
UNIT_OUT := $(TOOL_OUT)/unit
UNIT_TESTS := $(patsubst $(UNIT_SRCDIR)/%.c,$(UNIT_OUT)/%,$(wildcard $(UNIT_SRCDIR)/test-*.c))

PREFIX ?=
ifneq ($(PREFIX),)
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
endif

.PHONY: tool unit-test tool-lint tool-clean

tool: $(TOOL_BIN) $(HOOK_BIN)

$(TOOL_BIN): $(TOOL_SRCS) $(TOOL_HDRS) $(SRCTREE)/VERSION $(SRCTREE)/mk/tool.mk
	@mkdir -p $(dir $@)
	$(TOOL_CC) $(TOOL_CFLAGS) $(LDFLAGS) -o $@ $(TOOL_SRCS) $(TOOL_LIB_LIBS)

$(HOOK_BIN): $(HOOK_SRCS) $(TOOL_HDRS) $(SRCTREE)/VERSION $(SRCTREE)/mk/tool.mk
	@mkdir -p $(dir $@)
	$(TOOL_CC) $(TOOL_CFLAGS) $(LDFLAGS) -o $@ $(HOOK_SRCS) $(TOOL_LIB_LIBS) $(HOOK_LIBS)

# The unit tests link everything but the commands and libkmod: pure.c,
# table.c (libsmartcols) and sys.c (libmount), with no kernel needed.
UNIT_LINKED := $(TOOL_SRCDIR)/pure.c $(TOOL_SRCDIR)/table.c $(TOOL_SRCDIR)/sys.c
$(UNIT_OUT)/%: $(UNIT_SRCDIR)/%.c $(UNIT_SRCDIR)/tap.h $(UNIT_LINKED) $(TOOL_HDRS)
	@mkdir -p $(dir $@)
	$(TOOL_CC) $(TOOL_CFLAGS) -I$(TOOL_SRCDIR) $(LDFLAGS) -o $@ $< $(UNIT_LINKED) $(UNIT_LIBS)

# One TAP stream, numbered across all test programs.
unit-test: $(UNIT_TESTS)
	@set -e; n=0; fail=0; out=$$(mktemp); trap 'rm -f $$out' EXIT; \
	for t in $(UNIT_TESTS); do \
		echo "# $$(basename $$t)"; \
		rc=0; $$t > $$out 2>&1 || rc=$$?; \
		while IFS= read -r line; do \
			case $$line in \
			"ok "*|"not ok "*) n=$$((n + 1)); \
				case $$line in "not ok "*) fail=$$((fail + 1));; esac; \
				echo "$$line" | sed -E "s/^(not ok|ok) [0-9]+/\1 $$n/";; \
			1..*) ;; \
			*) echo "$$line";; \
			esac; \
		done < $$out; \
		if [ $$rc -ne 0 ] && ! grep -q '^not ok' $$out; then \
			n=$$((n + 1)); fail=$$((fail + 1)); \
			echo "not ok $$n - $$(basename $$t) exited with status $$rc"; \
		fi; \
	done; \
	echo "1..$$n"; \
	echo "# $$((n - fail)) passed, $$fail failed"; \
	[ $$fail -eq 0 ]

install-tool: tool

tool-lint: $(TOOL_SRCS) $(HOOK_SRCS)
	$(TOOL_CC) $(TOOL_CFLAGS) -Werror -fsyntax-only $(TOOL_SRCS)
	$(TOOL_CC) $(TOOL_CFLAGS) -Werror -fsyntax-only $(TOOL_SRCDIR)/ocihook.c
	@set -e; for m in $(TOOL_MANS); do \
		echo "  GROFF   $$(basename $$m)"; \
		w=$$(groff -man -ww -z $$m 2>&1); [ -z "$$w" ] || { echo "$$w"; exit 1; }; \
		if command -v mandoc >/dev/null; then mandoc -Tlint -W warning $$m; fi; \
	done

tool-clean:
	rm -rf $(TOOL_OUT)
