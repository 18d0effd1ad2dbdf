#!/bin/sh
# Installs Diffusion Studio from this unpacked archive and adds a desktop
# launcher (application menu entry with its icon), so it starts with a click.
#
#   ./install.sh                 for you: ~/.local/opt/diffusion-studio,
#                                menu entry and icons in ~/.local/share,
#                                command ~/.local/bin/diffusion-studio
#   sudo ./install.sh --system   for everyone: /opt, /usr/share, /usr/local/bin
#   ./install.sh --prefix DIR    the app goes to DIR instead
#   ./install.sh --uninstall     removes what the same options installed
#
# Nothing else is touched: your images, models and settings stay in
# ~/.local/share/DiffusionStudio (delete that folder to remove them too).
set -eu

APP_NAME="Diffusion Studio"
ID="diffusion-studio"
here=$(cd "$(dirname "$0")" && pwd)

mode=user prefix="" action=install
while [ $# -gt 0 ]; do
  case "$1" in
    --system) mode=system ;;
    --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a folder" >&2; exit 2; }
              prefix=$2; shift ;;
    --uninstall) action=uninstall ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$mode" = system ]; then
  share=/usr/share
  bin=/usr/local/bin
  [ -n "$prefix" ] || prefix=/opt/$ID
else
  share=${XDG_DATA_HOME:-$HOME/.local/share}
  bin=$HOME/.local/bin
  [ -n "$prefix" ] || prefix=$HOME/.local/opt/$ID
fi
case "$prefix" in /*) ;; *) prefix=$(pwd)/$prefix ;; esac
applications=$share/applications
icons=$share/icons/hicolor
desktop_file=$applications/$ID.desktop
exe=$prefix/$APP_NAME/$APP_NAME
SIZES="16 32 48 64 128 256 512"

refresh_caches() {
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$applications" 2>/dev/null || true
  fi
  if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$icons/index.theme" ]; then
    gtk-update-icon-cache -q -t -f "$icons" 2>/dev/null || true
  fi
}

if [ "$action" = uninstall ]; then
  rm -f "$desktop_file"
  for size in $SIZES; do rm -f "$icons/${size}x${size}/apps/$ID.png"; done
  if [ -L "$bin/$ID" ]; then rm -f "$bin/$ID"; fi
  # Only a folder this script made: it holds our app and nothing else.
  if [ -x "$exe" ]; then
    rm -rf "$prefix/$APP_NAME" "$prefix/install.sh" "$prefix/$ID.desktop.in"
    rmdir "$prefix" 2>/dev/null || true
  fi
  refresh_caches
  echo "Diffusion Studio was removed. Your images, models and settings are still in"
  echo "${XDG_DATA_HOME:-$HOME/.local/share}/DiffusionStudio."
  exit 0
fi

source_app=$here/$APP_NAME
if [ ! -x "$source_app/$APP_NAME" ]; then
  echo "install.sh: '$source_app/$APP_NAME' is missing: run this script from the unpacked archive." >&2
  exit 1
fi

# Copy next to the old version, then swap, so a failed copy leaves it working.
mkdir -p "$prefix"
rm -rf "$prefix/.$ID.new"
cp -R "$source_app" "$prefix/.$ID.new"
rm -rf "$prefix/$APP_NAME"
mv "$prefix/.$ID.new" "$prefix/$APP_NAME"
if [ "$here" != "$(cd "$prefix" && pwd)" ]; then  # kept for --uninstall and reinstalls
  cp "$here/install.sh" "$prefix/install.sh"
  cp "$here/$ID.desktop.in" "$prefix/$ID.desktop.in"
  chmod 755 "$prefix/install.sh"
fi

for size in $SIZES; do
  icon=$prefix/$APP_NAME/_internal/studio/resources/icons/$ID-$size.png
  if [ -f "$icon" ]; then
    mkdir -p "$icons/${size}x${size}/apps"
    cp "$icon" "$icons/${size}x${size}/apps/$ID.png"
  fi
done

# The Exec key quotes its argument (the path has spaces): inside the quotes
# \ " ` $ take a backslash, % is doubled, then every backslash is doubled
# again because the value is a desktop-entry string.
escape_exec() {
  printf '%s' "$1" | sed -e 's/[\\"`$]/\\&/g' -e 's/%/%%/g' -e 's/\\/\\\\/g'
}
escape_string() {
  printf '%s' "$1" | sed -e 's/\\/\\\\/g'
}
exec_value="\"$(escape_exec "$exe")\""
tryexec_value=$(escape_string "$exe")

mkdir -p "$applications"
tmp=$desktop_file.tmp
: >"$tmp"
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    Exec=@EXEC@) printf 'Exec=%s\n' "$exec_value" >>"$tmp" ;;
    TryExec=@TRYEXEC@) printf 'TryExec=%s\n' "$tryexec_value" >>"$tmp" ;;
    *) printf '%s\n' "$line" >>"$tmp" ;;
  esac
done <"$here/$ID.desktop.in"
chmod 644 "$tmp"
mv "$tmp" "$desktop_file"

mkdir -p "$bin"
ln -sfn "$exe" "$bin/$ID"
refresh_caches

echo "Installed Diffusion Studio $([ "$mode" = system ] && echo "for everyone" || echo "for you"):"
echo "  app:            $prefix/$APP_NAME"
echo "  menu entry:     $desktop_file"
echo "  command:        $bin/$ID"
echo "  uninstall with: $prefix/install.sh --uninstall$([ "$mode" = system ] && echo " --system")"

# Qt needs a few X11 libraries that not every system has (on Wayland the
# wayland plugin is used and these do not matter). Which package holds each is
# declared once, in the app's studio/resources/linux/x11-libraries.txt (the app reads
# it too, and names what is missing when it starts).
xcb=$prefix/$APP_NAME/_internal/PySide6/Qt/plugins/platforms/libqxcb.so
declared=$prefix/$APP_NAME/_internal/studio/resources/linux/x11-libraries.txt
if command -v ldd >/dev/null 2>&1 && [ -f "$xcb" ]; then
  missing=$(ldd "$xcb" 2>/dev/null | awk '/not found/ {print $1}' | sort -u)
  if [ -n "$missing" ]; then
    echo
    echo "Note: on X11 the window needs these system libraries, which are missing:"
    echo "  $(echo $missing)"
    if [ -f "$declared" ]; then
      # Column 2: the Debian/Ubuntu package, column 3: the Fedora one.
      packages() {
        echo "$missing" | awk -v column="$1" 'NR == FNR { want[$1] = 1; next }
          !/^#/ && ($1 in want) && !seen[$column]++ { printf "%s ", $column }' - "$declared"
      }
      apt=$(packages 2) dnf=$(packages 3)
      if [ -n "$apt" ]; then
        echo "  Debian/Ubuntu: sudo apt install $apt"
        echo "  Fedora:        sudo dnf install $dnf"
      fi
    fi
  fi
fi
