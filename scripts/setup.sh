# Shared by scripts/test and scripts/bench (sourced, not run): installing Debian packages that
# are missing, and a throw-away SoftHSM2 token.

log() { printf '\n==> %s\n' "$*"; }

# install_packages PKG…: apt-get installs those not installed yet (as root, or with sudo).
install_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    local sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# softhsm_token: a private SoftHSM2 token for the PKCS#11 keystore, made new on every run;
# exports SOFTHSM2_CONF and HPKI_TEST_PKCS11_*, and sets hsm_dir (the caller removes it).
softhsm_token() {
  hsm_dir=$(mktemp -d)
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$hsm_dir" > "$hsm_dir/softhsm2.conf"
  export SOFTHSM2_CONF="$hsm_dir/softhsm2.conf"
  export HPKI_TEST_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so
  export HPKI_TEST_PKCS11_TOKEN=hpki-test
  export HPKI_TEST_PKCS11_PIN=87654321
  softhsm2-util --init-token --free --label "$HPKI_TEST_PKCS11_TOKEN" --so-pin 12345678 --pin "$HPKI_TEST_PKCS11_PIN" >/dev/null
}
