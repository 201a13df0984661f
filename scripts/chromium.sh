# Sourced by scripts/test: the console's browser tests drive Debian's Chromium through its
# chromedriver. Install both with apt-get when either is missing (CI runs as root on a
# fresh machine; elsewhere sudo is used).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "installing chromium and chromium-driver for the browser tests (apt-get)" >&2
  apt_get=(apt-get)
  if [ "$(id -u)" -ne 0 ]; then apt_get=(sudo apt-get); fi
  "${apt_get[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq \
    chromium chromium-driver >/dev/null
fi
