#!/usr/bin/env bash
# Generates the demo CA and a leaf certificate signed by it. Run once; the outputs are committed so
# that tests and `npm run up` never depend on openssl being present. Re-run only to rotate them.
# notBefore is set a year back so that a machine whose clock lags the generating one still accepts
# them; notAfter is ten years ahead.
set -euo pipefail
cd "$(dirname "$0")"

start="$(date -u -d '-1 year' +%Y%m%d%H%M%SZ)"
end="$(date -u -d '+10 years' +%Y%m%d%H%M%SZ)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

touch "$tmp/index.txt"
cat > "$tmp/ca.cnf" <<CNF
[ ca ]
default_ca = demo
[ demo ]
dir = $tmp
database = $tmp/index.txt
new_certs_dir = $tmp
rand_serial = yes
default_md = sha256
policy = anything
copy_extensions = none
unique_subject = no
[ anything ]
commonName = supplied
[ ca_ext ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ leaf_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost,DNS:*.sluice.localhost,DNS:sluice.localhost,DNS:demo.sluice.localhost,DNS:*.demo.sluice.localhost,IP:127.0.0.1
CNF

openssl req -new -newkey rsa:2048 -nodes -subj "/CN=Sluice Demo CA" -keyout ca-key.pem -out "$tmp/ca.csr"
openssl ca -batch -config "$tmp/ca.cnf" -selfsign -keyfile ca-key.pem -extensions ca_ext \
  -startdate "$start" -enddate "$end" -notext -in "$tmp/ca.csr" -out ca.pem

openssl req -new -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout leaf-key.pem -out "$tmp/leaf.csr"
openssl ca -batch -config "$tmp/ca.cnf" -cert ca.pem -keyfile ca-key.pem -extensions leaf_ext \
  -startdate "$start" -enddate "$end" -notext -in "$tmp/leaf.csr" -out leaf.pem

chmod 644 ca-key.pem leaf-key.pem
openssl verify -CAfile ca.pem leaf.pem
