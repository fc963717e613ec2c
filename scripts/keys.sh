#!/usr/bin/env bash
# Generates the local development secrets on first run: the Ed25519 key pair that signs access
# tokens and, for each service that calls billing's internal endpoints (user, order), its own
# credential. Kept in .local/, never committed.
source "$(dirname "$0")/lib.sh"
ensure_packages openssl:openssl

KEYS="$LOCAL/keys"
mkdir -p "$KEYS"
chmod 700 "$KEYS"
if [ ! -s "$KEYS/jwt-private.pem" ]; then
  say "generating the local JWT signing key (Ed25519) in $KEYS"
  (umask 077; openssl genpkey -algorithm ed25519 -out "$KEYS/jwt-private.pem")
  openssl pkey -in "$KEYS/jwt-private.pem" -pubout -out "$KEYS/jwt-public.pem"
fi
rm -f "$KEYS/service-token"   # the one credential every service shared before (issue 27)
for caller in user order; do
  if [ ! -s "$KEYS/service-token-$caller" ]; then
    say "generating the local $caller service's credential for billing in $KEYS"
    (umask 077; openssl rand -hex 32 > "$KEYS/service-token-$caller")
  fi
done
