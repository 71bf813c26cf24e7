#!/usr/bin/env bash
# The README's first command: the demo on a real Debian kernel under QEMU.
exec "$(dirname "$0")/vm-demo.sh" "$@"
