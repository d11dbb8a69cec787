#!/bin/sh
# The registry (role registry): no CA key, no CA passphrase. It trusts the ward's root, makes
# its seal key and request, waits for the certificate the ward's CA issues for it, installs it
# (checked against its key and its roots) and serves. Restarted, every step finds it done.
set -eu
: "${BIRTHREG_DATA_DIR:?}" "${BIRTHREG_EXCHANGE:?}"
. "$(dirname "$0")/wait-for.sh"
wait_for "$BIRTHREG_EXCHANGE/root.pem"
birthreg init --role registry --roots "$BIRTHREG_EXCHANGE/root.pem"
cp "$BIRTHREG_DATA_DIR/registry-seal.csr" "$BIRTHREG_EXCHANGE/registry-seal.csr.tmp"
mv "$BIRTHREG_EXCHANGE/registry-seal.csr.tmp" "$BIRTHREG_EXCHANGE/registry-seal.csr"
wait_for "$BIRTHREG_EXCHANGE/registry-seal.pem"
birthreg init --role registry --seal-cert "$BIRTHREG_EXCHANGE/registry-seal.pem"
exec birthreg serve --role registry --host "${HOST:-0.0.0.0}" --port "${PORT:-8001}"
