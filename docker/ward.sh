#!/bin/sh
# The ward (role ward): the TEST CA, births, the parents' pages. It publishes its root
# certificate (public) into the exchange directory, where the registry takes it as its trust
# root and leaves its seal request for the ward's CA (docker/issue-seal.sh).
set -eu
: "${BIRTHREG_DATA_DIR:?}" "${BIRTHREG_EXCHANGE:?}"
birthreg init --role ward
cp "$BIRTHREG_DATA_DIR/ca/root.pem" "$BIRTHREG_EXCHANGE/root.pem.tmp"
mv "$BIRTHREG_EXCHANGE/root.pem.tmp" "$BIRTHREG_EXCHANGE/root.pem"
exec birthreg serve --role ward --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}"
