#!/bin/sh
# Installs the reference implementation for tests/differential.rs: Apache Velocity 1.7 from
# Debian (with commons-collections3 and commons-lang) and a JDK to run Runner.java.
set -eu
if [ -f /usr/share/java/velocity.jar ] && command -v java >/dev/null 2>&1; then
    exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends velocity openjdk-17-jdk-headless
