#!/usr/bin/env bash
# Writes the secrets deploy/compose.yaml reads, once: a PostgreSQL password, the database URL
# holding it, and the 32-byte key that seals the signing keys in the database. Existing files
# are kept (replacing the encryption key would make the stored signing keys unreadable).
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secrets"
mkdir -p "$dir" && chmod 0700 "$dir"
umask 077
hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
[[ -s "$dir/postgres_password" ]] || hex 24 >"$dir/postgres_password"
[[ -s "$dir/db_url" ]] || printf 'postgres://tessera:%s@postgres:5432/tessera' "$(cat "$dir/postgres_password")" >"$dir/db_url"
[[ -s "$dir/keys_encryption_key" ]] || hex 32 >"$dir/keys_encryption_key"
echo "secrets in $dir"
