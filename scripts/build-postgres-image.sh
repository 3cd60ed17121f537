#!/usr/bin/env bash
# Builds the Postgres image that the sim's docker provider starts by default
# (`matrix-fleet/postgres:15-local`), offline: no container registry is reachable here, so instead
# of pulling `postgres:15` this copies the host's PostgreSQL server binaries, the shared libraries
# they load (found with ldd), dash, zoneinfo and the C.UTF-8 locale into a root filesystem, and
# builds `sim/docker/postgres/Dockerfile` FROM scratch on top of it. The image honours the official
# image's environment contract (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, port 5432, the
# "database system is ready to accept connections" log line), see
# sim/docker/postgres/docker-entrypoint.sh.
#
# Usage: scripts/build-postgres-image.sh [IMAGE]
#   IMAGE       tag to build (default: $MATRIX_SIM_PG_IMAGE, else matrix-fleet/postgres:15-local)
#   PG_BINDIR   PostgreSQL server binaries (default: /usr/lib/postgresql/15/bin)
# Needs: a Docker engine (`docker info`), postgresql-15 (apt-get install -y postgresql-15), GNU tar.
# Takes a few seconds; rebuilding with the same host binaries gives an equivalent image.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
image=${1:-${MATRIX_SIM_PG_IMAGE:-matrix-fleet/postgres:15-local}}
bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
dockerdir="$repo/sim/docker/postgres"
# The uid/gid of `postgres` inside the image, as in the official image.
pg_uid=999

die() {
    printf 'build-postgres-image: %s\n' "$*" >&2
    exit 1
}
log() { printf 'build-postgres-image: %s\n' "$*"; }

started=$(date +%s%N)

command -v docker >/dev/null || die "the docker CLI is missing (apt-get install -y docker.io)"
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed); start dockerd"
for tool in postgres initdb pg_ctl psql pg_isready pg_config; do
    [ -x "$bindir/$tool" ] ||
        die "$bindir/$tool not found: apt-get install -y postgresql-15, or set PG_BINDIR"
done
command -v ldd >/dev/null || die "ldd is missing (apt-get install -y libc-bin)"
[ -x /bin/dash ] || die "/bin/dash is missing (apt-get install -y dash)"

sharedir=$("$bindir/pg_config" --sharedir)
pkglibdir=$("$bindir/pg_config" --pkglibdir)
version=$("$bindir/postgres" --version | sed -n 's/^postgres (PostgreSQL) \([0-9.]*\).*/\1/p')
major=${version%%.*}
[ -n "$major" ] || die "could not read the version of $bindir/postgres"
# Debian builds with --with-system-tzdata; the server then reads zoneinfo at run time.
tzdata=$("$bindir/pg_config" --configure | tr ' ' '\n' | sed -n "s/^'--with-system-tzdata=\(.*\)'$/\1/p")

ctx=$(mktemp -d "${TMPDIR:-/tmp}/matrix-pg-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
pgdirs="$ctx/pgdirs"

# Merged-/usr layout, as on bookworm, so the paths ldd prints resolve inside the image.
mkdir -p "$root"/usr/{bin,lib,lib64,sbin,local/bin} "$root"/{etc,tmp,run,proc,sys,dev,var}
ln -s usr/bin "$root/bin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
ln -s usr/sbin "$root/sbin"
ln -s ../run "$root/var/run"
chmod 1777 "$root/tmp"

# copy SRC: copies SRC (following symlinks) to the same path inside the root filesystem.
copy() {
    mkdir -p "$root$(dirname "$1")"
    cp -L --preserve=mode "$1" "$root$1"
}

elves=()
for tool in postgres initdb pg_ctl psql pg_isready; do
    copy "$bindir/$tool"
    elves+=("$bindir/$tool")
done
mkdir -p "$root$pkglibdir"
# Everything but the LLVM JIT (libLLVM alone is > 100 MB; without it the server just runs no JIT).
while IFS= read -r -d '' so; do
    copy "$so"
    elves+=("$so")
done < <(find "$pkglibdir" -maxdepth 1 -name '*.so' ! -name 'llvmjit*' -print0)
mkdir -p "$root$(dirname "$sharedir")"
cp -a "$sharedir" "$root$sharedir"
if [ -n "$tzdata" ]; then
    mkdir -p "$root$(dirname "$tzdata")"
    cp -a "$tzdata" "$root$tzdata"
    ln -s "$tzdata/Etc/UTC" "$root/etc/localtime"
fi
if [ -d /usr/lib/locale/C.utf8 ]; then
    mkdir -p "$root/usr/lib/locale"
    cp -a /usr/lib/locale/C.utf8 "$root/usr/lib/locale/"
fi
copy /usr/bin/dash
ln -s dash "$root/usr/bin/sh"
elves+=(/usr/bin/dash)
# initdb runs `locale -a` to import collations; without it, it warns "no usable system locales".
cat >"$root/usr/bin/locale" <<'EOF'
#!/bin/sh
# `locale -a` only, for initdb: the image has the C, POSIX and C.UTF-8 locales.
[ "${1:-}" = -a ] && printf 'C\nC.utf8\nPOSIX\n'
EOF
chmod 0755 "$root/usr/bin/locale"

# Shared libraries of every copied program and module, and the dynamic loader.
libs=$(ldd "${elves[@]}" 2>/dev/null |
    awk '/not found/ { print "MISSING " $1; next }
         $2 == "=>" && $3 ~ /^\// { print $3; next }
         $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u)
if grep -q '^MISSING' <<<"$libs"; then
    die "unresolved libraries: $(grep '^MISSING' <<<"$libs" | cut -d' ' -f2 | sort -u | tr '\n' ' ')"
fi
while IFS= read -r lib; do
    [ -e "$root$lib" ] || copy "$lib"
done <<<"$libs"

cat >"$root/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
postgres:x:$pg_uid:$pg_uid:PostgreSQL administrator:/var/lib/postgresql:/bin/sh
EOF
cat >"$root/etc/group" <<EOF
root:x:0:
postgres:x:$pg_uid:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"

# Directories the server writes, owned by postgres through the second archive.
mkdir -p "$pgdirs/var/lib/postgresql/data" "$pgdirs/run/postgresql"
chmod 0700 "$pgdirs/var/lib/postgresql/data"
chmod 3777 "$pgdirs/run/postgresql"

tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$ctx/rootfs.tar" .
tar --numeric-owner --owner="$pg_uid" --group="$pg_uid" -C "$pgdirs" -cf "$ctx/pgdirs.tar" \
    var/lib/postgresql run/postgresql
cp "$dockerdir/Dockerfile" "$dockerdir/docker-entrypoint.sh" "$ctx/"
chmod 0755 "$ctx/docker-entrypoint.sh"
rm -rf "$root" "$pgdirs"

log "building $image from PostgreSQL $version ($bindir), context $(du -sh "$ctx" | cut -f1)"
previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
docker build --quiet --tag "$image" \
    --build-arg "PG_MAJOR=$major" --build-arg "PG_VERSION=$version" "$ctx" >/dev/null

# A rebuild moves the tag; drop the image it left untagged (unless a container still uses it).
current=$(docker image inspect --format '{{.Id}}' "$image")
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
fi

# Smoke test: the binaries load inside the image.
got=$(docker run --rm --entrypoint postgres "$image" --version) ||
    die "the image was built but postgres does not run inside it"
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
log "built $image: $got, $(docker image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }'), in ${elapsed_ms} ms"
