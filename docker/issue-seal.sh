#!/bin/sh
# At the ward, once: the CA issues the registry's seal for the request the registry left in the
# exchange directory (the request proves the key; the ward names the office), and puts the
# certificate and its chain beside it. Only public material crosses: a request, certificates.
set -eu
: "${BIRTHREG_EXCHANGE:?}"
. "$(dirname "$0")/wait-for.sh"
wait_for "$BIRTHREG_EXCHANGE/root.pem"             # the ward's init is done
wait_for "$BIRTHREG_EXCHANGE/registry-seal.csr"    # the registry's request
if [ ! -s "$BIRTHREG_EXCHANGE/registry-seal.pem" ]; then
    birthreg ca issue-seal "$BIRTHREG_EXCHANGE/registry-seal.csr" --kind registry \
        > "$BIRTHREG_EXCHANGE/registry-seal.pem.tmp"
    mv "$BIRTHREG_EXCHANGE/registry-seal.pem.tmp" "$BIRTHREG_EXCHANGE/registry-seal.pem"
fi
