#!/bin/sh
# get-makemap.sh: fetch sendmail 8's makemap without installing sendmail.
#
# sendmail-bin conflicts with postfix as the installed MTA, so the compat
# tests (maps/tests/compat.rs) use a copy unpacked into a scratch directory.
# Downloads sendmail-bin and sendmail-base with `apt-get download` into DIR,
# unpacks them there with `dpkg -x` and prints the path of makemap:
#
#   export SMX_MAKEMAP=$(sh maps/tests/get-makemap.sh DIR)
#
# makemap is linked against libdb5.3 (and libldap, libsasl2, libgnutls);
# when one of them is missing the script says which and fails.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 64
fi
dir=$1
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# apt-get download writes into the current directory.
(cd "$dir" && apt-get download sendmail-bin sendmail-base >&2)
for deb in "$dir"/sendmail-bin_*.deb "$dir"/sendmail-base_*.deb; do
    dpkg -x "$deb" "$dir/root"
done

makemap=
for candidate in "$dir/root/usr/libexec/sendmail/makemap" "$dir/root/usr/sbin/makemap"; do
    if [ -x "$candidate" ] && [ ! -L "$candidate" ]; then
        makemap=$candidate
        break
    fi
done
if [ -z "$makemap" ]; then
    makemap=$(find "$dir/root" -type f -name makemap -perm -u+x | head -n 1)
fi
if [ -z "$makemap" ]; then
    echo "$0: no makemap in sendmail-bin" >&2
    exit 69
fi

missing=$(ldd "$makemap" 2>/dev/null | grep 'not found' || true)
if [ -n "$missing" ]; then
    echo "$0: $makemap needs libraries that are not installed:" >&2
    echo "$missing" >&2
    exit 69
fi

echo "$makemap"
