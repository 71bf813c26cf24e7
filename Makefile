# kmod-rs: build and install.
#
#   make                  release build (cargo build --release)
#   make static           statically linked release build (glibc, x86_64), its
#                         code laid out by bins/symbol-order.txt (see bins/build.rs)
#   make install          install into $(DESTDIR)$(PREFIX)
#   make uninstall        remove what `make install` installed
#
# Variables: DESTDIR (staging root), PREFIX (default /usr), BINDIR (default
# $(PREFIX)/bin, as Debian installs kmod in /usr/bin; SBINDIR is accepted as an
# alias), MANDIR (default $(PREFIX)/share/man), BASHCOMPDIR, ZSHCOMPDIR, FISHCOMPDIR.
# KMOD_BIN and COMPLETIONS_BIN name the binaries to install (default: the release
# build, built when missing).

CARGO ?= cargo
PREFIX ?= /usr
SBINDIR ?= $(PREFIX)/bin
BINDIR ?= $(SBINDIR)
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
INSTALL ?= install
STATIC_TARGET ?= x86_64-unknown-linux-gnu

KMOD_BIN ?= target/release/kmod
COMPLETIONS_BIN ?= target/release/kmod-rs-completions

TOOLS := insmod rmmod lsmod modprobe depmod modinfo
MAN8 := kmod insmod rmmod lsmod modprobe depmod modinfo
MAN5 := modprobe.d depmod.d modules.dep

.PHONY: all static install uninstall clean

all:
	$(CARGO) build --release

static:
	KMOD_RS_SYMBOL_ORDER=1 RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --target $(STATIC_TARGET)

target/release/kmod target/release/kmod-rs-completions:
	$(CARGO) build --release --bin kmod --bin kmod-rs-completions

install: $(KMOD_BIN) $(COMPLETIONS_BIN)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	$(INSTALL) -m 755 $(KMOD_BIN) $(DESTDIR)$(BINDIR)/kmod
	for t in $(TOOLS); do ln -sf kmod $(DESTDIR)$(BINDIR)/$$t || exit 1; done
	for m in $(MAN8); do $(INSTALL) -m 644 man/$$m.8 $(DESTDIR)$(MANDIR)/man8/$$m.8 || exit 1; done
	for m in $(MAN5); do $(INSTALL) -m 644 man/$$m.5 $(DESTDIR)$(MANDIR)/man5/$$m.5 || exit 1; done
	for t in kmod $(TOOLS); do \
		$(COMPLETIONS_BIN) bash $$t > $(DESTDIR)$(BASHCOMPDIR)/$$t && \
		$(COMPLETIONS_BIN) zsh $$t > $(DESTDIR)$(ZSHCOMPDIR)/_$$t && \
		$(COMPLETIONS_BIN) fish $$t > $(DESTDIR)$(FISHCOMPDIR)/$$t.fish || exit 1; \
	done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/kmod
	for t in $(TOOLS); do rm -f $(DESTDIR)$(BINDIR)/$$t; done
	for m in $(MAN8); do rm -f $(DESTDIR)$(MANDIR)/man8/$$m.8; done
	for m in $(MAN5); do rm -f $(DESTDIR)$(MANDIR)/man5/$$m.5; done
	for t in kmod $(TOOLS); do \
		rm -f $(DESTDIR)$(BASHCOMPDIR)/$$t $(DESTDIR)$(ZSHCOMPDIR)/_$$t $(DESTDIR)$(FISHCOMPDIR)/$$t.fish; \
	done

clean:
	$(CARGO) clean
