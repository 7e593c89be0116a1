#!/usr/bin/env bash
# Run on a Debian 12 machine with apt (the development machines): downloads into .deps/ (ignored
# by git) the packages that a GPU machine without a package registry may lack: HDF5 (and the
# libraries libhdf5 loads) and OpenBLAS. bench/gpu-check.sh unpacks and uses them when the system
# has none. Carry .deps to the GPU machine with the working tree (about 20 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .deps
cd .deps
apt-get download \
  libhdf5-dev libhdf5-103-1 libhdf5-hl-100 libsz2 libaec0 \
  libcurl4 libnghttp2-14 librtmp1 libssh2-1 libpsl5 libgssapi-krb5-2 libldap-2.5-0 libbrotli1 libzstd1 \
  libidn2-0 libunistring2 libgnutls30 libhogweed6 libnettle8 libgmp10 libkrb5-3 libk5crypto3 \
  libkrb5support0 libsasl2-2 libcom-err2 libp11-kit0 libtasn1-6 libffi8 libkeyutils1 libssl3 \
  libopenblas0-pthread libgfortran5 libquadmath0
ls -la
