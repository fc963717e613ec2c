#!/usr/bin/env bash
# Generates the local development secrets on first run: the Ed25519 key pair that signs access
# tokens and the service credential for internal calls. Kept in .local/, never committed.
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
if [ ! -s "$KEYS/service-token" ]; then
  say "generating the local service credential in $KEYS"
  (umask 077; openssl rand -hex 32 > "$KEYS/service-token")
fi
