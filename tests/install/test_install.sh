#!/usr/bin/env bash
# test_install.sh - what `meson install` puts on a user's machine works the
# way docs/api.md says: the headers and shmbus.pc let the example program
# build against the shared library and, with --static, the static one; the
# shared library exports exactly the functions the public headers declare;
# every global symbol of the static library carries the sb prefix (sb_,
# sbi_, sbp_), so linking it cannot clash with a user's own names; and a
# -flto link against the static library inlines the data-path calls.
set -euo pipefail

BUILD="${1:?usage: test_install.sh BUILD_DIR SOURCE_DIR CC [SANITIZE]}"
SRC="${2:?}"
CC="${3:?}"
SAN="${4:-none}"

T="$(mktemp -d /tmp/sbinstall.XXXXXX)"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

san_flags=()
if [[ "$SAN" != "none" && -n "$SAN" ]]; then
    san_flags=("-fsanitize=$SAN")
fi

meson install -C "$BUILD" --no-rebuild --quiet --destdir "$T" >/dev/null \
    || fail "meson install --destdir failed"
pc="$(find "$T" -name shmbus.pc | head -n 1)"
[[ -n "$pc" ]] || fail "no shmbus.pc installed"
hdr="$(find "$T" -path '*/include/shmbus/shmbus.h' | head -n 1)"
[[ -n "$hdr" ]] || fail "no include/shmbus/shmbus.h installed"
so="$(find "$T" -name 'libshmbus.so.0' | head -n 1)"
ar="$(find "$T" -name 'libshmbus.a' | head -n 1)"
[[ -n "$so" && -n "$ar" ]] || fail "shared or static library not installed (so='$so' a='$ar')"

# The install lives under a DESTDIR: pkg-config's sysroot maps the .pc
# file's absolute paths into it (libnuma's resolve to the system's).
export PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" PKG_CONFIG_SYSROOT_DIR="$T"
pc_cmd=(pkg-config)
read -r -a cflags <<<"$("${pc_cmd[@]}" --cflags shmbus)"
read -r -a libs <<<"$("${pc_cmd[@]}" --libs shmbus)"
read -r -a slibs <<<"$("${pc_cmd[@]}" --static --libs shmbus)"
[[ " ${cflags[*]} " == *" -I$T"* ]] || fail "pkg-config --cflags does not point into the install: ${cflags[*]}"

# Shared: links, and needs libshmbus.so.0 at run time.
"$CC" -std=c11 -Wall -Wextra -Werror "${san_flags[@]}" "${cflags[@]}" "$SRC/lib/examples/hello.c" \
    "${libs[@]}" -o "$T/hello-shared" || fail "example does not build against the shared library"
readelf -d "$T/hello-shared" | grep -q 'NEEDED.*libshmbus\.so\.0' || fail "shared build does not need libshmbus.so.0"

# Static: the archive and pkg-config --static's private libraries suffice.
rest=()
for l in "${slibs[@]}"; do [[ "$l" == "-lshmbus" ]] || rest+=("$l"); done
"$CC" -std=c11 -Wall -Wextra -Werror "${san_flags[@]}" "${cflags[@]}" "$SRC/lib/examples/hello.c" \
    "$ar" "${rest[@]}" -o "$T/hello-static" || fail "example does not build against the static library"
if readelf -d "$T/hello-static" | grep -q 'NEEDED.*libshmbus'; then
    fail "static build still needs libshmbus.so"
fi

# Static with -flto (GCC builds without sanitizers, lib/meson.build): the
# archive carries LTO bytecode, and a whole-program link inlines the
# example's data-path calls, so the program calls none of them.
if [[ "$SAN" == "none" || -z "$SAN" ]] && "$CC" --version 2>/dev/null | head -n 1 | grep -qi 'gcc'; then
    objdump -h "$ar" | grep -q '\.gnu\.lto_' || fail "libshmbus.a carries no LTO bytecode"
    "$CC" -std=c11 -Wall -Wextra -Werror -O2 -flto=auto "${cflags[@]}" "$SRC/lib/examples/hello.c" \
        "$ar" "${rest[@]}" -o "$T/hello-lto" || fail "example does not build with -flto against the static library"
    calls="$(objdump -d "$T/hello-lto" | grep -oE 'call +[0-9a-f]+ <sb_(pub_send|pub_claim|pub_commit|sub_read|sub_poll|sub_release)>' || true)"
    [[ -z "$calls" ]] || fail "with -flto the example still calls: $(echo "$calls" | sort -u | tr '\n' ' ')"
fi

# The shared library's exports are exactly the public headers' functions.
exported="$(nm -D --defined-only "$so" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort -u)"
declared="$(cat "$(dirname "$hdr")"/*.h | grep -oE '\bsb_[a-z0-9_]+\(' | tr -d '(' | sort -u)"
extra="$(comm -23 <(echo "$exported") <(echo "$declared"))"
missing="$(comm -13 <(echo "$exported") <(echo "$declared"))"
[[ -z "$extra" ]] || fail "libshmbus.so exports functions the header does not declare: $(echo $extra)"
[[ -z "$missing" ]] || fail "the header declares functions libshmbus.so does not export: $(echo $missing)"
[[ "$(echo "$exported" | wc -l)" -ge 20 ]] || fail "suspiciously few exports: $(echo $exported)"

# The static archive: every defined global symbol has the sb prefix.
bad="$(nm -g --defined-only "$ar" | awk 'NF == 3 {print $3}' | grep -v '^sb' || true)"
[[ -z "$bad" ]] || fail "libshmbus.a defines globals without the sb prefix: $(echo $bad)"

echo "ok: installed headers, shmbus.pc, shared ($(echo "$exported" | wc -l) exports) and static library"
