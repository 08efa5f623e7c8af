#!/bin/sh
# get-sendmail-cf.sh: fetch the sendmail-cf package (the m4 tree and every
# shipped .mc file) without installing sendmail, for smx-migrate's tests:
#
#   export SMX_SENDMAIL_CF=$(sh smx-migrate/tests/get-sendmail-cf.sh DIR)
#
# Prints the directory holding cf/, ostype/, domain/, feature/ and debian/.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 64
fi
dir=$1
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
(cd "$dir" && apt-get download sendmail-cf >&2)
for deb in "$dir"/sendmail-cf_*.deb; do
    dpkg -x "$deb" "$dir/root"
done
tree="$dir/root/usr/share/sendmail/cf"
if [ ! -d "$tree/ostype" ]; then
    echo "$0: no cf tree in sendmail-cf" >&2
    exit 69
fi
echo "$tree"
