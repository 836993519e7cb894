# script-args.sh — sourced by the repository's shell scripts (cross/*.sh, systemd/install*.sh) after
# they set SCRIPT, the name their messages start with: what they do with an argument none of their
# options takes, and how they stop on an error. It lives in systemd/ because install.sh runs from an
# unpacked bundle, which carries systemd/ and not cross/.

# The script's header comment: line 2 up to the first line that is not a comment.
usage() { sed -n '2,/^[^#]/{/^#/p}' "$0"; }

# other_arg ARG: -h/--help prints the usage and exits 0; anything else is refused (exit 2).
other_arg() {
  case "$1" in
    -h|--help) usage; exit 0 ;;
    *) echo "$SCRIPT: unknown argument '$1'" >&2; exit 2 ;;
  esac
}

die() { echo "$SCRIPT: $*" >&2; exit 1; }
