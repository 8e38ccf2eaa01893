#!/bin/bash
# Give the stock MindIE install tree to the runtime user, with the modes MindIE's install sets.
#
#   prepare-tree.sh UID GID USER_HOME ASCEND_HOME MIES_INSTALL_PATH
#
# Run by images/mindie/Dockerfile as root (tests run it on a stand-in tree as any user, with
# that user's own UID/GID). It replaces the seed's `RUN chown -R ${USER}:${USER_GROUP}
# ${MIES_INSTALL_PATH}` and states the modes of Ascend-MindIE-Motor@28a7e9f:build/service/
# install.sh (chmod_authority) again, so the image does not depend on how the stock image was
# installed: directories 750; bin 550 with its programs 550 and gen_cert/seceasy_encrypt 500;
# scripts 550 with its files 500; lib 550 with *.so* 440; conf *.json 640; security 700
# (its files 600).
# chown keeps the modes the stock image had everywhere else (the Ascend toolkit, nnal, atb).
set -euo pipefail

if [ "$#" -ne 5 ]; then
    echo "usage: $0 UID GID USER_HOME ASCEND_HOME MIES_INSTALL_PATH" >&2
    exit 2
fi
uid=$1 gid=$2 home=$3 ascend=$4 mies=$5

for id in "$uid" "$gid"; do
    if ! [[ "$id" =~ ^[1-9][0-9]{0,9}$ ]]; then
        echo "prepare-tree.sh: UID/GID must be a positive integer (0 is root), got '$id'" >&2
        exit 2
    fi
done
for dir in "$home" "$ascend" "$mies"; do
    if ! [[ "$dir" =~ ^/[A-Za-z0-9._/-]+$ ]] || [[ "$dir" == *..* ]]; then
        echo "prepare-tree.sh: '$dir' must be an absolute path (letters, digits, '._-/', no '..')" >&2
        exit 2
    fi
    if [ ! -d "$dir" ]; then
        echo "prepare-tree.sh: '$dir' is not a directory in the base image" >&2
        exit 2
    fi
done
case "$mies/" in
    "${ascend%/}"/*) ;;
    *) echo "prepare-tree.sh: MIES_INSTALL_PATH '$mies' is not inside ASCEND_HOME '$ascend'" >&2; exit 2 ;;
esac

# The seed: the user owns its home and the whole install tree (its image installs MindIE under
# /home/{user}/Ascend as that user). -R does not follow symbolic links (mindie/latest).
chown -R "$uid:$gid" -- "$ascend" "$home"
chmod 750 -- "$home"

# install.sh's modes for the mindie-service tree. -H: MIES_INSTALL_PATH may pass through the
# `latest` link; the walk itself never follows links.
find -H "$mies" -type d -exec chmod 750 {} +
for sub in bin scripts lib; do
    if [ -d "$mies/$sub" ]; then chmod 550 -- "$mies/$sub"; fi
done
if [ -d "$mies/bin" ]; then
    find -H "$mies/bin" -type f -exec chmod 550 {} +
    for tool in gen_cert seceasy_encrypt; do
        if [ -f "$mies/bin/$tool" ]; then chmod 500 -- "$mies/bin/$tool"; fi
    done
fi
if [ -d "$mies/scripts" ]; then
    find -H "$mies/scripts" -mindepth 1 -type d -exec chmod 550 {} +
    find -H "$mies/scripts" -type f -exec chmod 500 {} +
fi
if [ -d "$mies/lib" ]; then
    find -H "$mies/lib" -type f -name '*.so*' -exec chmod 440 {} +
fi
if [ -d "$mies/conf" ]; then
    find -H "$mies/conf" -type f -name '*.json' -exec chmod 640 {} +
fi
if [ -d "$mies/security" ]; then
    # install.sh: chmod -R 700; files 600 here, as MindIE's certificate checks want (<= 0600).
    find -H "$mies/security" -type d -exec chmod 700 {} +
    find -H "$mies/security" -type f -exec chmod 600 {} +
fi
