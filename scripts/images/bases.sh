#!/usr/bin/env bash
# The base images podman builds from on a machine that reaches no image registry, made here
# once and kept in podman's store (delete them to remake: podman rmi <name>):
# - $DEBIAN_BASE_IMAGE, a stand-in for debian:bookworm-slim: debootstrap's minbase from the
#   Debian mirror apt already uses, with bookworm's updates and security suites, and without the
#   documentation and locales, as the official slim image;
# - $RUST_BASE_IMAGE (only to compile in the build, BINARIES=source): rust.Containerfile on it,
#   trusting also the CAs this machine adds to Debian's (/usr/local/share/ca-certificates: on
#   these machines the sandbox's egress CA, which HTTPS to crates.io and rustup's server passes
#   through). Only the build stages have them: the runtime images are made from the Debian base.
# Usage: bases.sh source|prebuilt
source "$(dirname "$0")/../lib.sh"
use_podman

if ! podman image exists "$DEBIAN_BASE_IMAGE"; then
  mirror="$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p; s/^deb \(http[^ ]*debian\) bookworm .*/\1/p' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
  security="$(sed -n 's/^URIs: *\(http[^ ]*\)$/\1/p; s/^deb \(http[^ ]*\) bookworm-security .*/\1/p' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -- '-security' | head -1 || true)"
  security="${security:-http://deb.debian.org/debian-security}"
  rootfs="$LOCAL/images/debian-rootfs"
  say "making $DEBIAN_BASE_IMAGE with debootstrap from $mirror (about a minute, once)"
  as_root rm -rf "$rootfs" && mkdir -p "$(dirname "$rootfs")"
  as_root debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$LOCAL/images/debootstrap.log"
  as_root rm -f "$rootfs/etc/apt/sources.list"
  as_root tee "$rootfs/etc/apt/sources.list.d/debian.sources" >/dev/null <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  # What the official slim image leaves out, now and for every package installed later.
  as_root tee "$rootfs/etc/dpkg/dpkg.cfg.d/slim" >/dev/null <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
SLIM
  as_root find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  as_root rm -rf "$rootfs"/usr/share/{man,info,locale}/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
  as_root tar -C "$rootfs" -c . | podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["bash"]' - "$DEBIAN_BASE_IMAGE" >/dev/null
  as_root rm -rf "$rootfs"
fi

if [ "${1:-source}" = source ] && ! podman image exists "$RUST_BASE_IMAGE"; then
  rust_version="$(rustc --version | awk '{ print $2 }')"
  context="$LOCAL/images/rust"
  say "making $RUST_BASE_IMAGE (rustup's minimal toolchain $rust_version, a few minutes, once)"
  rm -rf "$context" && mkdir -p "$context"
  cp "$(command -v rustup)" "$context/rustup-init"
  mkdir -p "$context/extra-ca"
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$context/extra-ca/"
  fi
  podman build --network host --build-arg DEBIAN_IMAGE="$DEBIAN_BASE_IMAGE" --build-arg RUST_VERSION="$rust_version" \
    -f "$ROOT/scripts/images/rust.Containerfile" -t "$RUST_BASE_IMAGE" "$context"
  rm -rf "$context"
fi
